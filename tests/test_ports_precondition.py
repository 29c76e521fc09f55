"""Ports sane before anything stops: a new container that publishes a port on this machine whose port is taken is
refused with nothing changed, instead of Docker refusing to start it halfway through."""

from __future__ import annotations

import io
import socket

import pytest

from provisioner.app import changes
from provisioner.cli.console import Console
from provisioner.cli.views import HumanView
from provisioner.engine.fake import FakeEngine
from provisioner.errors import UserError

IMAGE = "pinggy/pinggy:latest"


def test_a_taken_debugger_port_refuses_the_apply_before_anything_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNNELCTL_LOCK_DIR", str(tmp_path / "locks"))
    engine = FakeEngine(images={IMAGE: "sha256:" + "1" * 64}, registry=[IMAGE], is_local=True)
    engine.networks.add("tunnels")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (tmp_path / "tunnels.yaml").write_text(
            "version: 1\nproject: demo\ntunnels:\n"
            f"  - {{name: web, port: 8080, network: tunnels, host: web, debugger_port: {port}, "
            "allow_cidrs: [127.0.0.0/8]}\n")
        view = HumanView(Console(io.StringIO(), io.StringIO()))
        with pytest.raises(UserError) as refused:
            changes.apply(changes.ApplyOptions(changes.Scope(tmp_path / "tunnels.yaml"),
                                               changes.ExecuteOptions(auto_approve=True, wait_timeout=None)),
                          view, lambda configs, selected: dict.fromkeys(configs, engine))
    assert refused.value.message == (f"port 127.0.0.1:{port}, which tunnel 'web' publishes (debugger_port), is taken "
                                     "on this machine: stop what listens there or choose another debugger_port; "
                                     "nothing was changed")
    assert engine.containers == {} and [call for call, _ in engine.calls if call != "pull"] == []
