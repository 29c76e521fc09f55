"""Desired state: turn each resolved tunnel into the container spec that runs its Pinggy ssh client."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..engine import login_file, loopback
from ..engine.docker_form import hardening_arguments, log_driver_options
from ..engine.platforms import DESKTOP_HOST, DOCKER_DESKTOP, LINUX_DOCKER, EngineKind
from ..manifest import Manifest, Tunnel
from ..manifest.domain_checks import is_loopback, runs_pinggy_cli
from ..manifest.options import remote_words
from ..manifest.schema import field_defaults, secret_settings
from ..manifest.settings import Settings
from .labels import digest
from .model import CLIENT_ENVIRONMENT, HARDENED, ContainerSpec, LogBounds

HOST_NETWORK = "host"
OWN_NAMESPACE_NETWORK = "bridge"  # Docker's default: a namespace of the container's own, with a way out to Pinggy
DEBUGGER_CONTAINER_PORT = 4300  # where the client serves its web debugger, inside the tunnel's session

_NEEDS_QUOTES = re.compile(r"""[\s"'\\]""")


def desired_specs(manifest: Manifest, kind: EngineKind = LINUX_DOCKER) -> list[ContainerSpec]:
    return [container_spec(manifest.project, tunnel, kind, manifest.secrets) for tunnel in manifest.tunnels]


def engine_specs(manifest: Manifest) -> Callable[[str, Callable[[], EngineKind]], list[ContainerSpec]]:
    """The specs of the tunnels one engine runs, given (its name, a way to learn its kind): the networking a tunnel
    needs depends on what the engine is (Docker Desktop's host network is a VM's), which only the engine can say."""
    def for_engine(name: str, engine_kind: Callable[[], EngineKind]) -> list[ContainerSpec]:
        mine = [tunnel for tunnel in manifest.tunnels if tunnel.engine == name]
        kind = engine_kind() if any(not tunnel.settings.network for tunnel in mine) else LINUX_DOCKER
        return [container_spec(manifest.project, tunnel, kind, manifest.secrets) for tunnel in mine]
    return for_engine


def network_mode(settings: Settings, kind: EngineKind) -> str:
    """The tunnel's `network`, else host networking where that is the user's machine, else Docker's default bridge
    (Docker Desktop: its host network is the VM's; its bridge reaches the user's machine as host.docker.internal)."""
    if settings.network:
        return settings.network
    return HOST_NETWORK if kind.host_network_is_users_machine else "bridge"


def relays_loopback(settings: Settings, kind: EngineKind) -> bool:
    """Whether the tunnel runs in a network namespace of its own, reaching its local server on the host's loopback
    through a relay container (engine/loopback.py): Pinggy's CLI, which would otherwise open its unauthenticated
    control port on the machine's loopback. Not a `network` the user chose, nor a server elsewhere than loopback
    (host networking then; README, Security), nor OpenSSH-based images (no control port)."""
    return (network_mode(settings, kind) == HOST_NETWORK and not settings.network and runs_pinggy_cli(settings)
            and is_loopback(settings.host))


def forwarded_host(settings: Settings, kind: EngineKind) -> str:
    """The address the client forwards to, seen from inside the container: on Docker Desktop's bridge, the user's
    loopback is host.docker.internal (Pinggy's image maps localhost so too; the OpenSSH client does not)."""
    host = settings.host
    if not settings.network and kind.kind == DOCKER_DESKTOP and is_loopback(host):
        return DESKTOP_HOST
    return host


def sensitive_settings(settings: Settings, secrets: Collection[str]) -> frozenset[str]:
    """The secret fields, and every setting whose value holds a secret anywhere inside it (what a template made of
    one: a header carrying a key)."""
    pattern = _any_of(frozenset(secrets))
    if pattern is None:
        return secret_settings()

    def holds_secret(value: Any) -> bool:
        if isinstance(value, str):  # first: most values are, and an ABC's isinstance (Mapping) is slow
            return pattern.search(value) is not None
        if isinstance(value, Mapping):
            return any(holds_secret(key) or holds_secret(item) for key, item in value.items())
        if isinstance(value, (list, tuple)):
            return any(holds_secret(item) for item in value)
        return False
    return secret_settings() | frozenset(name for name, value in settings.given().items() if holds_secret(value))


@functools.lru_cache(maxsize=4)
def _any_of(secrets: frozenset[str]) -> re.Pattern[str] | None:
    """One search for every secret of the manifest, made once for all its tunnels: looking for each secret in each
    value of each tunnel grew with the square of the tunnels (a no-op plan of 500 spent a third of its time there)."""
    found = [re.escape(secret) for secret in secrets if secret]
    return re.compile("|".join(found)) if found else None


def container_spec(project: str, tunnel: Tunnel, kind: EngineKind = LINUX_DOCKER,
                   secrets: Collection[str] = ()) -> ContainerSpec:
    settings = tunnel.settings
    relayed = relays_loopback(settings, kind)
    network = OWN_NAMESPACE_NETWORK if relayed else network_mode(settings, kind)
    forward_to = forwarded_host(settings, kind)
    command = tuple(ssh_arguments(settings, forward_to, host_network=network == HOST_NETWORK))
    login_user = ssh_user(settings) if logs_in_from_file(settings) and not runs_pinggy_cli(settings) else None
    cli_config = (login_file.cli_config_text(settings.token or "", bool(settings.force))
                  if logs_in_from_file(settings) and runs_pinggy_cli(settings) else None)
    logging = log_bounds(settings)
    published: tuple[tuple[str, int, int], ...] = ()
    if settings.debugger_port and network != HOST_NETWORK:  # reachable on this machine's loopback only
        published = (("127.0.0.1", settings.debugger_port, settings.debugger_port),)
    runtime: dict[str, Any] = {
        "name": settings.container_name,
        "image": settings.image,
        "command": command,
        "restart": settings.restart,
        "network_mode": network,
        "log_options": log_driver_options(logging),
        "hardening": hardening_arguments(HARDENED),
        "environment": CLIENT_ENVIRONMENT,
    }
    if published:  # only when present, so that the hash of every existing host-network container stays the same
        runtime["published"] = [list(binding) for binding in published]
    if relayed:
        runtime["loopback_relay"] = loopback.PROGRAMS
    if login_user or cli_config:  # the file, as the argv was before it: a new token or type recreates the container
        runtime["login_file"] = sorted(login_file.contents(login_user, cli_config).items())[0]
    where = f"{settings.host}:{settings.port}"
    if settings.network and network != HOST_NETWORK:
        where += f" in network {network}"
    elif forward_to != settings.host:
        where += f" via {forward_to}"
    return ContainerSpec(
        tunnel=tunnel.name,
        project=project,
        container_name=settings.container_name,
        image=settings.image,
        command=command,
        restart_policy=settings.restart,
        spec_hash=digest(runtime),
        local_host=settings.host,
        local_port=settings.port,
        target=f"{where} → {server_name(settings)}:{settings.server_port}" + "".join(
            f" as {domain}" for domain in settings.domains or ()),
        settings=settings,
        log_bounds=logging,
        hardening=HARDENED,
        network=network,
        published=published,
        sensitive=sensitive_settings(settings, secrets),
        loopback_relay=relayed,
        login_user=login_user,
        cli_config=cli_config,
    )


def log_bounds(settings: Settings) -> LogBounds:
    """The tunnel's log rotation; what the manifest leaves out keeps its default."""
    rotation = {**field_defaults()["log_rotation"], **settings.log_rotation}
    return LogBounds(rotation["max_size"], rotation["max_files"])


def ssh_user(settings: Settings) -> str | None:
    """Pinggy's `[TOKEN][+type][+force]`; None when there is nothing to say (an anonymous http tunnel)."""
    kind = settings.type
    parts = [settings.token or ""] + ([kind] if kind != "http" else [])
    if settings.token and settings.force:
        parts.append("force")
    return "+".join(part for part in parts if part) or None


def logs_in_from_file(settings: Settings) -> bool:
    """Whether the client reads its token from its login file (engine/login_file.py), not its arguments: any client
    with a token (OpenSSH its user, `-F`; Pinggy's CLI its `--conf`). An anonymous tunnel's user (its type) is no
    secret."""
    return bool(settings.token)


def server_name(settings: Settings) -> str:
    if settings.server:
        return settings.server
    server = "pro.pinggy.io" if settings.token else "free.pinggy.io"
    return f"{settings.region}.{server}" if settings.region else server


def ssh_arguments(settings: Settings, forward_to: str | None = None, host_network: bool = True) -> list[str]:
    """The arguments after the image name, in the order of the `docker run … pinggy/pinggy …` people write by hand.

    Each of `domains` is a domain forwarding beside the default one: `-R<domain>:0:HOST:PORT`, which OpenSSH sends as
    the remote address it asks Pinggy for, and Pinggy's CLI (0.5.3) reads as an additional http forwarding.

    Off the host network the debugger must listen on the container's every address for its published port to reach
    it: `-L0.0.0.0:PORT:localhost:4300`, which OpenSSH takes as a bind address and Pinggy's CLI (0.5.3) as a
    debugger host.
    """
    user = None if logs_in_from_file(settings) else ssh_user(settings)
    server = server_name(settings)
    local = f"{forward_to or settings.host}:{settings.port}"
    arguments = ["-p", str(settings.server_port), f"-R0:{local}"]
    arguments += [f"-R{domain}:0:{local}" for domain in settings.domains or ()]  # Pinggy's domain forwarding
    if settings.debugger_port:
        bind = "" if host_network else "0.0.0.0:"
        arguments.append(f"-L{bind}{settings.debugger_port}:localhost:{DEBUGGER_CONTAINER_PORT}")
    if logs_in_from_file(settings) and runs_pinggy_cli(settings):  # its type, which the user said before
        arguments += ["--conf", login_file.CLI_CONFIG] + (["--type", settings.type] if settings.type != "http" else [])
    elif logs_in_from_file(settings):
        arguments += ["-F", login_file.CONFIG]
    arguments += ["-o", "StrictHostKeyChecking=no", "-o", f"ServerAliveInterval={settings.keepalive}"]
    for name, value in sorted((settings.ssh_options or {}).items()):
        arguments += ["-o", f"{name}={_ssh_option_value(value)}"]
    arguments += ["-t", f"{user}@{server}" if user else server]
    return arguments + [_remote_word(word) for word in remote_words(settings)]


def _ssh_option_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def forward_target(command: tuple[str, ...]) -> tuple[str | None, int | None]:
    """The local (host, port) of a container's `-R0:HOST:PORT` argument; (None, None) if it has none."""
    for word in command:
        if word.startswith("-R0:"):
            host, _, port = word[len("-R0:"):].rpartition(":")
            if port.isdigit():
                return host, int(port)
    return None, None


def secrets_in_command(command: tuple[str, ...], login_user: str | None = None) -> set[str]:
    """The token, keys and passwords a container's own arguments (and its login file's user, engine.login_user)
    carry, to mask its logs when the manifest cannot be rendered. Read the way ssh_arguments writes them: the token
    before the last '@' of the word after `-t`, then remote words (maybe quoted) `k:KEY` and `b:USER:PASSWORD`, whose
    password may hold '@' or '"'."""
    found = {login_user.split("+", 1)[0]} if login_user else set()
    words = list(command)
    for index, word in enumerate(words):
        word = _unquoted(word)
        if word.startswith("k:"):
            found.add(word[2:])
        elif word.startswith("b:"):
            found.add(word[2:].split(":", 1)[-1])
        elif index and words[index - 1] == "-t" and "@" in word:
            found.add(word.rsplit("@", 1)[0].split("+", 1)[0])
    return {secret for secret in found if secret}


def _unquoted(word: str) -> str:
    """The inverse of _remote_word."""
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return re.sub(r"\\(.)", r"\1", word[1:-1])
    return word


def _remote_word(option: str) -> str:
    """ssh joins the remote command with spaces and the server splits it again: quote words that would break apart."""
    if not _NEEDS_QUOTES.search(option):
        return option
    return '"' + option.replace("\\", "\\\\").replace('"', '\\"') + '"'
