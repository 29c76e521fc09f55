"""Shared test helpers: writing manifests and running the real `tunnelctl` command."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SLEEPER_IMAGE = "tunnelctl-test/sleeper:latest"
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for the Pinggy stand-in's test helpers in standin/


def run_tunnelctl(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
                  timeout: float = 120, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run the installed command the way a user does, capturing every byte it prints; `wrapper` (such as setpriv)
    runs it."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TUNNELCTL_DEBUG", None)
    return subprocess.run([*wrapper, sys.executable, "-m", "provisioner", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def write_manifest(tmp_path: Path):
    def write(text: str, name: str = "tunnels.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


@pytest.fixture(scope="session")
def docker_api():
    """The real engine: tests that touch containers fail, loudly, where there is none (scripts/setup starts one)."""
    import docker

    api = docker.APIClient(version="1.41")
    try:
        api.ping()
    except Exception as error:  # any failure here means the same thing to the person running the tests
        pytest.fail(f"no Docker engine answers ({error}); run scripts/setup first")
    try:
        api.inspect_image(SLEEPER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {SLEEPER_IMAGE} is missing; run scripts/build-test-images")
    return api


@pytest.fixture
def project(docker_api, request):
    """A project name of this test's own; its containers are removed afterwards, whatever the test did."""
    import uuid

    name = f"t-{request.node.name[:20].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    yield name
    for row in docker_api.containers(all=True, filters={"label": f"io.tunnelctl.project={name}"}):
        docker_api.remove_container(row["Id"], force=True)


def project_containers(api, project: str) -> dict[str, dict]:
    """tunnel name → `docker inspect` of its container, for the project's containers."""
    rows = api.containers(all=True, filters={"label": f"io.tunnelctl.project={project}"})
    inspected = [api.inspect_container(row["Id"]) for row in rows]
    return {info["Config"]["Labels"]["io.tunnelctl.tunnel"]: info for info in inspected}


@pytest.fixture(scope="session")
def pinggy(docker_api):
    """The local Pinggy stand-in (a real sshd on 127.0.0.1:2222) and its tunnel-client image."""
    from standin import fixture

    try:
        docker_api.inspect_image(fixture.IMAGE)
    except Exception:
        pytest.fail(f"image {fixture.IMAGE} is missing; run scripts/setup")
    return fixture.ensure_running()


@contextlib.contextmanager
def http_server(respond):
    """A real HTTP server on a free loopback port; `respond(path, headers)` returns (status, body bytes), or
    (status, body bytes, extra response headers)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            status, body, *extra = respond(self.path, dict(self.headers))
            self.send_response(status)
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_server():
    """A real HTTP server standing in for an MCP server; yields (port, requests seen)."""
    seen: list[dict] = []

    def respond(path, headers):
        seen.append({"path": path, "headers": headers})
        return 200, b"hello from the local MCP server"

    with http_server(respond) as port:
        yield port, seen
