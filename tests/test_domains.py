"""The `domains` field: Pinggy's domain forwarding (a Pro token's persistent subdomain, custom domains), as the
manifest takes it, the argv carries it and the plan shows it."""

from __future__ import annotations

import textwrap

import pytest

from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.errors import UserError

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"


def load(write_manifest, tunnel: str):
    return manifest.load(write_manifest("version: 1\nproject: p\ntunnels:\n" + textwrap.indent(tunnel, "  ")), {})


def test_each_domain_is_a_domain_forwarding_beside_the_default_one_and_in_the_hash(write_manifest):
    plain, = desired_specs(load(write_manifest, f"- {{name: mcp, port: 3845, token: tok1, access_keys: [{KEY}]}}\n"))
    spec, = desired_specs(load(write_manifest, f"- {{name: mcp, port: 3845, token: tok1, access_keys: [{KEY}],\n"
                                               "   domains: [mcp.example.com, myname.a.pinggy.link]}\n"))
    assert spec.command[:6] == ("-p", "443", "-R0:127.0.0.1:3845", "-Rmcp.example.com:0:127.0.0.1:3845",
                                "-Rmyname.a.pinggy.link:0:127.0.0.1:3845", "--conf")
    assert spec.spec_hash != plain.spec_hash
    assert spec.target == "127.0.0.1:3845 → pro.pinggy.io:443 as mcp.example.com as myname.a.pinggy.link"
    assert "domains" in set(spec.setting_digests) - {name for name, digest in plain.setting_digests.items()
                                                     if spec.setting_digests.get(name) == digest}


@pytest.mark.parametrize(("written", "message"), [
    ("https://mcp.example.com", "'https://mcp.example.com' is not allowed: A domain name in lowercase"),
    ("mcp.example.com:443", "is not allowed: A domain name"),
    ("mcp.example.com/mcp", "is not allowed: A domain name"),
    ("MCP.example.com", "is not allowed: A domain name in lowercase"),
    ("localhost", "is not allowed: A domain name"),
    ("-oProxyCommand=x.example.com", "is not allowed: A domain name"),
])
def test_a_domain_is_a_name_not_a_url(write_manifest, written, message):
    with pytest.raises(UserError) as raised:
        load(write_manifest, f"- {{name: mcp, port: 3845, access_keys: [{KEY}], domains: ['{written}']}}\n")
    assert message in "\n".join(raised.value.details) and "tunnels[0].domains[0]" in "\n".join(raised.value.details)

