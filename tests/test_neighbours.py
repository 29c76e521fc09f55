"""Another user on the machine: saved plans and lock files cannot be redirected, planted or made to hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from conftest import run_tunnelctl
from provisioner import files
from provisioner.errors import UserError
from provisioner.run import locking


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_saved_plan_replaces_a_regular_file_and_refuses_a_symlink_or_a_device(docker_api, project, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    victim.chmod(0o644)
    (tmp_path / "tunnels.yaml").write_text(f"version: 1\nproject: {project}\ntunnels: []\n")
    (tmp_path / "changes.plan").symlink_to(victim)
    (tmp_path / "stdout.plan").symlink_to("/dev/stdout")
    (tmp_path / "old.plan").write_text("{}")
    (tmp_path / "old.plan").chmod(0o644)

    saved = run_tunnelctl("plan", "--out", "old.plan", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    assert stat.S_ISREG(os.lstat(tmp_path / "old.plan").st_mode) and mode(tmp_path / "old.plan") == 0o600
    assert '"format": "tunnelctl-plan"' in (tmp_path / "old.plan").read_text()
    for name, kind in (("changes.plan", "a symbolic link"), ("stdout.plan", "a symbolic link"),
                       ("/dev/null", "a device")):
        refused = run_tunnelctl("plan", "--out", name, cwd=tmp_path)
        assert refused.returncode == 1 and f"it is {kind}, and tunnelctl writes only regular files" in refused.stderr
    assert os.path.islink(tmp_path / "changes.plan") and stat.S_ISCHR(os.lstat("/dev/null").st_mode)
    assert victim.read_text() == "precious" and mode(victim) == 0o644
    assert not [left for left in tmp_path.iterdir() if left.name.endswith(".tmp")]


def test_schema_write_refuses_a_committed_symlink(tmp_path):
    victim = tmp_path / "bashrc"
    victim.write_text("precious")
    (tmp_path / "tunnels.schema.json").symlink_to(victim)
    refused = run_tunnelctl("schema", "--write", cwd=tmp_path)
    assert refused.returncode == 1 and "it is a symbolic link" in refused.stderr
    assert victim.read_text() == "precious"
    (tmp_path / "tunnels.schema.json").unlink()
    assert run_tunnelctl("schema", "--write", cwd=tmp_path).returncode == 0
    assert mode(tmp_path / "tunnels.schema.json") == 0o644


def test_a_private_write_into_a_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot write it: No such file or directory"):
        files.write_private(tmp_path / "missing" / "plan", "x")


@pytest.fixture
def lock_dir(tmp_path, monkeypatch):
    folder = tmp_path / "locks"
    monkeypatch.setenv("TUNNELCTL_LOCK_DIR", str(folder))
    return folder


def take_lock() -> None:
    with locking.project_lock("unix:///var/run/docker.sock", "p"):
        pass


def test_a_lock_folder_tunnelctl_makes_is_shared_like_tmp(lock_dir):
    take_lock()
    assert mode(lock_dir) == 0o1777 and mode(locking.lock_path("unix:///var/run/docker.sock", "p")) == 0o666


def test_a_lock_folder_planted_as_a_symlink_is_refused_and_its_target_left_alone(lock_dir, tmp_path):
    own_folder = tmp_path / "dot-ssh"
    own_folder.mkdir(mode=0o700)
    lock_dir.symlink_to(own_folder)
    with pytest.raises(UserError, match=r"refusing the lock folder .*: it is a symbolic link"):
        take_lock()
    assert mode(own_folder) == 0o700 and list(own_folder.iterdir()) == []


def test_a_lock_folder_of_another_user_is_refused(lock_dir):
    lock_dir.mkdir(mode=0o755)
    os.chown(lock_dir, 4242, 4242)
    with pytest.raises(UserError, match=r"belongs to another user \(uid 4242\)"):
        take_lock()
    assert mode(lock_dir) == 0o755


def test_a_folder_everyone_may_write_without_the_sticky_bit_is_refused(lock_dir):
    lock_dir.mkdir()
    lock_dir.chmod(0o777)
    with pytest.raises(UserError, match="writable by others without the sticky bit"):
        take_lock()
    assert mode(lock_dir) == 0o777  # tunnelctl never chmods a folder it did not make


@pytest.mark.parametrize("plant, message", [
    (lambda path: os.mkfifo(path), "is not a regular file"),
    (lambda path: path.symlink_to("/etc/passwd"), "it is a symbolic link"),
    (lambda path: path.mkdir(), "cannot open the lock file"),
    (lambda path: os.link(path.parent.parent / "victim", path), "has 2 links"),
])
def test_something_else_at_the_lock_path_is_one_clear_error(lock_dir, plant, message):
    take_lock()  # makes the folder
    path = locking.lock_path("unix:///var/run/docker.sock", "p")
    path.unlink()
    victim = path.parent.parent / "victim"
    victim.write_text("precious")
    plant(path)
    with pytest.raises(UserError, match=message):
        take_lock()
    assert victim.read_text() == "precious"


def test_a_huge_planted_lock_file_is_read_only_in_part(lock_dir):
    take_lock()
    path = locking.lock_path("unix:///var/run/docker.sock", "p")
    with path.open("wb") as planted:
        planted.truncate(1 << 40)  # sparse: a terabyte the reader must not try to hold
    take_lock()


NEIGHBOUR = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
FAKE_DEBUGGER = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"urls": ["http://127.0.0.1:2465/stolen"]}'
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="playing another user takes root")
@pytest.mark.parametrize("as_neighbour", [True, False])
def test_a_debugger_port_another_user_bound_first_is_not_believed(as_neighbour):
    import subprocess
    import sys

    from provisioner.observe import probe

    server = subprocess.Popen([*(NEIGHBOUR if as_neighbour else ()), sys.executable, "-c", FAKE_DEBUGGER],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        urls = probe.debugger_urls(port)
    finally:
        server.kill()
        server.wait()
    assert urls == (() if as_neighbour else ("http://127.0.0.1:2465/stolen",))
