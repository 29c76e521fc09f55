"""MCP end to end: a real MCP server (the official SDK) behind a tunnel through the Pinggy stand-in and its edge.

`check` must prove what a client and a stranger would find; `connect` must print what each client parses.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
from test_tunnels_e2e import tunnel_manifest

from conftest import REPO, manifest_text, run_tunnelctl, wait_until
from provisioner.constants import MCP_CLIENTS
from provisioner.mcp.protocol import edge_addresses, request

MCP_SERVER = REPO / "tests" / "support" / "mcp_server.py"
SERVER_NAME = "tunnelctl-test-mcp"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def mcp_server(*options: str):
    """The SDK's streamable-HTTP server on a free loopback port; yields the port once it accepts connections."""
    port = free_port()
    process = subprocess.Popen([sys.executable, str(MCP_SERVER), str(port), *options],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the MCP test server did not start: {process.communicate()[1] if process.poll() else ''}")
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def edge(pinggy):
    return pinggy.start_edge()


def tokens(pinggy, count: int) -> list[str]:
    made = ["mcp" + uuid.uuid4().hex[:10] for _ in range(count)]
    pinggy.add_token(*made)
    return made


def manifest(project: str, tunnels: str, **values: object) -> str:
    """Tunnels on the stand-in: `tunnels` is the list under `tunnels:`, a `manifest_text` template filled from
    `values`; tokens come from TOKEN_<n> variables."""
    head = tunnel_manifest(project, 1, "unused").split("tunnels:")[0]
    return head + "tunnels:\n" + textwrap.indent(manifest_text(tunnels, **values).lstrip("\n"), "  ")


def check_json(tmp_path, env) -> tuple[int, dict]:
    result = run_tunnelctl("check", "--json", cwd=tmp_path, env=env)
    assert result.stdout, result.stderr
    return result.returncode, {item["tunnel"]: {part["part"]: part for part in item["parts"]}
                               for item in json.loads(result.stdout)["tunnels"]}


def test_check_proves_an_mcp_server_answers_through_the_public_url_with_the_key_and_refuses_a_stranger(
        pinggy, edge, project, tmp_path):
    key = uuid.uuid4().hex + uuid.uuid4().hex
    first, second = tokens(pinggy, 2)
    env = {"TOKEN_1": first, "TOKEN_2": second, "FIGMA_KEY": key, "TUNNELCTL_EDGE": edge}
    with mcp_server() as modern, mcp_server("--legacy", "--json") as legacy:
        (tmp_path / "tunnels.yaml").write_text(manifest(project, """
            - {name: figma, port: $modern, token: "{{ env.TOKEN_1 }}", mcp: true, https_only: true,
               access_keys: ["{{ env.FIGMA_KEY }}"], headers: {update: {Host: "localhost:$modern"}}}
            - {name: legacy, port: $legacy, token: "{{ env.TOKEN_2 }}", mcp: {path: /mcp},
               access_keys: ["{{ env.FIGMA_KEY }}"], headers: {update: {Host: "127.0.0.1:$legacy"}}}
        """, modern=modern, legacy=legacy))
        applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr

        result = run_tunnelctl("check", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Check passed: 2 tunnels." in result.stdout
        assert key not in result.stdout + result.stderr
        code, parts = check_json(tmp_path, env)
        assert code == 0
        for tunnel, protocol, method in (("figma", "2026-07-28", "server/discover"),
                                         ("legacy", "2025-11-25", "initialize")):
            for part in ("local", "public"):
                assert parts[tunnel][part]["result"] == "pass"
                assert parts[tunnel][part]["server"]["name"] == SERVER_NAME
                assert parts[tunnel][part]["server"]["protocol"] == protocol
                assert parts[tunnel][part]["server"]["method"] == method
            assert parts[tunnel]["stranger"] == {**parts[tunnel]["stranger"], "result": "pass", "http_status": 401}
        assert parts["legacy"]["public"]["server"]["session_ended"] is True  # the session was DELETEd

        wrong = run_tunnelctl("check", "--target", "figma", cwd=tmp_path, env={**env, "FIGMA_KEY": "0" * 64})
        assert wrong.returncode == 1
        assert "FAIL  public" in wrong.stdout and "HTTP 403" in wrong.stdout, wrong.stdout
        assert "PASS  stranger" in wrong.stdout

        unset = run_tunnelctl("check", "--target", "figma", cwd=tmp_path, env={"TUNNELCTL_EDGE": edge})
        assert unset.returncode == 0, unset.stdout + unset.stderr
        assert "SKIP  public" in unset.stdout and "FIGMA_KEY is not set" in unset.stdout
        assert "PASS  local" in unset.stdout and "PASS  stranger" in unset.stdout
        assert "(1 part skipped)" in unset.stdout

        status = json.loads(run_tunnelctl("status", "--json", cwd=tmp_path, env=env).stdout)
        figma = next(item for item in status["tunnels"] if item["tunnel"] == "figma")
        assert figma["urls"] == [figma["mcp_url"].removesuffix("/mcp")]  # https_only: only the URL that serves
        assert figma["mcp_url"].startswith("https://")
        assert "MCP URL" in run_tunnelctl("status", "--wide", cwd=tmp_path, env=env).stdout

        configurations = {client: run_tunnelctl("connect", "figma", "--client", client, cwd=tmp_path, env=env)
                          for client in MCP_CLIENTS}
        assert all(result.returncode == 0 and key not in result.stdout + result.stderr
                   for result in configurations.values()), configurations
        url = figma["mcp_url"]
        assert shlex.split(configurations["claude-code"].stdout) == [
            "claude", "mcp", "add", "--transport", "http", "figma", url,
            "--header", "Authorization: Bearer $FIGMA_KEY"]
        cursor = json.loads(configurations["cursor"].stdout)
        assert cursor == {"mcpServers": {"figma": {"url": url, "headers": {
            "Authorization": "Bearer ${env:FIGMA_KEY}"}}}}
        windsurf = json.loads(configurations["windsurf"].stdout)
        assert windsurf == {"mcpServers": {"figma": {"serverUrl": url, "headers": {
            "Authorization": "Bearer ${env:FIGMA_KEY}"}}}}
        vscode = json.loads(configurations["vscode"].stdout)
        (prompt,) = vscode["inputs"]
        assert prompt["type"] == "promptString" and prompt["password"] is True
        assert vscode["servers"] == {"figma": {"type": "http", "url": url, "headers": {
            "Authorization": f"Bearer ${{input:{prompt['id']}}}"}}}
        desktop = json.loads(configurations["claude-desktop"].stdout)["mcpServers"]["figma"]
        assert desktop["command"] == "npx"
        assert desktop["args"] == ["mcp-remote", url, "--header", "Authorization:${AUTH_HEADER}"]
        assert desktop["env"]["AUTH_HEADER"].startswith("Bearer ") and key not in desktop["env"]["AUTH_HEADER"]
        assert json.loads(configurations["json"].stdout)["url"] == url

        revealed = run_tunnelctl("connect", "figma", "--client", "claude-code", "--reveal", cwd=tmp_path, env=env)
        assert shlex.split(revealed.stdout)[-1] == f"Authorization: Bearer {key}"
        # what the client will send works: the revealed header through the public side
        answer = request(url, "POST", {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                       "Accept": "application/json, text/event-stream"},
                         b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",'
                         b'"capabilities":{},"clientInfo":{"name":"t","version":"0"}}}', 10, edge_addresses(env))
        assert answer.status == 200 and SERVER_NAME.encode() in answer.body


def test_check_reports_a_server_that_is_down_not_mcp_refusing_the_public_host_or_open_to_strangers(
        pinggy, edge, project, local_server, tmp_path):
    web_port, _ = local_server  # answers GET with a page: HTTP, but not MCP
    down_port = free_port()
    key = uuid.uuid4().hex + uuid.uuid4().hex
    names = ("down", "web", "nohost", "open", "publichost")
    env = {f"TOKEN_{n}": token for n, token in enumerate(tokens(pinggy, len(names)))} | {
        "KEY": key, "TUNNELCTL_EDGE": edge}
    with mcp_server() as mcp_port:
        (tmp_path / "tunnels.yaml").write_text(manifest(project, """
            - {name: down, port: $down_port, token: "{{ env.TOKEN_0 }}", mcp: true, access_keys: ["{{ env.KEY }}"]}
            - {name: web, port: $web_port, token: "{{ env.TOKEN_1 }}", mcp: true, access_keys: ["{{ env.KEY }}"]}
            - {name: nohost, port: $mcp_port, token: "{{ env.TOKEN_2 }}", mcp: true, access_keys: ["{{ env.KEY }}"],
               headers: {add: {Host: "localhost:$mcp_port"}}}
            - {name: open, port: $mcp_port, token: "{{ env.TOKEN_3 }}", mcp: true,
               headers: {update: {Host: "localhost:$mcp_port"}}}
            - {name: publichost, port: $mcp_port, token: "{{ env.TOKEN_4 }}", mcp: true, access_keys: ["{{ env.KEY }}"]}
        """, down_port=down_port, web_port=web_port, mcp_port=mcp_port))
        validated = run_tunnelctl("validate", cwd=tmp_path, env=env)
        assert "(tunnel 'nohost'): headers.add.Host sends a second Host header" in validated.stderr
        assert "move it to headers.update: {Host: \"localhost:" in validated.stderr
        applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        def every_tunnel_has_urls():  # the one to a closed port too
            status = json.loads(run_tunnelctl("status", "--json", cwd=tmp_path, env=env).stdout)
            return all(item["urls"] for item in status["tunnels"])

        wait_until(every_tunnel_has_urls, 20, "every tunnel showed its URLs")

        result = run_tunnelctl("check", cwd=tmp_path, env=env)
        assert result.returncode == 1
        assert "Check failed for 5 of 5 tunnels" in result.stdout, result.stdout
        code, parts = check_json(tmp_path, env)
        assert code == 1
        assert parts["down"]["local"]["result"] == "fail"
        assert f"nothing listens on 127.0.0.1:{down_port}" in parts["down"]["local"]["detail"]
        assert parts["down"]["public"]["http_status"] == 502
        assert parts["web"]["local"]["result"] == "fail" and "not an MCP endpoint" in parts["web"]["local"]["detail"]
        assert "mcp.path" in parts["web"]["local"]["detail"]
        assert parts["nohost"]["local"]["result"] == "pass"
        assert parts["nohost"]["public"]["result"] == "fail"
        assert "HTTP 400 (bad request)" in parts["nohost"]["public"]["detail"]
        assert 'move it to headers.update: {Host: "localhost:' in parts["nohost"]["public"]["detail"]
        assert parts["publichost"]["public"]["http_status"] == 421
        assert "the server refused the Host header" in parts["publichost"]["public"]["detail"]
        assert "set headers.update: {Host:" in parts["publichost"]["public"]["detail"]
        assert parts["open"]["public"]["result"] == "pass"
        assert parts["open"]["stranger"]["result"] == "fail"
        assert "A STRANGER GETS THROUGH" in parts["open"]["stranger"]["detail"]
        for tunnel in ("down", "web", "nohost", "publichost"):
            assert parts[tunnel]["stranger"]["result"] == "pass"  # the edge turns strangers away whatever is behind

        only = run_tunnelctl("check", "--target", "nohost", "--target", "down", cwd=tmp_path, env=env)
        assert "Check failed for 2 of 2 tunnels: down, nohost." in only.stdout
        unknown = run_tunnelctl("check", "--target", "nope", cwd=tmp_path, env=env)
        assert unknown.returncode == 1 and "no tunnel named 'nope'" in unknown.stderr
        not_mcp = run_tunnelctl("connect", "nope", "--client", "cursor", cwd=tmp_path, env=env)
        assert not_mcp.returncode == 1 and "Traceback" not in not_mcp.stderr


def test_the_edge_applies_the_sessions_options(pinggy, edge, project, local_server, tmp_path):
    port, seen = local_server
    key = uuid.uuid4().hex + uuid.uuid4().hex
    env = {f"TOKEN_{n}": token for n, token in enumerate(tokens(pinggy, 2))} | {"KEY": key, "TUNNELCTL_EDGE": edge}
    (tmp_path / "tunnels.yaml").write_text(manifest(project, """
        - {name: web, port: $port, token: "{{ env.TOKEN_0 }}", https_only: true, forwarded_for: X-Real-IP,
           access_keys: ["{{ env.KEY }}"], basic_auth: [{username: ana, password: "{{ env.KEY }}"}],
           pass_preflight: true, headers: {add: {X-Note: [one, two]}, update: {Host: "localhost:$port"},
           remove: [X-Debug]}}
        - {name: walled, port: $port, token: "{{ env.TOKEN_1 }}", allow_cidrs: [203.0.113.0/24]}
    """, port=port))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    urls = {item["tunnel"]: item["urls"] for item in
            json.loads(run_tunnelctl("status", "--json", cwd=tmp_path, env=env).stdout)["tunnels"]}
    [https_url] = urls["web"]  # https_only: status lists only the URL that serves; the http one redirects
    http_url = "http://" + https_url.removeprefix("https://")
    edges = edge_addresses(env)

    def get(url, headers=None, method="GET"):
        return request(url + "/page", method, headers or {}, None, 10, edges)

    assert get(http_url).status == 301 and get(http_url).headers["location"] == https_url + "/page"
    assert get(https_url).status == 401
    assert get(https_url, {"Authorization": "Bearer nope"}).status == 403
    assert get(https_url, {"Authorization": f"Bearer {key}", "X-Debug": "1"}).status == 200
    arrived = seen[-1]["headers"]
    assert arrived["Host"] == f"localhost:{port}" and "X-Debug" not in arrived
    assert arrived["X-Real-IP"] == "127.0.0.1"
    import base64
    basic = base64.b64encode(f"ana:{key}".encode()).decode()
    assert get(https_url, {"Authorization": f"Basic {basic}"}).status == 200
    preflight = get(https_url, {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, "OPTIONS")
    assert preflight.status not in (401, 403)  # through to the local server, which knows no OPTIONS
    assert get(urls["walled"][1]).status == 403
    assert get(https_url.replace("://", "://x"), {"Authorization": f"Bearer {key}"}).status == 404

    checked = run_tunnelctl("check", cwd=tmp_path, env=env)
    assert "PASS  public" in checked.stdout and "with the access key: HTTP 200" in checked.stdout, checked.stdout
    assert "walled (http)" in checked.stdout and "outside allow_cidrs" in checked.stdout
    assert checked.stdout.count("SKIP  public") == 1 and checked.returncode == 0
