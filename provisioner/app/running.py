"""status, doctor and logs: what runs for the manifest's project, on every engine it names, and whether it can."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import manifest
from ..constants import EXIT_DEGRADED, EXIT_ERROR, EXIT_OK
from ..engine import LogTail
from ..engine.registry import Opener, open_engines
from ..errors import UserError
from ..mcp.url_memory import UrlChange
from ..observe.status import TunnelStatus
from .doctor import Diagnosis


@dataclass(frozen=True)
class StatusOptions:
    manifest: Path
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogsOptions:
    manifest: Path
    tunnel: str
    tail: LogTail = 1000
    follow: bool = False
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoctorOptions:
    manifest: Path
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()


class DoctorView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def diagnosis(self, diagnosis: Diagnosis) -> None: ...


class StatusView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def status(self, project: str, items: list[TunnelStatus], grouped: bool, changes: list[UrlChange]) -> None: ...

    def error(self, line: str) -> None: ...


class LogsView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def output(self, lines: Iterator[str]) -> None: ...


def status(options: StatusOptions, view: StatusView, engines: Opener = open_engines) -> int:
    from ..observe.status import gather_manifest

    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    items, failures = gather_manifest(loaded, list(options.engines), engines)
    view.hide(secret for item in items for secret in item.command_secrets)  # tokens the manifest could not tell
    view.status(loaded.project, items, grouped=len(loaded.engines) > 1, changes=_moved(loaded.project, items))
    for failure in failures:
        view.error(failure)
    if failures:
        return EXIT_ERROR
    return EXIT_OK if all(item.healthy for item in items if item.in_manifest) else EXIT_DEGRADED


def _moved(project: str, items: list[TunnelStatus]) -> list[UrlChange]:
    """The tunnels of the manifest that are up at a URL other than the one tunnelctl last reported."""
    from ..mcp.url_memory import note_urls, reported_url

    current = {item.tunnel: reported_url(item.urls, item.mcp_path, item.domains)
               for item in items if item.in_manifest and item.is_up}
    return note_urls(project, {tunnel: url for tunnel, url in current.items() if url})


def doctor(options: DoctorOptions, view: DoctorView, engines: Opener = open_engines) -> int:
    from .doctor import diagnose

    diagnosis = diagnose(options.manifest, list(options.env_files), list(options.engines), engines)
    view.hide(diagnosis.secrets)
    view.diagnosis(diagnosis)
    return EXIT_OK if diagnosis.healthy else EXIT_ERROR


def logs(options: LogsOptions, view: LogsView, engines: Opener = open_engines) -> int:
    from ..desired.specs import secrets_in_command
    from ..engine import Unreachable
    from ..observe.pinggy_output import collapse_frames

    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    found = None
    unreachable: list[str] = []
    for name, engine in engines(loaded.engines, options.engines).items():
        if isinstance(engine, Unreachable):
            unreachable.append(f"engine '{name}': {engine.error}")  # it may hold the container: say so below
            continue
        mine = [container for container in engine.observe(loaded.project).owned if container.tunnel == options.tunnel]
        inspected = engine.inspect([mine[0].id]) if mine else []
        if inspected:
            found = engine, inspected[0]
            break
    if found is None and unreachable:
        raise UserError(f"tunnel '{options.tunnel}' has no container on the engines that answered; "
                        + "; ".join(unreachable))
    if found is None:
        raise UserError(f"tunnel '{options.tunnel}' has no container in project '{loaded.project}': "
                        "check the name (tunnelctl status lists them) or run tunnelctl apply")
    engine, details = found
    view.hide(secrets_in_command(details.command))  # the secrets that are not set here are in its arguments
    output = (engine.follow_logs(details.id, tail=options.tail) if options.follow
              else iter([engine.logs(details.id, tail=options.tail)]))
    view.output(collapse_frames(output))  # whole lines, so that a secret split across chunks is still masked
    return EXIT_OK
