"""URLs that stay put, or say they moved: Pinggy's domain forwarding through the stand-in (a Pro token's persistent
subdomain, custom domains it owns, one it does not), with both tunnel clients."""

from __future__ import annotations

import json
import uuid

from test_mcp import edge  # noqa: F401  (a fixture)
from test_tunnels_e2e import new_token, tunnel_manifest

from conftest import run_tunnelctl
from provisioner.mcp.protocol import edge_addresses, request

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"


def status_of(tmp_path, env) -> dict:
    (item,) = json.loads(run_tunnelctl("status", "--json", cwd=tmp_path, env=env).stdout)["tunnels"]
    return item


def test_a_pro_tokens_subdomain_and_custom_domain_stay_put_across_recreates(pinggy, edge, tunnel_client,  # noqa: F811
                                                                             project, local_server, tmp_path):
    port, seen = local_server
    token, name = new_token(pinggy), "s" + uuid.uuid4().hex[:10]
    owned, stranger = f"mcp-{name}.example.com", f"other-{name}.example.com"
    pinggy.configure_domains(token, subdomain=name, domains=[owned])
    env = {"E2E_TOKEN": token, "TUNNELCTL_EDGE": edge}
    write = (tmp_path / "tunnels.yaml").write_text
    write(tunnel_manifest(project, port, token, image=tunnel_client.image,
                          extra=f"access_keys: [{KEY}]\ndomains: [{owned}]\n"))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"as {owned}" in applied.stdout  # the plan shows the domain forwarding
    first = status_of(tmp_path, env)
    assert first["urls"][:2] == [f"http://{owned}", f"https://{owned}"]  # the domain's URLs first: they stay put
    assert f"https://{name}.a.pinggy.link" in first["urls"] and first["domains"] == [owned]

    answer = request(f"https://{owned}/page", "GET", {"Authorization": f"Bearer {KEY}"}, None, 10,
                     edge_addresses(env))
    assert answer.status == 200 and seen[-1]["path"] == "/page"  # the edge routes the domain down its forwarding

    replaced = run_tunnelctl("apply", "--auto-approve", "--replace", "mcp", cwd=tmp_path, env=env)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    assert status_of(tmp_path, env)["urls"] == first["urls"]
    assert "URL changed" not in replaced.stdout + replaced.stderr

    write(tunnel_manifest(project, port, token, image=tunnel_client.image,
                          extra=f"access_keys: [{KEY}]\ndomains: [{stranger}]\n"))
    refused = run_tunnelctl("apply", "--auto-approve", "--timeout", "20", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert f"the domain {stranger} is not associated with this token" in refused.stdout + refused.stderr
