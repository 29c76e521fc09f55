"""check and connect: prove that the tunnels work end to end, and tell an MCP client how to reach one."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import manifest
from ..constants import EXIT_ERROR, EXIT_OK
from ..engine.registry import Opener, open_engines
from ..errors import UserError
from ..mcp.check import TunnelCheck
from ..mcp.client_config import Credential
from ..mcp.url_memory import UrlChange


@dataclass(frozen=True)
class CheckOptions:
    manifest: Path
    targets: tuple[str, ...] = ()
    timeout: float = 10
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConnectOptions:
    manifest: Path
    tunnel: str
    client: str
    reveal: bool = False
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()
    write: bool = False  # merge the entry into the client's own file
    file: Path | None = None  # that file; None: where the client keeps it (client_files.default_file)


class McpView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def check(self, project: str, results: list[TunnelCheck]) -> None: ...

    def error(self, line: str) -> None: ...

    def client_config(self, tunnel: str, client: str, url: str, text: str, revealed: bool) -> None:
        """What the MCP client needs; `revealed`: it holds the key the user asked to see, so it is not redacted."""

    def url_changes(self, changes: list[UrlChange], aside: bool = False) -> None: ...

    def wrote(self, line: str) -> None:
        """connect --write: what became of the client's file."""


def check(options: CheckOptions, view: McpView, engines: Opener = open_engines) -> int:
    from ..mcp import check as tunnel_check
    from ..mcp.protocol import edge_addresses
    from ..observe import status

    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    tunnels = [tunnel for tunnel in _targeted(loaded, options.targets)
               if not options.engines or tunnel.engine in options.engines]
    try:
        edge = edge_addresses()
    except ValueError as error:
        raise UserError(str(error)) from None
    if not 0 < options.timeout <= 600:
        raise UserError(f"--timeout {options.timeout:g} is out of range: give seconds above 0, at most 600")
    items, failures = status.gather_manifest(loaded, list(options.engines), engines)
    view.hide(secret for item in items for secret in item.command_secrets)
    results = tunnel_check.check_all(options.manifest, tunnels, items, options.timeout, edge)
    view.check(loaded.project, results)
    for failure in failures:
        view.error(failure)
    return EXIT_OK if not failures and all(result.passed for result in results) else EXIT_ERROR


def connect(options: ConnectOptions, view: McpView, engines: Opener = open_engines) -> int:
    from ..mcp import client_config, client_files, url_memory
    from ..mcp.protocol import edge_addresses, may_carry_keys, mcp_path
    from ..observe import status

    if options.write:  # before anything is asked of an engine
        client_files.refuse_fileless(options.client)
    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    (tunnel,) = _targeted(loaded, [options.tunnel])
    if not mcp_path(tunnel.settings):
        raise UserError(f"tunnel '{tunnel.name}' is not an MCP tunnel: add `mcp: true` to it in {options.manifest} "
                        "(or `mcp: {path: /other}`)")
    items, failures = status.gather_manifest(loaded, list(options.engines), engines)
    view.hide(secret for item in items for secret in item.command_secrets)
    item = next((item for item in items if item.tunnel == tunnel.name and item.in_manifest), None)
    url = item.mcp_url if item else None
    if item is None or url is None:
        for failure in failures:
            view.error(failure)
        state = item.state if item else "unknown"
        raise UserError(f"tunnel '{tunnel.name}' has no public URL (state: {state}): run tunnelctl apply, then "
                        "tunnelctl status")
    credential = client_config.credential(options.manifest, tunnel.name, tunnel.settings)
    if credential.scheme and not may_carry_keys(url, edge_addresses()):
        raise UserError(f"tunnel '{tunnel.name}' has no https URL ({url}): an MCP client would send the key over "
                        "plain http, where anyone on the way reads it; see tunnelctl status")
    text, notes = client_config.render(options.client, tunnel.name, url, credential, options.reveal)
    beside = options.manifest.absolute().parent / ".env"  # `. FILE` without a slash would search PATH
    dotenv = beside if beside.is_file() else next((file.absolute() for file in options.env_files), None)
    unexported = None if options.reveal else client_config.unexported_note(options.client, credential, os.environ,
                                                                           options.write, dotenv)
    notes += [unexported] if unexported else []
    for note in notes:
        view.error(f"note: {note}")
    view.url_changes(url_memory.note_urls(loaded.project, {tunnel.name: url}), aside=True)  # stdout is to paste
    if options.write:
        _write(options, loaded.project, tunnel.name, url, credential, view)
    else:
        view.client_config(tunnel.name, options.client, url, text, options.reveal)
    return EXIT_OK


def _write(options: ConnectOptions, project: str, name: str, url: str, credential: Credential,
           view: McpView) -> None:
    """Merge the tunnel's entry into the client's file, and remember the file so that it follows the URL."""
    from ..mcp import client_config, client_files, url_memory

    path = options.file or client_files.default_file(options.client)
    entry = client_config.document(options.client, name, url, credential, options.reveal)
    backup = client_files.write_entry(path, entry, secret=options.reveal and credential.scheme is not None)
    url_memory.remember_client_file(project, name, url_memory.ClientFile(options.client, str(path.absolute()), name),
                                    url)
    if backup is None:
        view.wrote(f"{path}: already has '{name}' at {url}; nothing changed")
    else:
        kept = f" (the previous file is {backup})" if backup else ""
        view.wrote(f"{path}: wrote '{name}' at {url}{kept}; tunnelctl will keep it pointed at the tunnel")


def _targeted(loaded: manifest.Manifest, names: Sequence[str]) -> list[manifest.Tunnel]:
    known = {tunnel.name for tunnel in loaded.tunnels}
    unknown = sorted(set(names) - known)
    if unknown:
        raise UserError(f"no tunnel named {', '.join(repr(name) for name in unknown)} in {loaded.path} "
                        f"(it has: {', '.join(sorted(known)) or 'none'})")
    return [tunnel for tunnel in loaded.tunnels if not names or tunnel.name in names]
