"""Tunnels that really work: tunnelctl → Docker → tunnel client → the Pinggy stand-in → a local server, and back.

Every test runs with both clients (the `tunnel_client` fixture): OpenSSH, and the double of Pinggy's own CLI."""

from __future__ import annotations

import json
import re
import textwrap
import time
import urllib.request
import uuid

from conftest import manifest_text, project_containers, run_tunnelctl, wait_until
from standin import fixture

PINGGY_IMAGE = "tunnelctl-test/pinggy-ssh:latest"
STANDIN_PORT = fixture.DEFAULT_PORT


def tunnel_manifest(project: str, port: int, token: str, name: str = "mcp", extra: str = "",
                    image: str = PINGGY_IMAGE) -> str:
    return manifest_text("""
        version: 1
        project: $project
        defaults:
          image: $image
          server: 127.0.0.1
          server_port: $server_port
        tunnels:
          - name: $name
            port: $port
            token: "{{ env.E2E_TOKEN }}"
    """, project=project, image=image, server_port=STANDIN_PORT, name=name, port=port) + textwrap.indent(
        textwrap.dedent(extra), "    ")


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


def assert_hardened(api, client, info: dict) -> None:
    """What `docker inspect` must show of a tunnel container: no capability, no privilege gain, few processes, and a
    read-only root with tmpfs only where the client writes (OpenSSH's ~/.ssh/known_hosts, the CLI's ~/.config)."""
    host = info["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert host["SecurityOpt"] == ["no-new-privileges:true"] and host["Privileged"] is False
    assert host["ReadonlyRootfs"] is True and 0 < host["PidsLimit"] <= 64
    assert sorted(host["Tmpfs"]) == ["/root", "/tmp"]
    output = api.logs(info["Id"]).decode(errors="replace")
    assert "Failed to add" not in output and "Read-only file system" not in output
    if client.name == "openssh":  # ssh says so when it wrote ~/.ssh/known_hosts (in the /root tmpfs)
        assert "Permanently added" in output


def test_apply_brings_a_tunnel_up_that_carries_traffic(docker_api, pinggy, tunnel_client, project, local_server,
                                                        tmp_path):
    port, seen = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token, "MCP_KEY": "k3y" + uuid.uuid4().hex}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, image=tunnel_client.image, extra="""
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
    # https_only: only the URL that serves is listed (the http one only redirects)
    assert re.search(r"^mcp\s+up\s+https://\S+$", applied.stdout, re.MULTILINE), applied.stdout
    assert "headers.add.Host sends a second Host header" in applied.stderr  # warned, and carried as the user insists

    status = status_of(tmp_path, env)
    assert status["_exit"] == 0
    mcp = status["mcp"]
    assert mcp["state"] == "running" and mcp["ok"] is True
    assert mcp["local"] == {"host": "127.0.0.1", "port": port, "network": None, "listening": True}
    assert [url.split("://")[0] for url in mcp["urls"]] == ["https"]

    with urllib.request.urlopen(f"http://127.0.0.1:{forwarded_port(mcp['urls'][0])}/through-the-tunnel",
                                timeout=10) as response:
        assert response.read() == b"hello from the local MCP server"
    assert seen[-1]["path"] == "/through-the-tunnel"
    # hardened, and still it carries traffic
    assert_hardened(docker_api, tunnel_client, project_containers(docker_api, project)["mcp"])

    record = pinggy.wait_for_record(token, status="active")
    assert record["user"] == token and record["force"] is False
    assert record["options"] == [f"k:{env['MCP_KEY']}", "x:https", "x:xff", "a:Host:localhost:3845",
                                 "a:X-Note:hello world", "a:X-Note:two", "u:User-Agent:tunnel ctl", "r:X-Debug"]

    logs = run_tunnelctl("logs", "mcp", cwd=tmp_path, env=env)
    assert tunnel_client.announcement in logs.stdout
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


def test_a_killed_tunnel_is_seen_and_brought_back(docker_api, pinggy, tunnel_client, project, local_server,
                                                   tmp_path):
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, image=tunnel_client.image))
    assert run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env).returncode == 0
    first = project_containers(docker_api, project)["mcp"]["Id"]

    docker_api.stop(first, timeout=1)  # what `docker stop` or a crash past the restart policy leaves behind
    if tunnel_client.retries_in_process:  # the CLI quits cleanly on SIGTERM, closing its session first
        assert docker_api.inspect_container(first)["State"]["ExitCode"] == 0
        assert b"Tunnel stopped." in docker_api.logs(first)
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


def test_a_token_already_in_use_names_the_tunnel_that_holds_it(docker_api, pinggy, tunnel_client, project,
                                                               local_server, tmp_path):
    """Two projects (two team members, say) share one token, and the second does not use force: tunnelctl knows
    from its own containers, whatever the client prints, and says so at once rather than at the timeout."""
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    first_dir, second_dir = tmp_path / "first", tmp_path / "second"
    first_dir.mkdir()
    second_dir.mkdir()
    (first_dir / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, name="first",
                                                            image=tunnel_client.image))
    (second_dir / "tunnels.yaml").write_text(tunnel_manifest(project + "-2", port, token, name="second",
                                                             image=tunnel_client.image))
    try:
        assert run_tunnelctl("apply", "--auto-approve", cwd=first_dir, env=env).returncode == 0
        started = time.monotonic()
        refused = run_tunnelctl("apply", "--auto-approve", "--timeout", "40", cwd=second_dir, env=env)
        assert refused.returncode == 1 and time.monotonic() - started < 30
        assert re.search(r"^second\s+failed\s+-$", refused.stdout, re.MULTILINE), refused.stdout
        assert (f"second: its token is also used by tunnel 'first' of project '{project}' (container {project}-first), "
                "which holds the session: Pinggy keeps one session per token") in refused.stdout, refused.stdout
        assert "set `force: true` to take the token over" in refused.stdout
        assert token not in refused.stdout + refused.stderr  # the token itself is still masked
        assert status_of(first_dir, env)["first"]["ok"] is True  # the first tunnel kept its session
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=second_dir)


def test_a_local_server_that_is_not_up_yet_is_a_warning_not_a_failure(pinggy, tunnel_client, project, tmp_path):
    """Applied at login from dotfiles, before the local server (Figma, say) is started: the tunnel is up at Pinggy."""
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, 1, token, image=tunnel_client.image))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"^mcp\s+up, local server not listening\s+\S+://\S+", applied.stdout,
                     re.MULTILINE), applied.stdout
    assert "mcp: nothing listens on 127.0.0.1:1 yet" in applied.stdout  # a typo'd port is still obvious

    status = status_of(tmp_path, env)
    assert status["_exit"] == 0
    assert status["mcp"]["condition"] == "up, local server not listening"
    assert status["mcp"]["local"]["listening"] is False and len(status["mcp"]["urls"]) == 2
    text = run_tunnelctl("status", cwd=tmp_path, env=env).stdout  # 80 columns: up, and LOCAL says not listening
    assert re.search(r"^mcp\s+up\s.*NOT listening$", text, re.MULTILINE), text

    # and its settings can still be changed: the replacement is judged the same way, never rolled back for it
    (tmp_path / "tunnels.yaml").write_text(
        tunnel_manifest(project, 1, token, image=tunnel_client.image, extra="https_only: true\n"))
    changed = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "mcp: recreated" in changed.stdout and "restored" not in changed.stdout


def wait_for_status(tmp_path, env, tunnel: str, wanted, timeout: float = 60) -> dict:
    """Poll `tunnelctl status --json` until `wanted(item)` holds."""
    def item_wanted():
        item = status_of(tmp_path, env).get(tunnel)
        return item if item and wanted(item) else None

    return wait_until(item_wanted, timeout, f"status of {tunnel} got there")


def test_a_dropped_session_comes_back_with_a_new_url_that_status_shows(docker_api, pinggy, tunnel_client, project,
                                                                       local_server, tmp_path):
    """The CLI reconnects inside its process; OpenSSH exits and Docker's restart policy starts it again. Either way
    status shows the newest URL, the one Pinggy serves now."""
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, image=tunnel_client.image))
    assert run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env).returncode == 0
    before = status_of(tmp_path, env)["mcp"]
    first_record = pinggy.wait_for_record(token, status="active")

    pinggy.drop(token)  # Pinggy ends the session from its side (a free-tier hour over): the token is free at once
    after = wait_for_status(tmp_path, env, "mcp", lambda item: item["ok"] and item["urls"] != before["urls"])
    record = pinggy.wait_for_record(token, status="active", newer_than=first_record)
    assert after["urls"] == record["urls"]  # the newest URLs, not the first session's
    assert after["restarts"] == (0 if tunnel_client.retries_in_process else 1)
    with urllib.request.urlopen(f"http://127.0.0.1:{forwarded_port(after['urls'][0])}/", timeout=10) as response:
        assert response.read() == b"hello from the local MCP server"

    logs = run_tunnelctl("logs", "mcp", cwd=tmp_path, env=env).stdout
    if tunnel_client.retries_in_process:
        # like the real CLI, nothing about the drop until it is back: status read the drop from its daemon log
        assert "Disconnected" not in logs and f"Reconnected: {', '.join(after['urls'])}" in logs


def test_a_refused_client_says_why_while_it_retries_and_after_it_gives_up(docker_api, pinggy, tunnel_client, project,
                                                                          local_server, tmp_path):
    """Someone else holds the token. OpenSSH exits at once with Pinggy's words; the CLI prints nothing but its
    spinner, keeps trying every few seconds (its daemon log has Pinggy's words, which status reads) and exits 1 after
    its last attempt, in its own words. logs shows the CLI's spinner collapsed rather than a line per frame."""
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token}
    holder = docker_api.create_container(fixture.IMAGE,
                                         command=pinggy.ssh_args(token, f"127.0.0.1:{port}", force=False),
                                         host_config=docker_api.create_host_config(network_mode="host"),
                                         labels={"io.tunnelctl.project": project})  # removed with the project
    docker_api.start(holder)
    pinggy.wait_for_record(token, status="active")
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project + "-2", port, token, image=tunnel_client.image,
                                                           extra="restart: \"no\"\n"))
    refusal = "Login is not allowed: A tunnel with the same token (sensitive) is already active."
    try:
        assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env).returncode == 0
        if tunnel_client.retries_in_process:
            retrying = wait_for_status(tmp_path, env, "mcp", lambda item: "Login" in (item["problem"] or ""))
            assert retrying["state"] == "running"
            assert retrying["problem"] == f"{refusal} (the client keeps retrying)"
        gave_up = wait_for_status(tmp_path, env, "mcp", lambda item: item["state"] == "exited")
        assert gave_up["urls"] == []
        assert gave_up["problem"] == (refusal if not tunnel_client.retries_in_process else  # exited: no daemon log
                                      "the tunnel client gave up reconnecting (its own words, not Pinggy's: Maximum "
                                      "reconnection attempts reached. Exiting.)")
        assert gave_up["exit_code"] == 1  # the CLI after its last attempt; ssh passes the refusal's exit status on

        logs = run_tunnelctl("logs", "mcp", cwd=tmp_path, env=env).stdout
        assert token not in logs
        if tunnel_client.retries_in_process:
            container = project_containers(docker_api, project + "-2")["mcp"]["Id"]
            frames = docker_api.logs(container, tail=1000).decode().count("waiting for connection...")
            assert "Maximum reconnection attempts reached" in logs and "Login is not allowed" not in logs
            assert frames > 5 * 20 > len(logs.splitlines())  # each line as a terminal leaves it, not each 80 ms frame
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path)
