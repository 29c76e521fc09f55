"""`status` against the in-memory engine: what it says of a healthy, exited, refused, missing and unmanaged tunnel.
(test_tunnels_e2e.py says the same of real tunnels.)"""

from __future__ import annotations

import socket

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.engine.fake import FakeEngine
from provisioner.observe.status import gather

BANNER = "You can access local server via following URL(s):"
URLS = ("http://a-p4000.a.pinggy.link", "https://a-p4000.a.pinggy.link")


@pytest.fixture
def loaded(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        (tmp_path / "tunnels.yaml").write_text(manifest_text("""
            version: 1
            project: p
            defaults: {image: "img:1", allow_cidrs: [127.0.0.0/8]}
            tunnels:
              - {name: a, port: $port, token: tok0123456789}
              - {name: b, port: 1}
        """, port=port))
        yield manifest.load(tmp_path / "tunnels.yaml", {})


def engine_for(loaded) -> tuple[FakeEngine, dict]:
    engine = FakeEngine(images={"img:1": "sha256:1"})
    return engine, {spec.tunnel: spec for spec in desired_specs(loaded)}


def by_tunnel(engine: FakeEngine, loaded) -> dict:
    return {item.tunnel: item for item in gather(engine, "p", loaded.tunnels)}


def test_a_running_tunnel_with_urls_is_healthy_and_its_local_server_listening(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).print(BANNER, *URLS)
    a = by_tunnel(engine, loaded)["a"]
    assert (a.state, a.urls, a.healthy, a.listening, a.problem) == ("running", URLS, True, True, "")
    assert a.container == "p-a" and a.uptime_seconds is not None and a.restarts == 0


def test_a_tunnel_without_a_container_is_missing_and_not_healthy(loaded):
    engine, _ = engine_for(loaded)
    b = by_tunnel(engine, loaded)["b"]
    assert (b.state, b.container, b.healthy, b.listening) == ("missing", None, False, False)


def test_an_exited_client_shows_its_exit_code_and_last_words(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).exit(255, "ssh: connect to host pro.pinggy.io port 443: Connection refused")
    a = by_tunnel(engine, loaded)["a"]
    assert (a.state, a.exit_code, a.urls, a.healthy) == ("exited", 255, (), False)
    assert a.problem == "ssh: connect to host pro.pinggy.io port 443: Connection refused"


def test_a_refused_login_that_the_client_retries_says_so(loaded):
    engine, specs = engine_for(loaded)
    refusal = "Login is not allowed: A tunnel with the same token tok0123456789 is already active."
    engine.run(specs["a"]).print(f"\u26a0 Warning: {refusal}", "Reconnecting in 5 seconds")
    a = by_tunnel(engine, loaded)["a"]
    assert a.state == "running" and not a.healthy
    assert a.problem.startswith("Login is not allowed: A tunnel with the same token")
    assert "tok0123456789" in a.command_secrets  # so that the view masks the token even when it is not set here


def test_a_container_of_the_project_that_left_the_manifest_is_listed_as_such(loaded):
    engine, specs = engine_for(loaded)
    leftover = engine.run(specs["a"])
    leftover.labels["io.tunnelctl.tunnel"] = "old"
    old = by_tunnel(engine, loaded)["old"]
    assert (old.in_manifest, old.healthy, old.local_port) == (False, False, specs["a"].local_port)


def test_containers_of_other_projects_and_unmanaged_ones_are_not_shown(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).labels["io.tunnelctl.project"] = "someone-else"
    engine.run(specs["b"]).labels.clear()
    assert {item.tunnel: item.state for item in gather(engine, "p", loaded.tunnels)} == {"a": "missing",
                                                                                        "b": "missing"}
