"""status, doctor and logs: what runs for the manifest's project, on every engine it names, and whether it can."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .. import manifest
from ..constants import EXIT_DEGRADED, EXIT_ERROR, EXIT_OK
from ..desired.model import ContainerDetails
from ..engine import Engine, LogTail
from ..engine.registry import Opener, open_engines
from ..errors import UserError
from ..mcp.url_memory import UrlChange
from ..observe.status import TunnelStatus

if TYPE_CHECKING:  # status and logs do not load doctor's code
    from .doctor import Diagnosis


@dataclass(frozen=True)
class StatusOptions:
    manifest: Path
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogsOptions:
    manifest: Path
    tunnel: str | None  # None: every tunnel of the project
    tail: LogTail = 1000
    follow: bool = False
    since: float | None = None  # seconds since the epoch
    timestamps: bool = False
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


class WatchView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def status_refresh(self, project: str, items: list[TunnelStatus], grouped: bool, failures: list[str]) -> None:
        """The status again: drawn over the last one on a terminal."""


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


def watch_status(options: StatusOptions, view: WatchView, interval: float, engines: Opener = open_engines) -> int:
    """status again every `interval` seconds until Ctrl-C, which is how a watch ends (exit 0). Ctrl-C only asks the
    loop to stop, so that it never lands inside a look at the engines (their threads, their connections)."""
    import signal
    import threading

    from ..observe.status import gather_manifest

    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.is_set():
            items, failures = gather_manifest(loaded, list(options.engines), engines)
            view.hide(secret for item in items for secret in item.command_secrets)
            view.status_refresh(loaded.project, items, len(loaded.engines) > 1, failures)
            stop.wait(interval)
    finally:
        signal.signal(signal.SIGINT, previous)
    return EXIT_OK


def doctor(options: DoctorOptions, view: DoctorView, engines: Opener = open_engines) -> int:
    from .doctor import diagnose

    diagnosis = diagnose(options.manifest, list(options.env_files), list(options.engines), engines)
    view.hide(diagnosis.secrets)
    view.diagnosis(diagnosis)
    return EXIT_OK if diagnosis.healthy else EXIT_ERROR


def logs(options: LogsOptions, view: LogsView, engines: Opener = open_engines) -> int:
    """One tunnel's output, or (no NAME) every tunnel's, each line after `name | ` as compose shows services."""
    from ..engine import Unreachable
    from ..observe.status import container_secrets

    loaded = manifest.load(options.manifest, env_files=options.env_files, need_secrets=False)
    view.hide(loaded.secrets)
    found: list[tuple[Engine, ContainerDetails]] = []
    unreachable: list[str] = []
    for name, engine in engines(loaded.engines, options.engines).items():
        if isinstance(engine, Unreachable):
            unreachable.append(f"engine '{name}': {engine.error}")  # it may hold the container: say so below
            continue
        owned = [container for container in engine.observe(loaded.project).owned
                 if options.tunnel is None or container.tunnel == options.tunnel]
        order = {tunnel.name: index for index, tunnel in enumerate(loaded.tunnels)}  # the manifest's order
        owned.sort(key=lambda container: (order.get(container.tunnel, len(order)), container.tunnel))
        found += [(engine, details) for details in engine.inspect(container.id for container in owned)]
        if options.tunnel is not None and found:
            break
    who = f"tunnel '{options.tunnel}'" if options.tunnel else f"project '{loaded.project}'"
    if not found and unreachable:
        raise UserError(f"{who} has no container on the engines that answered; " + "; ".join(unreachable))
    if not found:
        raise UserError(f"{who} has no container" + (f" in project '{loaded.project}': check the name (tunnelctl "
                        "status lists them) or run tunnelctl apply" if options.tunnel else ": run tunnelctl apply"))
    for holder, details in found:  # the secrets that are not set here are in its arguments and login file
        view.hide(container_secrets(holder, details))
    if options.tunnel is not None:
        output = _lines_of(*found[0], options)
    else:
        width = max(len(details.tunnel) for _, details in found)
        streams = [_prefixed(_lines_of(engine, details, options), f"{details.tunnel:<{width}} | ")
                   for engine, details in found]
        output = _interleaved(streams) if options.follow else _in_order(streams, options.timestamps)
    try:
        view.output(output)
    except KeyboardInterrupt:  # how a follow ends
        pass
    return EXIT_OK


def _lines_of(engine: Engine, details: ContainerDetails, options: LogsOptions) -> Iterator[str]:
    """One container's output, whole lines (so that a secret split across chunks is still masked)."""
    from ..observe.pinggy_output import collapse_frames

    output = (_followed(engine, details.id, options) if options.follow
              else iter([engine.logs(details.id, options.tail, options.since, options.timestamps)]))
    return collapse_frames(output, options.timestamps)


def _followed(engine: Engine, container_id: str, options: LogsOptions) -> Iterator[str]:
    """The engine ends a follow when the container stops; a tunnel's container is restarted (by its policy, or by
    hand), so the follow starts again where it ended, for as long as the container exists."""
    import time

    tail, since = options.tail, options.since
    while True:
        yield from engine.follow_logs(container_id, tail, since, options.timestamps)
        tail, since = "all", time.time()
        time.sleep(1)
        if not engine.inspect([container_id]):
            return


def _prefixed(lines: Iterator[str], prefix: str) -> Iterator[str]:
    for line in lines:
        yield prefix + line if line.endswith("\n") else prefix + line + "\n"


def _in_order(streams: list[Iterator[str]], by_time: bool) -> Iterator[str]:
    """Tunnel after tunnel; with timestamps, every line in time order, as they were written."""
    if not by_time:
        for stream in streams:
            yield from stream
        return
    lines = [line for stream in streams for line in stream]
    yield from sorted(lines, key=lambda line: line.partition(" | ")[2].partition(" ")[0])


def _interleaved(streams: list[Iterator[str]]) -> Iterator[str]:
    """Every stream's lines as they come (one reader thread each), until all end or Ctrl-C."""
    import queue
    import threading

    arrived: queue.Queue[str | None] = queue.Queue()

    def read(stream: Iterator[str]) -> None:
        try:
            for line in stream:
                arrived.put(line)
        finally:
            arrived.put(None)

    for stream in streams:
        threading.Thread(target=read, args=(stream,), daemon=True).start()
    running = len(streams)
    while running:
        line = arrived.get()
        if line is None:
            running -= 1
        else:
            yield line
