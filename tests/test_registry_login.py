"""The user's registry login goes only to the machine's own engines: a pull request that declares an engine of its
own (`docker: unix:///tmp/evil.sock`) must not collect it from `plan --pull` or `doctor`."""

from __future__ import annotations

import base64
import contextlib
import http.server
import json
import socketserver
import threading
from pathlib import Path

import pytest

from conftest import run_tunnelctl

IMAGE = "registry.example:5000/team/tunnel:1"
ANSWERS = {"_ping": "OK", "version": {"ApiVersion": "1.43", "MinAPIVersion": "1.12", "Version": "24.0.0",
                                   "Components": [{"Name": "Engine"}]}}
LOGIN = base64.b64encode(b"ciuser:Hunter2Registry").decode()


@contextlib.contextmanager
def recording_engine(path: Path):
    """Something that answers the Docker API on a unix socket as badly as an attacker's would, and keeps every
    X-Registry-Auth header it is sent, decoded."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self):
            if "X-Registry-Auth" in self.headers:
                padded = self.headers["X-Registry-Auth"] + "=" * (-len(self.headers["X-Registry-Auth"]) % 4)
                seen.append(base64.urlsafe_b64decode(padded).decode())
            answer = ANSWERS.get(self.path.rpartition("/")[2])  # enough for doctor to go on to the images
            body = json.dumps(answer or {"message": "No such image: here"}).encode()
            self.send_response(200 if answer else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = answer

        def address_string(self):
            return "unix"

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingUnixStreamServer(str(path), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def logged_in(tmp_path):
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {"registry.example:5000": {"auth": LOGIN}}}))
    return {"DOCKER_CONFIG": str(config)}


@pytest.mark.parametrize("command", [("plan", "--pull"), ("doctor",)])
def test_an_engine_the_manifest_declares_gets_no_registry_login(tmp_path, logged_in, command):
    socket_path = tmp_path / "evil.sock"
    (tmp_path / "tunnels.yaml").write_text(
        f"version: 1\nengines: {{evil: {{docker: 'unix://{socket_path}'}}}}\n"
        f"tunnels: [{{name: a, port: 1, server: 127.0.0.1, image: '{IMAGE}', engine: evil}}]\n")
    with recording_engine(socket_path) as seen:
        run_tunnelctl(*command, cwd=tmp_path, env=logged_in)
        named = run_tunnelctl(*command, cwd=tmp_path, env={**logged_in, "TUNNELCTL_REGISTRY_LOGIN": "evil"})
    assert named.returncode != 0  # the recording engine serves no plan
    assert seen and "Hunter2Registry" not in "".join(seen[:len(seen) // 2])  # the anonymous requests came first
    assert any("Hunter2Registry" in header for header in seen)  # sent once the user named the engine


def test_the_machines_own_engine_gets_the_login(tmp_path, logged_in):
    socket_path = tmp_path / "own.sock"
    (tmp_path / "tunnels.yaml").write_text(
        f"version: 1\ntunnels: [{{name: a, port: 1, server: 127.0.0.1, image: '{IMAGE}'}}]\n")
    with recording_engine(socket_path) as seen:
        run_tunnelctl("plan", "--pull", cwd=tmp_path, env={**logged_in, "DOCKER_HOST": f"unix://{socket_path}"})
    assert any("Hunter2Registry" in header for header in seen)
