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
                          extra=f"access_keys: [{KEY}]\ndomains: [{owned}]\nmcp: true\n"
                                f"headers: {{update: {{Host: 'localhost:{port}'}}}}\n"))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert f"as {owned}" in applied.stdout  # the plan shows the domain forwarding
    first = status_of(tmp_path, env)
    assert first["urls"][:2] == [f"http://{owned}", f"https://{owned}"]  # the domain's URLs first: they stay put
    assert f"https://{name}.a.pinggy.link" in first["urls"] and first["domains"] == [owned]
    assert first["mcp_url"] == f"https://{owned}/mcp"  # what connect gives clients: the URL that stays put

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


def test_a_free_tokens_new_url_is_news_and_the_written_client_files_follow(pinggy, edge, project,  # noqa: F811
                                                                           local_server, tmp_path):
    """Every recreate (and every session Pinggy ends) gives a free token a new URL: apply and status say so, and the
    client files `connect --write` wrote are brought along, their other entries intact."""
    port, _ = local_server
    token = new_token(pinggy)
    env = {"E2E_TOKEN": token, "FIGMA_KEY": KEY, "TUNNELCTL_EDGE": edge}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, name="figma", extra="""
        mcp: true
        access_keys: ["{{ env.FIGMA_KEY }}"]
        headers: {update: {Host: "localhost"}}
    """))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "URL changed" not in applied.stdout  # the first URL is no news
    cursor, vscode = tmp_path / ".cursor" / "mcp.json", tmp_path / ".vscode" / "mcp.json"
    cursor.parent.mkdir()
    cursor.write_text('{"mcpServers": {"other": {"url": "https://other.example/mcp"}}}')
    for client in ("cursor", "vscode", "claude-code"):
        wrote = run_tunnelctl("connect", "figma", "--client", client, "--write", cwd=tmp_path, env=env)
        assert wrote.returncode == 0 and "wrote 'figma'" in wrote.stdout, wrote.stdout + wrote.stderr
        again = run_tunnelctl("connect", "figma", "--client", client, "--write", cwd=tmp_path, env=env)
        assert "nothing changed" in again.stdout, again.stdout + again.stderr
    (tmp_path / ".env").write_text(f"FIGMA_KEY={KEY}\n")  # the key beside the manifest, not in the shell
    pasted = run_tunnelctl("connect", "figma", "--client", "claude-code", cwd=tmp_path,
                           env={name: value for name, value in env.items() if name != "FIGMA_KEY"})
    assert pasted.returncode == 0 and '"Authorization: Bearer $FIGMA_KEY"' in pasted.stdout, pasted.stderr
    assert "FIGMA_KEY is not set in this environment (a .env file tunnelctl read has it" in pasted.stderr
    assert f"set -a; . {tmp_path / '.env'}; set +a" in pasted.stderr  # the file it read, ready to paste
    assert "registers an empty key" in pasted.stderr and KEY not in pasted.stdout + pasted.stderr
    first = status_of(tmp_path, env)["mcp_url"]
    assert json.loads(cursor.read_text())["mcpServers"]["figma"]["url"] == first

    replaced = run_tunnelctl("apply", "--auto-approve", "--replace", "figma", cwd=tmp_path, env=env)
    assert replaced.returncode == 0, replaced.stdout + replaced.stderr
    second = status_of(tmp_path, env)["mcp_url"]
    assert second != first
    assert f"figma: URL changed: {first} → {second}" in replaced.stdout
    for path in (cursor, vscode, tmp_path / ".mcp.json"):
        assert f"figma: updated {path} to the new URL" in replaced.stdout
        assert first not in path.read_text() and second in path.read_text()
    assert json.loads(cursor.read_text())["mcpServers"]["other"] == {"url": "https://other.example/mcp"}
    assert KEY not in cursor.read_text() + vscode.read_text()

    pinggy.drop(token)  # Pinggy ends the session (its free tier does after 60 minutes): the client logs in again

    def moved():
        result = run_tunnelctl("status", "--json", cwd=tmp_path, env=env)
        (item,) = json.loads(result.stdout)["tunnels"]
        return (item, result.stderr) if item["mcp_url"] not in (None, second) else None

    from conftest import wait_until
    item, said = wait_until(moved, 60, "a new URL after the dropped session")
    assert item["previous_url"] == second and item["client_files_followed"] == [str(cursor), str(vscode),
                                                                                str(tmp_path / ".mcp.json")]
    assert f"figma: URL changed: {second} → {item['mcp_url']}" in said
    assert item["mcp_url"] in cursor.read_text()
    quiet = run_tunnelctl("status", cwd=tmp_path, env=env)
    assert "URL changed" not in quiet.stdout  # news once
