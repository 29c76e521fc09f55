"""Tunnels that really work: tunnelctl → Docker → ssh client → the Pinggy stand-in → a local server, and back."""

from __future__ import annotations

import json
import re
import textwrap
import urllib.request
import uuid

from conftest import project_containers, run_tunnelctl
from standin import fixture

PINGGY_IMAGE = "tunnelctl-test/pinggy-ssh:latest"
STANDIN_PORT = fixture.DEFAULT_PORT


def tunnel_manifest(project: str, port: int, token: str, name: str = "mcp", extra: str = "") -> str:
    return textwrap.dedent(f"""
        version: 1
        project: {project}
        defaults:
          image: {PINGGY_IMAGE}
          server: 127.0.0.1
          server_port: {STANDIN_PORT}
        tunnels:
          - name: {name}
            port: {port}
            token: "{{{{ env.E2E_TOKEN }}}}"
    """) + textwrap.indent(textwrap.dedent(extra), "    ")


def new_token(pinggy) -> str:
    token = "e2e" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    return token


def forwarded_port(url: str) -> int:
    """The stand-in names the port sshd allocated for the remote forward in its URLs: …-p<PORT>.a.pinggy.link."""
    found = re.search(r"-p(\d+)\.", url)
    assert found, url
    return int(found.group(1))


def status_of(tmp_path, env) -> dict:
    result = run_tunnelctl("status", "--json", cwd=tmp_path, env=env)
    return {item["tunnel"]: item for item in json.loads(result.stdout)["tunnels"]} | {"_exit": result.returncode}


def test_apply_brings_a_tunnel_up_that_carries_traffic(pinggy, project, local_server, tmp_path):
    port, seen = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token, "MCP_KEY": "k3y" + uuid.uuid4().hex}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, extra="""
        access_keys: ["{{ env.MCP_KEY }}"]
        https_only: true
        forwarded_for: true
        headers:
          add: {Host: "localhost:3845", X-Note: ["hello world", two]}
          update: {User-Agent: "tunnel ctl"}
          remove: [X-Debug]
    """))

    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"^mcp\s+up\s+http://\S+ https://\S+$", applied.stdout, re.MULTILINE), applied.stdout

    status = status_of(tmp_path, env)
    assert status["_exit"] == 0
    mcp = status["mcp"]
    assert mcp["state"] == "running" and mcp["healthy"] is True
    assert mcp["local"] == {"host": "127.0.0.1", "port": port, "network": None, "listening": True}
    assert [url.split("://")[0] for url in mcp["urls"]] == ["http", "https"]

    with urllib.request.urlopen(f"http://127.0.0.1:{forwarded_port(mcp['urls'][0])}/through-the-tunnel",
                                timeout=10) as response:
        assert response.read() == b"hello from the local MCP server"
    assert seen[-1]["path"] == "/through-the-tunnel"

    record = pinggy.wait_for_record(token, status="active")
    assert record["user"] == token and record["force"] is False
    assert record["options"] == [f"k:{env['MCP_KEY']}", "x:https", "x:xff", "a:Host:localhost:3845",
                                 "a:X-Note:hello world", "a:X-Note:two", "u:User-Agent:tunnel ctl", "r:X-Debug"]

    logs = run_tunnelctl("logs", "mcp", cwd=tmp_path, env=env)
    assert "You can access local server via following URL(s):" in logs.stdout
    assert token not in logs.stdout + logs.stderr
    assert follow_logs_until(tmp_path, env, mcp["urls"][-1])


def follow_logs_until(cwd, env: dict, wanted: str, timeout: float = 20) -> bool:
    """`tunnelctl logs --follow` keeps streaming: read until `wanted` shows up, then stop it like a user (Ctrl-C)."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time

    process = subprocess.Popen([sys.executable, "-m", "provisioner", "logs", "mcp", "--follow"], cwd=cwd,
                               env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    output, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    try:
        while wanted.encode() not in seen and time.monotonic() < deadline:
            if select.select([output], [], [], 0.5)[0]:
                seen += os.read(output, 65536)
        assert process.poll() is None, "logs --follow ended by itself"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert env["E2E_TOKEN"].encode() not in seen
    return wanted.encode() in seen


def test_a_killed_tunnel_is_seen_and_brought_back(docker_api, pinggy, project, local_server, tmp_path):
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token))
    assert run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env).returncode == 0
    first = project_containers(docker_api, project)["mcp"]["Id"]

    docker_api.stop(first, timeout=1)  # what `docker stop` or a crash past the restart policy leaves behind
    status = status_of(tmp_path, env)
    assert status["_exit"] == 3
    assert status["mcp"]["state"] == "exited" and status["mcp"]["urls"] == []

    plan = run_tunnelctl("plan", cwd=tmp_path, env=env)
    assert "-/+ mcp" in plan.stdout and "container is not running" in plan.stdout

    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    status = status_of(tmp_path, env)
    assert status["_exit"] == 0 and status["mcp"]["state"] == "running"
    assert len(status["mcp"]["urls"]) == 2 and project_containers(docker_api, project)["mcp"]["Id"] != first


def test_a_token_already_in_use_is_reported_as_pinggys_refusal(docker_api, pinggy, project, local_server, tmp_path):
    """Two projects (two team members, say) share one token, and the second does not use force."""
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    (first_dir / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, name="first"))
    (second_dir / "tunnels.yaml").write_text(tunnel_manifest(project + "-2", port, token, name="second"))
    try:
        assert run_tunnelctl("apply", "--auto-approve", cwd=first_dir, env=env).returncode == 0
        refused = run_tunnelctl("apply", "--auto-approve", "--timeout", "20", cwd=second_dir, env=env)
        assert refused.returncode == 1
        assert re.search(r"^second\s+failed\s+-$", refused.stdout, re.MULTILINE), refused.stdout
        assert (f"second: Pinggy refused the login: Login is not allowed: A tunnel with the same token {token} "
                "is already active.") in refused.stdout.replace("(sensitive)", token)
        assert token not in refused.stdout + refused.stderr  # the token itself is still masked
        assert status_of(first_dir, env)["first"]["healthy"] is True  # the first tunnel kept its session
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=second_dir)


def test_a_closed_local_port_fails_readiness_with_the_reason(pinggy, project, tmp_path):
    token = new_token(pinggy)
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, 1, token))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env={"E2E_TOKEN": token})
    assert applied.returncode == 1
    assert "mcp: the tunnel is up, but nothing listens on 127.0.0.1:1" in applied.stdout
