"""`connect --write` without an engine: each client's own file merged (twice: the second run is a no-op), a broken file
refused with nothing lost, a key only where git would not commit it; and the memory of reported URLs that makes a
moved URL news and brings the written files along."""

from __future__ import annotations

import json
import subprocess

import pytest

from conftest import run_tunnelctl
from provisioner.errors import UserError
from provisioner.mcp import url_memory
from provisioner.mcp.client_config import Credential, document
from provisioner.mcp.client_files import FILE_CLIENTS, default_file, follow, write_entry
from provisioner.mcp.url_memory import ClientFile, note_urls, remember_client_file, reported_url, state_file

URL = "https://rnabc-p1234.a.pinggy.link/mcp"
NEW_URL = "https://rnxyz-p5678.a.pinggy.link/mcp"
KEY = "0123456789abcdef" * 4
CRED = Credential("Bearer", "FIGMA_KEY", True, KEY)

# What a user already has in each client's file: another server, and keys of the client's own.
EXISTING: dict[str, dict] = {
    "claude-code": {"mcpServers": {"other": {"type": "stdio", "command": "npx", "args": ["x"]}}},
    "cursor": {"mcpServers": {"other": {"url": "https://other.example/mcp"}}, "theme": "dark"},
    "vscode": {"inputs": [{"type": "promptString", "id": "other-key", "password": True}],
               "servers": {"other": {"type": "stdio", "command": "x"}}},
    "windsurf": {"mcpServers": {"other": {"serverUrl": "https://other.example/mcp"}}},
    "claude-desktop": {"mcpServers": {"other": {"command": "x"}}, "globalShortcut": "Ctrl+Space"},
}


@pytest.mark.parametrize("client", FILE_CLIENTS)
def test_write_merges_into_the_clients_file_keeps_the_rest_and_a_second_run_changes_nothing(tmp_path, client):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(EXISTING[client], indent=4))
    entry = document(client, "figma", URL, CRED)
    backup = write_entry(path, entry, secret=False)
    assert backup == f"{path}.bak" and json.loads((tmp_path / "config.json.bak").read_text()) == EXISTING[client]
    written = json.loads(path.read_text())
    servers = written.get("mcpServers") or written["servers"]
    assert set(servers) == {"other", "figma"} and servers["other"] == (EXISTING[client].get("mcpServers") or
                                                                       EXISTING[client]["servers"])["other"]
    assert {key: value for key, value in written.items() if key not in ("mcpServers", "servers", "inputs")} == {
        key: value for key, value in EXISTING[client].items() if key not in ("mcpServers", "servers", "inputs")}
    assert URL in json.dumps(servers["figma"]) and KEY not in path.read_text()
    if client == "vscode":
        assert [prompt["id"] for prompt in written["inputs"]] == ["other-key", "figma-access-key"]
    if client == "claude-code":
        assert servers["figma"] == {"type": "http", "url": URL, "headers": {"Authorization": "Bearer ${FIGMA_KEY}"}}
    before = path.stat().st_mtime_ns, path.read_text()
    assert write_entry(path, entry, secret=False) is None  # the same again: not touched
    assert (path.stat().st_mtime_ns, path.read_text()) == before


@pytest.mark.parametrize("broken", ['{"mcpServers": {"other": ', "// a comment\n{}", "[1, 2]", '{"servers": []}'])
def test_a_broken_file_is_refused_with_where_and_nothing_is_lost(tmp_path, broken):
    path = tmp_path / "mcp.json"
    path.write_text(broken)
    with pytest.raises(UserError) as refused:
        write_entry(path, document("vscode", "figma", URL, CRED), secret=False)
    assert str(path) in refused.value.message and "tunnelctl changed nothing" in refused.value.message
    assert path.read_text() == broken and sorted(item.name for item in tmp_path.iterdir()) == ["mcp.json"]


def test_a_new_file_and_its_folder_are_created(tmp_path):
    path = tmp_path / ".cursor" / "mcp.json"
    assert write_entry(path, document("cursor", "figma", URL, CRED), secret=False) == ""
    assert json.loads(path.read_text())["mcpServers"]["figma"]["url"] == URL


def test_a_revealed_key_goes_only_where_git_would_not_commit_it(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("secret.json\n")
    entry = document("cursor", "figma", URL, CRED, reveal=True)
    with pytest.raises(UserError, match="git work tree that git does not ignore"):
        write_entry(tmp_path / ".cursor" / "mcp.json", entry, secret=True)
    assert not (tmp_path / ".cursor" / "mcp.json").exists()
    write_entry(tmp_path / "secret.json", entry, secret=True)
    assert KEY in (tmp_path / "secret.json").read_text() and (tmp_path / "secret.json").stat().st_mode & 0o077 == 0
    outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
    write_entry(outside, entry, secret=True)
    assert KEY in outside.read_text()


def test_the_json_form_has_no_file_to_write_into(tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\ntunnels:\n  - {name: figma, port: 3845, mcp: true}\n")
    refused = run_tunnelctl("connect", "figma", "--client", "json", "--write", "out.json", cwd=tmp_path)
    assert refused.returncode == 1 and not (tmp_path / "out.json").exists()
    assert refused.stderr.strip().splitlines() == [
        "error: --client json has no configuration file of its own: give --write a client that has one "
        "(claude-code, cursor, vscode, windsurf, claude-desktop)"]


def test_each_clients_default_file_is_where_its_docs_say(tmp_path):
    assert str(default_file("cursor")) == ".cursor/mcp.json" and str(default_file("vscode")) == ".vscode/mcp.json"
    assert str(default_file("claude-code")) == ".mcp.json"
    assert default_file("windsurf", tmp_path) == tmp_path / ".codeium/windsurf/mcp_config.json"
    assert default_file("claude-desktop", tmp_path, "Darwin") == \
        tmp_path / "Library/Application Support/Claude/claude_desktop_config.json"
    assert default_file("claude-desktop", tmp_path, "Linux") == tmp_path / ".config/Claude/claude_desktop_config.json"
    with pytest.raises(UserError, match="has no configuration file of its own"):
        default_file("json")


def test_a_moved_url_is_news_once_and_the_written_files_follow(tmp_path):
    cursor, desktop, edited = tmp_path / "cursor.json", tmp_path / "desktop.json", tmp_path / "edited.json"
    for path, client in ((cursor, "cursor"), (desktop, "claude-desktop"), (edited, "cursor")):
        path.write_text(json.dumps(EXISTING[client]))
        write_entry(path, document(client, "figma", URL, CRED), secret=False)
        remember_client_file("p", "figma", ClientFile(client, str(path), "figma"), URL)
    edited.write_text(edited.read_text().replace(URL, "https://mine.example/mcp"))
    assert note_urls("p", {"figma": URL}) == []  # what was written is what was reported
    [change] = note_urls("p", {"figma": NEW_URL})
    assert (change.tunnel, change.previous, change.current) == ("figma", URL, NEW_URL)
    assert change.followed == (str(cursor), str(desktop))
    assert change.stale == ((str(edited), "its 'figma' entry does not hold the old URL, so someone changed it: left "
                                          f"alone; rerun tunnelctl connect figma --client cursor --write {edited}"),)
    assert json.loads(cursor.read_text())["mcpServers"] == {"other": {"url": "https://other.example/mcp"},
                                                            "figma": {"url": NEW_URL, "headers": {
                                                                "Authorization": "Bearer ${env:FIGMA_KEY}"}}}
    assert json.loads(desktop.read_text())["mcpServers"]["figma"]["args"][1] == NEW_URL
    assert json.loads(desktop.read_text())["globalShortcut"] == "Ctrl+Space"
    assert note_urls("p", {"figma": NEW_URL}) == []  # news once
    assert KEY not in state_file().read_text() and state_file().stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"urls": 5, "clients": {"p/figma": [3]}}'])
def test_a_missing_or_corrupt_memory_is_empty_not_an_error(content):
    path = state_file()
    if content:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    assert note_urls("p", {"figma": URL}) == []
    assert json.loads(path.read_text())["urls"] == {"p/figma": URL}


def test_a_file_that_went_away_is_stale_not_an_error(tmp_path):
    followed, stale = follow([ClientFile("cursor", str(tmp_path / "gone.json"), "figma")], URL, NEW_URL)
    assert followed == [] and stale == [(str(tmp_path / "gone.json"), "it no longer has the server 'figma'; rerun "
                                         f"tunnelctl connect figma --client cursor --write {tmp_path / 'gone.json'}")]


def test_the_reported_url_prefers_a_domain_then_the_mcp_endpoint_then_https():
    urls = ("http://rn1.a.pinggy.link", "https://rn1.a.pinggy.link", "http://mcp.example.com",
            "https://mcp.example.com")
    assert reported_url(urls, "/mcp", ("mcp.example.com",)) == "https://mcp.example.com/mcp"
    assert reported_url(urls, "/mcp") == "https://rn1.a.pinggy.link/mcp"
    assert reported_url(urls, None) == "https://rn1.a.pinggy.link"
    assert reported_url((), None) is None
    assert url_memory.state_file({"XDG_STATE_HOME": "/x"}).as_posix() == "/x/tunnelctl/urls.json"
    assert url_memory.state_file({"XDG_STATE_HOME": "relative"}).parts[-4:] == (".local", "state", "tunnelctl",
                                                                                "urls.json")

