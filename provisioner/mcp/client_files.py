"""`connect --write`: the tunnel's entry merged into an MCP client's own configuration file, and brought along when the
tunnel's URL moves.

Each client's file and shape, from its documentation: Cursor `.cursor/mcp.json` in the project (or `~/.cursor/mcp.json`
for every project) and Windsurf `~/.codeium/windsurf/mcp_config.json`, both `{"mcpServers": {NAME: …}}`; VS Code
`.vscode/mcp.json`, `{"inputs": […], "servers": {NAME: …}}`; Claude Desktop `claude_desktop_config.json` in its
configuration folder, `{"mcpServers": {NAME: …}}`; Claude Code's project file `.mcp.json`, `{"mcpServers": {NAME:
{"type": "http", …}}}`.

A merge replaces the tunnel's own entry (and VS Code's prompt of the same id) and keeps every other entry and key; a
file that already says the same is not touched (a second run changes nothing); a change is written to a temporary
file renamed over the old one, after a copy of the old one beside it (`FILE.bak`). A file that is not a JSON object
(a typo, VS Code's comments) is refused with where and why, and left as it is.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import read_bounded, write_replacing
from .url_memory import ClientFile

FILE_LIMIT = 4 << 20
BACKUP_SUFFIX = ".bak"


FILE_CLIENTS = ("claude-code", "cursor", "vscode", "windsurf", "claude-desktop")


def default_file(client: str, home: Path | None = None, system: str | None = None) -> Path:
    """Where the client reads its MCP servers: the project's file for clients that have one (in the current folder),
    else the user's."""
    refuse_fileless(client)
    home = home or Path.home()
    project = {"cursor": Path(".cursor/mcp.json"), "vscode": Path(".vscode/mcp.json"), "claude-code": Path(".mcp.json")}
    if client in project:
        return project[client]
    if client == "windsurf":
        return home / ".codeium" / "windsurf" / "mcp_config.json"
    system = system or platform.system()  # Claude Desktop: its configuration folder
    if system == "Darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if system == "Windows":
        return Path(os.environ.get("APPDATA") or home / "AppData" / "Roaming") / "Claude" / "claude_desktop_config.json"
    return home / ".config" / "Claude" / "claude_desktop_config.json"


def refuse_fileless(client: str) -> None:
    if client not in FILE_CLIENTS:
        raise UserError(f"--client {client} has no configuration file of its own: give --write a client that has "
                        f"one ({', '.join(FILE_CLIENTS)})")


def read_document(path: Path) -> dict[str, Any] | None:
    """The file's JSON object; None when there is no file yet."""
    try:
        data = read_bounded(path, FILE_LIMIT, "MCP client configuration")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; tunnelctl changed nothing: fix the file or name another") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); tunnelctl changed "
                        "nothing: fix the file (comments are not kept: remove them) or name another") from None
    if not isinstance(document, dict):
        raise UserError(f"{path}: holds a JSON {type(document).__name__}, not an object; tunnelctl changed nothing: "
                        "fix the file or name another")
    return document


def merged(document: dict[str, Any], entry: dict[str, Any], path: Path) -> dict[str, Any]:
    """`document` with the tunnel's `entry` in it: its servers by name, VS Code's prompts by id, in place."""
    result = copy.deepcopy(document)
    for key, value in entry.items():
        if key == "inputs":
            inputs = result.setdefault("inputs", [])
            if not isinstance(inputs, list):
                raise UserError(f"{path}: 'inputs' is not a list; tunnelctl changed nothing: fix the file")
            for prompt in value:
                same = [index for index, known in enumerate(inputs)
                        if isinstance(known, dict) and known.get("id") == prompt["id"]]
                if same:
                    inputs[same[0]] = prompt
                else:
                    inputs.append(prompt)
            continue
        servers = result.setdefault(key, {})
        if not isinstance(servers, dict):
            raise UserError(f"{path}: '{key}' is not an object; tunnelctl changed nothing: fix the file")
        servers.update(value)
    return result


def write_entry(path: Path, entry: dict[str, Any], secret: bool) -> str | None:
    """Merge `entry` into the file at `path`; the backup's path when it changed an existing file, "" when it created
    the file, None when the file already said the same. `secret`: the entry holds a key."""
    if secret:
        refuse_tracked(path)
    document = read_document(path)
    updated = merged(document or {}, entry, path)
    if updated == document:
        return None
    _replace(path, updated, document is not None, secret)
    return str(path) + BACKUP_SUFFIX if document is not None else ""


def _replace(path: Path, document: dict[str, Any], existed: bool, secret: bool) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path.parent}: cannot create the folder: {error.strerror}") from None
    mode = 0o600 if secret else 0o644
    if existed:
        backup = Path(str(path) + BACKUP_SUFFIX)
        mode = 0o600 if secret else os.stat(path).st_mode & 0o777
        write_replacing(backup, path.read_text(encoding="utf-8"), 0o600)  # it may hold keys the user revealed
    write_replacing(path, json.dumps(document, indent=2, ensure_ascii=False) + "\n", mode)


def refuse_tracked(path: Path) -> None:
    """A key goes only into a file git would not commit: outside any work tree, or ignored by it."""
    folder = next(parent for parent in [path.parent.absolute(), *path.parent.absolute().parents] if parent.is_dir())
    why = f"{path}: --reveal would write the key into a file of a git work tree that git does not ignore"
    fix = "add it to .gitignore, name a file outside the repository, or leave out --reveal"
    if shutil.which("git") is None:
        if any((parent / ".git").exists() for parent in [folder, *folder.parents]):
            raise UserError(f"{why} (git is not installed to ask whether it is ignored): {fix}")
        return
    git = ["git", "-c", "core.fsmonitor=false", "-C", str(folder)]
    inside = subprocess.run([*git, "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True,
                            timeout=30, check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        if any((parent / ".git").exists() for parent in [folder, *folder.parents]):
            raise UserError(f"{why} (git could not say: {inside.stderr.strip() or 'no answer'}): {fix}")
        return
    target = str(path.absolute())
    ignored = subprocess.run([*git, "check-ignore", "-q", target], capture_output=True, timeout=30, check=False)
    if ignored.returncode != 0:
        raise UserError(f"{why}: {fix}")


def follow(files: list[ClientFile], previous: str, current: str) -> tuple[list[str], list[tuple[str, str]]]:
    """Point each file's entry for the tunnel at the new URL: (files updated, (file, why not and what to do) for each
    left stale). Only the old URL is replaced, wherever the entry holds it; an entry that no longer holds it was
    changed by someone else and is left alone."""
    followed, stale = [], []
    for written in files:
        path = Path(written.file)
        fix = f"; rerun tunnelctl connect {written.name} --client {written.client} --write {written.file}"
        try:
            document = read_document(path)
        except UserError as error:
            stale.append((written.file, error.message + fix))
            continue
        entry = _entry(document, written.name)
        if document is None or entry is None:
            stale.append((written.file, f"it no longer has the server '{written.name}'{fix}"))
            continue
        moved = _replaced(entry, previous, current)
        if moved == entry:
            if current in json.dumps(entry):
                followed.append(written.file)  # already there: another run brought it along
            else:
                stale.append((written.file, f"its '{written.name}' entry does not hold the old URL, so someone "
                                            f"changed it: left alone{fix}"))
            continue
        entry.clear()
        entry.update(moved)
        try:
            _replace(path, document, existed=True, secret=False)
        except UserError as error:
            stale.append((written.file, error.message + fix))
            continue
        followed.append(written.file)
    return followed, stale


def _entry(document: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    for key in ("mcpServers", "servers"):
        servers = (document or {}).get(key)
        if isinstance(servers, dict) and isinstance(servers.get(name), dict):
            return servers[name]
    return None


def _replaced(value: Any, previous: str, current: str) -> Any:
    if isinstance(value, str):
        return current if value == previous else value
    if isinstance(value, list):
        return [_replaced(item, previous, current) for item in value]
    if isinstance(value, dict):
        return {key: _replaced(item, previous, current) for key, item in value.items()}
    return value
