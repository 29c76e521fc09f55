"""What tunnelctl last reported of each tunnel's public URL, and which MCP client files it wrote for the tunnel, so
that a URL that moved is news and those files can follow it.

A small per-user state file, `$XDG_STATE_HOME/tunnelctl/urls.json` (by default `~/.local/state/tunnelctl/urls.json`),
mode 0600: URLs, and per tunnel the client files `connect --write` wrote (client, absolute path, server name). Never a
key: `connect --write --reveal` writes the key into the client's file, not here. A missing, unreadable or corrupt state
file is an empty memory (the next report starts it again), and a state file that cannot be written is not an error
either: the notice is a courtesy, the tunnels are what the command is about.

Tunnels are known by project and name (`figma/figma`): the project is what owns the containers on every engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..files import read_bounded, write_private
from .protocol import mcp_url

STATE_LIMIT = 1 << 20


@dataclass(frozen=True)
class ClientFile:
    """A client configuration file `connect --write` put the tunnel's entry in."""

    client: str
    file: str  # absolute
    name: str  # the server's name in the file


@dataclass(frozen=True)
class UrlChange:
    """A tunnel whose URL differs from the one tunnelctl last reported, and what became of the files it wrote."""

    tunnel: str
    previous: str
    current: str
    followed: tuple[str, ...] = ()  # client files now pointing at the new URL
    stale: tuple[tuple[str, str], ...] = ()  # (client file, why it still names the old URL)


def state_file(environment: Mapping[str, str] = os.environ) -> Path:
    base = environment.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "tunnelctl" / "urls.json"


def reported_url(urls: Iterable[str], mcp_endpoint: str | None, domains: Iterable[str] = ()) -> str | None:
    """The URL a user is given for a tunnel: on one of its domains when it has them (those stay put), the MCP
    endpoint of an MCP tunnel, else its first https URL (or its first)."""
    stable = set(domains)
    ordered = sorted(urls, key=lambda url: url.split("://", 1)[-1].split("/", 1)[0] not in stable)
    if mcp_endpoint:
        return mcp_url(tuple(ordered), mcp_endpoint)
    return next((url for url in ordered if url.startswith("https://")), ordered[0] if ordered else None)


def _key(project: str, tunnel: str) -> str:
    return f"{project}/{tunnel}"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_bounded(path, STATE_LIMIT, "tunnelctl state file"))
    except (OSError, UserError, ValueError):
        return {"urls": {}, "clients": {}}
    if not isinstance(data, dict):
        return {"urls": {}, "clients": {}}
    urls = data["urls"] if isinstance(data.get("urls"), dict) else {}
    clients = data["clients"] if isinstance(data.get("clients"), dict) else {}
    return {"urls": {key: url for key, url in urls.items() if isinstance(url, str)},
            "clients": {key: [entry for entry in entries if isinstance(entry, dict) and
                              all(isinstance(entry.get(field), str) for field in ("client", "file", "name"))]
                        for key, entries in clients.items() if isinstance(entries, list)}}


def _save(path: Path, data: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_private(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    except (OSError, UserError):
        pass  # not an error: the next report tries again


def note_urls(project: str, current: Mapping[str, str], path: Path | None = None) -> list[UrlChange]:
    """Remember each tunnel's URL as reported now; the tunnels whose URL moved since the last report, with the client
    files tunnelctl wrote for them brought along (or said to be stale)."""
    path = path or state_file()
    data = _load(path)
    moved, learned = [], False
    for tunnel, url in current.items():
        previous = data["urls"].get(_key(project, tunnel))
        if previous != url:
            data["urls"][_key(project, tunnel)] = url
            learned = True
            if previous:
                moved.append((tunnel, previous, url))
    if learned:  # a status that finds every URL where it was writes nothing
        _save(path, data)
    if not moved:
        return []
    from .client_files import follow  # only for news: it brings platform and subprocess, a status needs neither

    changes = []
    for tunnel, previous, url in moved:
        files = [ClientFile(**entry) for entry in data["clients"].get(_key(project, tunnel), [])]
        followed, stale = follow(files, previous, url)
        changes.append(UrlChange(tunnel, previous, url, tuple(followed), tuple(stale)))
    return changes


def remember_client_file(project: str, tunnel: str, written: ClientFile, url: str, path: Path | None = None) -> None:
    """`connect --write` put the tunnel's entry in a file: follow it when the URL moves."""
    path = path or state_file()
    data = _load(path)
    entries = data["clients"].setdefault(_key(project, tunnel), [])
    entry = {"client": written.client, "file": written.file, "name": written.name}
    if entry not in entries:
        entries.append(entry)
    data["urls"][_key(project, tunnel)] = url
    _save(path, data)
