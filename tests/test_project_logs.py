"""`logs` as compose shows a project's: without NAME every tunnel, each line after `name |`; --timestamps, --since,
--tail and --follow; secrets masked as for one tunnel."""

from __future__ import annotations

import re

from terminal import Terminal
from test_tunnels_e2e import PINGGY_IMAGE, STANDIN_PORT, new_token

from conftest import manifest_text, run_tunnelctl, wait_until


def two_tunnels(pinggy, project, tmp_path, local_server) -> dict[str, str]:
    port, _ = local_server
    env = {"TOKEN_WEB": new_token(pinggy), "TOKEN_API": new_token(pinggy)}
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: "$image", server: 127.0.0.1, server_port: $server_port, allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: web, port: $port, token: "{{ env.TOKEN_WEB }}"}
          - {name: api-gateway, port: $port, token: "{{ env.TOKEN_API }}"}
    """, project=project, image=PINGGY_IMAGE, server_port=STANDIN_PORT, port=port))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return env


def test_logs_without_a_name_shows_every_tunnel_prefixed(pinggy, docker_api, project, tmp_path, local_server):
    env = two_tunnels(pinggy, project, tmp_path, local_server)
    shown = run_tunnelctl("logs", cwd=tmp_path)  # needs no secrets
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert all(re.match(r"(web        |api-gateway) \| ", line) for line in lines), lines
    prefixes = [line.split(" | ")[0].strip() for line in lines]
    assert prefixes.index("api-gateway") > max(i for i, p in enumerate(prefixes) if p == "web")  # manifest order
    assert any("pinggy.link" in line for line in lines if line.startswith("web "))
    for token in env.values():
        assert token not in shown.stdout + shown.stderr

    stamped = run_tunnelctl("logs", "--timestamps", "--tail", "1", cwd=tmp_path).stdout.splitlines()
    assert len(stamped) == 2, stamped  # the last line of each
    assert all(re.match(r"(web        |api-gateway) \| \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z ", line)
               for line in stamped), stamped
    assert run_tunnelctl("logs", "--since", "2099-01-01", cwd=tmp_path).stdout == ""
    assert run_tunnelctl("logs", "--since", "1h", cwd=tmp_path).stdout == shown.stdout
    wrong = run_tunnelctl("logs", "--since", "yesterday", cwd=tmp_path)
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: --since takes a time ago (30s, 10m, 2h, 1d)")


def test_logs_follow_shows_new_lines_of_every_tunnel_until_ctrl_c(pinggy, docker_api, project, tmp_path,
                                                                   local_server):
    two_tunnels(pinggy, project, tmp_path, local_server)
    with Terminal("logs", "--follow", "--tail", "1", cwd=tmp_path) as terminal:
        terminal.wait_for("api-gateway | ")
        terminal.wait_for("web         | ")
        container = docker_api.containers(filters={"name": f"{project}-web"})[0]["Id"]
        docker_api.restart(container, timeout=1)  # the client logs in again: new lines arrive while following
        wait_until(lambda: terminal.screen().count("web         | ") >= 2, 30, "new web lines while following")
        terminal.press("C-c")
        assert terminal.exit_code() == 0
