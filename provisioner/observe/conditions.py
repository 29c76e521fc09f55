"""A tunnel's condition in words (what status and apply's readiness both say), and whether its local server
listens, judged from where the server is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ..desired.model import CLIENT_ENVIRONMENT
from ..desired.specs import HOST_NETWORK
from ..engine import Engine
from ..manifest.domain_checks import is_loopback
from . import probe
from .pinggy_output import (
    RECENT_ENTRIES,
    SessionOutput,
    copied_daemon_log,
    read_daemon_log,
    read_session,
    with_daemon_log,
)

# A tunnel up at Pinggy; with its local server not listening yet it is still up (the normal state at login).
UP, UP_LOCAL_DOWN = "up", "up, local server not listening"
# Where Pinggy's CLI keeps its daemon log in a tunnel container (its XDG_STATE_HOME), and how much of it to read.
DAEMON_LOG = f"{CLIENT_ENVIRONMENT['XDG_STATE_HOME']}/pinggy-cli/logs/daemon.log"
DAEMON_LOG_TAIL = 64 * 1024


def client_session(engine: Engine, container_id: str, running: bool, since: float | None = None,
                   logs: str | None = None) -> SessionOutput:
    """What the tunnel client says of its session: its output, and, for Pinggy's CLI while it runs, its daemon log,
    the only place that says a session dropped, a login was refused or the server cannot be reached (stdout keeps
    showing the dead URLs, or only a spinner). Its launcher copies that log into the container's logs (layout 4,
    engine/loopback.py), which outlive the client: an exited one still says why its last attempt failed. A container
    made before is asked for the file itself while it runs (a `docker exec`, about a second). `logs`: its recent
    output since `since`, when the caller read it already (status reads every container's at once)."""
    if logs is None:
        logs = engine.logs(container_id, since=since, tail=RECENT_ENTRIES)
    session = read_session(logs)
    if not session.is_cli:
        return session
    copied = copied_daemon_log(logs)
    if not running:
        return with_daemon_log(session, read_daemon_log(copied)) if copied else session
    text = copied or engine.read_file(container_id, DAEMON_LOG, DAEMON_LOG_TAIL)
    if not text:
        return session
    daemon = read_daemon_log(text)
    session = with_daemon_log(session, daemon)
    if not session.urls and daemon.daemon_pid and not _process_alive(engine, container_id, daemon.daemon_pid):
        return replace(session, daemon_died=True, retrying=False)
    return session


def _process_alive(engine: Engine, container_id: str, pid: int) -> bool:
    """Whether process `pid` of the container still runs: its /proc entry, read as any file (None: gone). node, the
    reader in the CLI's image, reads it as empty (the kernel gives /proc files no size); a reader that shows its
    state shows a zombie as dead too."""
    stat = engine.read_file(container_id, f"/proc/{pid}/stat", 512)
    return stat is not None and stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


def serving_urls(urls: Iterable[str], https_only: bool) -> tuple[str, ...]:
    """The URLs that serve: with `https_only`, Pinggy answers http:// with a redirect, so only https:// counts."""
    return tuple(url for url in urls if not https_only or url.startswith("https://"))


def local_down_note(host: str, port: int) -> str:
    return (f"nothing listens on {host}:{port} yet; the tunnel is up and carries traffic once the local server "
            "starts; if it should be running already, check the port")


def local_side(engine: Engine, network: str, host: str, port: int) -> tuple[bool | None, str]:
    """Whether a tunnel's server listens, judged from where it is: (listening, "") — or (None, why it cannot be told).

    A server on the user's machine (host networking, or Docker Desktop reaching localhost) is checked at its own
    address; a service on a user-defined network at its container's address on that network, which only an engine
    whose networks this machine can route to (rootful, not in a VM) lets us reach.
    """
    if not engine.is_local:
        return None, ""  # another machine's ports: nothing to say from here
    if network == HOST_NETWORK or is_loopback(host):
        return probe.listening(host, port), ""
    if not engine.kind.networks_reachable_from_host:
        return None, f"{host}:{port} cannot be checked from here: network '{network}' is inside {engine.kind.label}"
    address = engine.address_in_network(network, host)
    if address is None:
        return False, f"no running container on network '{network}' answers to '{host}'"
    return probe.listening(address, port), ""
