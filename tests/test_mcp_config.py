"""MCP without an engine: the Host rule, where a key comes from, each client's configuration, the edge setting."""

from __future__ import annotations

import base64
import json
import shlex
import socket
import textwrap

import pytest

from conftest import manifest_text, settings_of
from provisioner import manifest
from provisioner.constants import MCP_CLIENTS
from provisioner.errors import UserError
from provisioner.manifest import Tunnel
from provisioner.mcp.check import PASS, check_tunnel
from provisioner.mcp.client_config import Credential, credential, render
from provisioner.mcp.protocol import edge_addresses, mcp_path, mcp_url
from provisioner.observe.status import TunnelStatus

URL = "https://rnabc-p1234.a.pinggy.link/mcp"
KEY = "0123456789abcdef" * 4


def load(tmp_path, tunnels: str, env: dict[str, str] | None = None):
    path = tmp_path / "tunnels.yaml"
    path.write_text("version: 1\ntunnels:\n" + textwrap.indent(textwrap.dedent(tunnels), "  "))
    return path, manifest.load(path, {"KEY": KEY, **(env or {})}, need_secrets=False)


@pytest.mark.parametrize(("headers", "warning"), [
    ("", "the public host reaches this MCP server as Host"),
    ('headers: {add: {Host: "localhost:3845"}}', "headers.add.Host sends a second Host header"),
    ('headers: {update: {Host: "localhost"}}', "headers.update.Host is not the local address with its port"),
    ('headers: {update: {Host: "example.com:3845"}}', "headers.update.Host is not the local address with its port"),
    ('headers: {update: {Host: "localhost:3845"}}', None),
    ('headers: {update: {host: "127.0.0.1:3845"}}', None),
])
def test_an_mcp_tunnel_must_rewrite_the_host_to_the_local_address_with_its_port(tmp_path, headers, warning):
    _, loaded = load(tmp_path, manifest_text("""
        - {name: figma, port: 3845, mcp: true, access_keys: ["{{ env.KEY }}"]$headers}
    """, headers=", " + headers if headers else ""))
    if warning is None:
        assert loaded.warnings == ()
    else:
        (line,) = loaded.warnings
        assert warning in line and 'headers.update: {Host: "localhost:3845"}' in line
        assert "(tunnel 'figma')" in line


def test_the_host_rule_is_for_mcp_tunnels_and_mcp_for_http_ones(tmp_path):
    _, loaded = load(tmp_path, """
        - {name: web, port: 8000, access_keys: ["{{ env.KEY }}"]}
    """)
    assert loaded.warnings == ()
    with pytest.raises(UserError) as raised:
        load(tmp_path, "- {name: db, port: 5432, type: tcp, mcp: true}\n")
    assert "mcp only applies to http tunnels" in "\n".join(raised.value.details)


def test_the_mcp_path_and_url():
    assert mcp_path(settings_of(mcp=True)) == "/mcp" and mcp_path(settings_of(mcp={"path": "/v1/mcp"})) == "/v1/mcp"
    assert mcp_path(settings_of(mcp=False)) is None and mcp_path(settings_of()) is None
    assert mcp_url(("http://h.a.pinggy.link", "https://h.a.pinggy.link"), "/mcp") == "https://h.a.pinggy.link/mcp"
    assert mcp_url(("http://h.a.pinggy.link",), "/mcp") == "http://h.a.pinggy.link/mcp"
    assert mcp_url((), "/mcp") is None


@pytest.mark.parametrize(("written", "variable", "from_manifest"), [
    ('"{{ env.KEY }}"', "KEY", True),
    ("\"{{ env['KEY'] | secret }}\"", "KEY", True),
    ('"{{ env.KEY | required(\'ask Ana\') }}"', "KEY", True),
    (f'"{KEY}"', "FIGMA_ACCESS_KEY", False),  # written into the manifest: the user gets a name to set
])
def test_connect_references_the_variable_the_manifest_reads_the_key_from(tmp_path, written, variable, from_manifest):
    path, loaded = load(tmp_path, manifest_text("- {name: figma, port: 3845, mcp: true, access_keys: [$written]}\n",
                                                written=written))
    found = credential(path, "figma", loaded.tunnels[0].settings)
    assert (found.scheme, found.variable, found.from_manifest, found.value) == ("Bearer", variable, from_manifest, KEY)


def test_a_key_set_in_defaults_and_an_unset_one(tmp_path):
    path = tmp_path / "tunnels.yaml"
    path.write_text('version: 1\ndefaults: {access_keys: ["{{ env.TEAM_KEY | secret }}"]}\n'
                    "tunnels:\n  - {name: figma, port: 3845, mcp: true}\n")
    loaded = manifest.load(path, {}, need_secrets=False)
    found = credential(path, "figma", loaded.tunnels[0].settings)
    assert (found.variable, found.value) == ("TEAM_KEY", None)


def test_basic_auth_and_no_auth(tmp_path):
    path, loaded = load(tmp_path, """
        - {name: a, port: 1, mcp: true, basic_auth: [{username: ana, password: "{{ env.KEY }}"}]}
        - {name: b, port: 2, mcp: true, container_name: b2, allow_cidrs: [10.0.0.0/8]}
    """)
    basic = credential(path, "a", loaded.tunnels[0].settings)
    assert (basic.scheme, basic.variable, basic.value, basic.username) == ("Basic", "KEY", f"ana:{KEY}", "ana")
    text, notes = render("cursor", "a", URL, basic, reveal=True)
    header = json.loads(text)["mcpServers"]["a"]["headers"]["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"ana:{KEY}"
    text, notes = render("cursor", "a", URL, basic)
    assert KEY not in text and any("base64" in note for note in notes)
    open_one = credential(path, "b", loaded.tunnels[1].settings)
    text, notes = render("vscode", "b", URL, open_one)
    assert json.loads(text) == {"servers": {"b": {"type": "http", "url": URL}}}
    assert "anyone with the URL" in notes[0]


@pytest.mark.parametrize("client", MCP_CLIENTS)
def test_every_client_gets_its_own_shape_and_never_the_key_unless_revealed(client):
    referenced = Credential("Bearer", "FIGMA_ACCESS_KEY", True, KEY)
    text, _ = render(client, "figma", URL, referenced)
    assert KEY not in text and URL in text
    revealed, _ = render(client, "figma", URL, referenced, reveal=True)
    assert KEY in revealed
    if client == "claude-code":
        assert shlex.split(text) == ["claude", "mcp", "add", "--transport", "http", "figma", URL, "--header",
                                     "Authorization: Bearer $FIGMA_ACCESS_KEY"]
        assert shlex.split(revealed)[-1] == f"Authorization: Bearer {KEY}"
    else:
        assert isinstance(json.loads(text), dict) and isinstance(json.loads(revealed), dict)
    with pytest.raises(UserError, match="FIGMA_ACCESS_KEY is not set"):
        render(client, "figma", URL, Credential("Bearer", "FIGMA_ACCESS_KEY", True, None), reveal=True)


def test_the_edge_setting_is_checked_without_echoing_it():
    assert edge_addresses({"TUNNELCTL_EDGE": "http=127.0.0.1:2223,https=127.0.0.1:2224"}) == {
        "http": ("127.0.0.1", 2223), "https": ("127.0.0.1", 2224)}
    assert edge_addresses({}) == {}
    with pytest.raises(ValueError) as raised:
        edge_addresses({"TUNNELCTL_EDGE": "s3cr3t-looking"})
    assert "s3cr3t-looking" not in str(raised.value)


def test_a_tcp_tunnel_gets_the_local_part_only():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        tunnel = Tunnel("db", settings_of(type="tcp", port=port))
        result = check_tunnel(tunnel, None, Credential(None), 2, {})
    assert [(part.name, part.result) for part in result.parts] == [("local", PASS)] and result.passed


def test_check_sends_a_key_over_https_only(local_server):
    port, seen = local_server
    tunnel = Tunnel("api", settings_of(type="http", port=port))
    item = TunnelStatus("default", "api", "c", True, "running", urls=(f"http://127.0.0.1:{port}/",))
    result = check_tunnel(tunnel, item, Credential("Bearer", "KEY", value="k3y-Sh0uldNotTravel"), 2, {})
    public = next(part for part in result.parts if part.name == "public")
    assert public.result != PASS and "is not https: the key is not sent" in public.detail
    assert seen and not any("k3y-Sh0uldNotTravel" in str(request["headers"]) for request in seen)
