"""What is running: every tunnel of the manifest and every container of the project, with its public URLs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from ..desired.model import ALIVE_STATES, ContainerDetails, ObservedContainer
from ..desired.specs import HOST_NETWORK, forward_target, network_mode, secrets_in_command
from ..engine import Engine, Unreachable, login_file, registry
from ..engine.registry import Opener
from ..errors import UserError
from ..manifest import Manifest, Tunnel
from ..manifest.domain_checks import is_loopback
from ..mcp.protocol import mcp_path, mcp_url
from ..parallel import both, map_parallel
from . import probe
from .conditions import UP, UP_LOCAL_DOWN, client_session, local_down_note, local_side, serving_urls
from .pinggy_output import RECENT_ENTRIES, client_problem, read_session
from .token_holders import TokenHolders, token_digest

STUCK = "stuck"  # running, but its client will never connect: only a restart helps
# up at Pinggy, but the relay that carries visitors to the local server (engine/loopback.py) does not run: shown red,
# since visitors get an error until apply mends it
RELAY_DOWN = "relay down"


@dataclass(frozen=True)
class TunnelStatus:
    engine: str
    tunnel: str
    container: str | None
    in_manifest: bool
    state: str  # running, restarting, exited, created, paused, dead, missing
    exit_code: int | None = None
    uptime_seconds: float | None = None
    restarts: int | None = None
    local_host: str | None = None
    local_port: int | None = None
    listening: bool | None = None  # None: not checked (a remote engine, or a network this machine cannot reach)
    network: str | None = None  # the user-defined network the local server is on; None: this machine's
    urls: tuple[str, ...] = ()
    problem: str = ""
    command_secrets: frozenset[str] = frozenset()  # what to mask in `problem` when the manifest's secrets are unset
    mcp_path: str | None = None  # the MCP endpoint of an MCP tunnel
    domains: tuple[str, ...] = ()  # the manifest's domain forwardings: their URLs come first, as they stay put
    stuck: bool = False  # running, but its client will never connect (Pinggy's CLI lost its daemon)
    relay: str | None = None  # its relay's state (engine/loopback.py), "missing" when gone; None: it has none

    @property
    def mcp_url(self) -> str | None:
        return mcp_url(self.urls, self.mcp_path)

    @property
    def is_up(self) -> bool:
        """Up at Pinggy: running with public URLs, whether or not the local server listens yet."""
        return self.state == "running" and bool(self.urls)

    @property
    def relay_down(self) -> bool:
        return self.relay not in (None, "running")

    @property
    def healthy(self) -> bool:
        return self.in_manifest and self.is_up and not self.relay_down

    @property
    def condition(self) -> str:
        """The tunnel's state as a user sees it: up, up with its local server not listening, connecting (running,
        no URL yet: logging in, or refused and retrying), stuck (running, but its client will never connect), or else
        Docker's own state (exited, missing, ...)."""
        if self.is_up:
            return RELAY_DOWN if self.relay_down else UP_LOCAL_DOWN if self.listening is False else UP
        if self.stuck:
            return STUCK
        return "connecting" if self.state in ALIVE_STATES else self.state


def gather_manifest(loaded: Manifest, engine_names: list[str],
                    open_engines: Opener = registry.open_engines) -> tuple[list[TunnelStatus], list[str]]:
    """Every engine of the manifest (or those named), all at once: the statuses, and one line per engine that
    failed; an engine that fails never hides what the others hold."""
    engines = open_engines(loaded.engines, engine_names)

    def one(name: str) -> list[TunnelStatus] | str:
        engine = engines[name]
        if isinstance(engine, Unreachable):
            return engine.error
        try:
            return gather(engine, loaded.project, [t for t in loaded.tunnels if t.engine == name], loaded.trusted)
        except UserError as error:
            if len(engines) == 1:
                raise
            return error.message

    items, failures = [], []
    for name, found in zip(engines, map_parallel(one, engines, limit=max(1, len(engines))), strict=True):
        if isinstance(found, str):
            failures.append(f"error: engine '{name}': {found}")
        else:
            items += found
    return items, failures


def gather(engine: Engine, project: str, tunnels: Iterable[Tunnel], compare_tokens: bool = False) -> list[TunnelStatus]:
    """The engine's side: `tunnels` are those the manifest places on it. `compare_tokens` (a trusted manifest only):
    a tunnel that is not up is explained by another container of ours holding its token."""
    owned = engine.observe(project).owned
    listed = {container.tunnel: container for container in owned}
    wanted = {tunnel.name: tunnel for tunnel in tunnels}
    names = list(wanted) + sorted(set(listed) - set(wanted))
    # Every container's details, then every started one's current run's output, each asked all at once (the engine
    # answers them in turn without a round trip or a thread each); then each tunnel's own look (its port, and what
    # only some need: a file in the container, a network's member) side by side.
    details = {found.id: found for found in engine.inspect(container.id for container in owned)}
    outputs = engine.logs_of({found.id: found.started_at for found in details.values() if found.started_at},
                             tail=RECENT_ENTRIES)

    def one(name: str) -> TunnelStatus | None:
        tunnel = wanted.get(name)
        found = details.get(listed[name].id) if name in listed else None
        if found is None and tunnel is None:
            return None  # a container that left the manifest, and is gone since it was listed
        host, port = ((tunnel.settings.host, tunnel.settings.port) if tunnel
                      else forward_target(found.command) if found else (None, None))
        network = (network_mode(tunnel.settings, engine.kind) if tunnel and tunnel.settings.network
                   else found.network if found else HOST_NETWORK)
        listening, note = local_side(engine, network, host, port) if host and port else (None, "")
        base = TunnelStatus(engine=engine.name, tunnel=name, container=found.name if found else None,
                            in_manifest=tunnel is not None, state="missing", local_host=host, local_port=port,
                            listening=listening, mcp_path=mcp_path(tunnel.settings) if tunnel else None,
                            problem=note, domains=tuple(tunnel.settings.domains or ()) if tunnel else (),
                            network=None if network == HOST_NETWORK or is_loopback(host or "") else network)
        if found is None:
            return base
        debugger_port = tunnel.settings.debugger_port if tunnel else None
        seen = _with_container(engine, replace(base, relay=listed[name].relay_state), found, debugger_port,
                               outputs.get(found.id))
        if seen.relay_down and found.state == "running":
            why = (f"its relay to the local server is {seen.relay}, so visitors cannot reach {host}:{port}; "
                   "tunnelctl apply recreates the tunnel with its relay")
            seen = replace(seen, problem="; ".join(part for part in (why, seen.problem) if part))
        return replace(seen, urls=serving_urls(seen.urls, bool(tunnel and tunnel.settings.https_only)))

    def each_tunnel() -> list[TunnelStatus]:
        return [item for item in map_parallel(one, names) if item is not None]

    if not compare_tokens:
        return each_tunnel()
    # Who else holds a token takes a list of every project's containers, wanted when a tunnel runs without a URL:
    # when a live container printed none, that list is made while the tunnels are looked at, not after.
    if any(container.alive and "://" not in outputs.get(container.id, "") for container in owned):
        holders, statuses = both(lambda: TokenHolders(engine), each_tunnel)
        return _explained_by_token_holders(lambda: holders, project, owned, statuses)
    return _explained_by_token_holders(lambda: TokenHolders(engine), project, owned, each_tunnel())


def _explained_by_token_holders(token_holders: Callable[[], TokenHolders], project: str,
                                owned: Iterable[ObservedContainer], statuses: list[TunnelStatus]) -> list[TunnelStatus]:
    """Each tunnel that runs but is not up, explained by another container of ours that holds its token (asked of
    `token_holders` only when there is such a tunnel)."""
    containers = {container.name: container for container in owned}
    asking = {index: (containers[item.container].id, digest) for index, item in enumerate(statuses)
              if item.container in containers and item.state in ALIVE_STATES and not item.is_up
              and (digest := token_digest(containers[item.container].setting_digests,
                                          (containers[item.container].setting_values or {}).get("force")))}
    if not asking:
        return statuses
    holders = token_holders()
    explained = list(statuses)
    for index, (container_id, digest) in asking.items():
        holder = holders.holder(project, container_id, digest)
        if holder is not None:
            item = statuses[index]
            explained[index] = replace(item, problem="; ".join(part for part in (holder.problem(), item.problem)
                                                               if part))
    return explained


def down_reason(state: str, exit_code: int | None, last_line: str) -> str:
    """Why a tunnel without URLs is down, in words: the client's last line, unless that is only what it printed
    while it was up (its URLs), which says nothing about why it stopped."""
    if last_line and "://" not in last_line:
        return last_line
    if state in ("exited", "dead"):
        stopped = " (stopped from outside, e.g. docker stop)" if exit_code in (137, 143) else ""
        return f"the tunnel client exited with code {exit_code}{stopped}; tunnelctl apply starts it again"
    if state == "created":
        return "the container was created but never started; tunnelctl apply starts it"
    if state == "paused":
        return "the container is paused (docker unpause resumes it)"
    return "the tunnel client is logging in to Pinggy"


def _with_container(engine: Engine, base: TunnelStatus, found: ContainerDetails, debugger_port: int | None,
                    output: str | None) -> TunnelStatus:
    """`output`: the container's logs since it started (None: it never did)."""
    running = found.state == "running"
    session = client_session(engine, found.id, running, logs=output) if output is not None else None
    urls = session.urls if session and running else ()
    if running and not urls and debugger_port and engine.is_local:
        urls = probe.debugger_urls(debugger_port)
    urls = tuple(sorted(urls, key=lambda url: url.split("://", 1)[-1].split("/", 1)[0] not in base.domains))
    problem = session.refusal if session and session.refusal else ""
    if session and problem and session.retrying and running:
        problem += " (the client keeps retrying)"
    stuck = bool(session and session.daemon_died and running)
    if session and not urls and (stuck or not problem):  # a refusal stays the reason, and says what came of it
        problem = "; then ".join(part for part in (problem, client_problem(session)) if part)
    local_note = base.problem  # why the local side could not be checked, or where its service went
    if urls and base.listening is False and base.local_host and base.local_port:
        problem = local_down_note(base.local_host, base.local_port) + (f" ({local_note})" if local_note else "")
        local_note = ""
    elif not urls and not problem and running and found.restart_count == 0 and session:
        problem = session.last_line  # connecting in its first run: what it said so far is all it said
    elif not urls and not problem:  # exited, or restarted and not (yet) connected: the last words of any run say why
        recent = read_session(engine.logs(found.id, tail=50))  # settings it refused, it refuses at every run
        problem = (client_problem(recent) if recent.invalid_settings else "") or down_reason(
            found.state, found.exit_code, recent.last_line)
    return TunnelStatus(
        engine=base.engine, tunnel=base.tunnel, container=found.name, in_manifest=base.in_manifest, state=found.state,
        exit_code=found.exit_code,
        uptime_seconds=time.time() - found.started_at if running and found.started_at else None,
        restarts=found.restart_count, local_host=base.local_host, local_port=base.local_port,
        listening=base.listening, network=base.network, urls=urls,
        problem="; ".join(part for part in (problem, local_note) if part), mcp_path=base.mcp_path, domains=base.domains,
        # the login file is read only when there is something to mask: a refusal quotes the token
        command_secrets=frozenset(container_secrets(engine, found) if problem else secrets_in_command(found.command)),
        stuck=stuck, relay=base.relay)


def container_secrets(engine: Engine, found: ContainerDetails) -> set[str]:
    """The secrets a container was given, from its arguments and its login file (engine/login_file.py), to mask
    what it printed when the manifest cannot tell them."""
    login_user = engine.login_user(found.id) if login_file.reads_login(found.command) else None
    return secrets_in_command(found.command, login_user)
