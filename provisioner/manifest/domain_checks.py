"""Domain checks the schema cannot express: conflicts between tunnels, options that do not fit the type, weak keys."""

from __future__ import annotations

import functools
import ipaddress
import math
import os
import socket
import string
from collections.abc import Iterator, Mapping
from typing import Any

from ..engine.config import ENVIRONMENT_ENGINE, EngineConfig
from ..engine.platforms import DESKTOP_HOST
from .options import HTTP_ONLY, OPENSSH_ONLY
from .schema import Path
from .settings import Settings

MIN_KEY_BITS = 128
# The tunnel clients (the `client` setting). The default image runs Pinggy's own CLI, not OpenSSH: it accepts ssh's -o
# options and ignores them, but refuses OpenSSH's -F.
PINGGY_CLI, OPENSSH = "pinggy-cli", "openssh"
# The default image's repository; a mirror keeps it as its path (`registry.example:5000/pinggy/pinggy`).
PINGGY_CLI_REPOSITORY = "pinggy/pinggy"
# The CLI refuses a shorter token before it connects (`Validation failed: … Token must be at least 10 characters long`).
CLI_MIN_TOKEN_LENGTH = 10

ERROR, WARNING = "error", "warning"
IN_CLEAR = "every request to it, each tunnel's token included, travels in clear over the network"


def check(data: Mapping[str, Any], tunnels: list[tuple[str, Settings]],
          engines: Mapping[str, EngineConfig]) -> Iterator[tuple[str, Path, str]]:
    """Yield (severity, path, message) for each problem; `tunnels` pairs each name with its resolved settings."""
    entries = data["tunnels"]
    defaults = data.get("defaults", {})

    def where(index: int, field: str) -> Path:
        if field in entries[index]:
            return ("tunnels", index, field)
        return ("defaults", field) if field in defaults else ("tunnels", index)

    yield from _engine_problems(engines, data.get("engines") or {}, entries, defaults, where)
    yield from _shared_values(tunnels, where)
    for index, (_name, settings) in enumerate(tunnels):
        yield from _tunnel_problems(settings, functools.partial(where, index))
    yield from dict.fromkeys(_pinggy_cli_rules(tunnels, where))  # a field set in defaults is said once


def _engine_problems(engines, declared, entries, defaults, where) -> Iterator[tuple[str, Path, str]]:
    names = ", ".join(sorted(engines))
    for index, entry in enumerate(entries):
        engine = entry.get("engine", defaults.get("engine"))
        if engine is None and len(engines) > 1:
            yield ERROR, ("tunnels", index), f"several engines are declared: set engine (one of {names}), or " \
                                             "defaults.engine"
        elif engine is not None and engine not in engines:
            declared = "" if ENVIRONMENT_ENGINE in engines else f" (declared: {names})"
            yield ERROR, where(index, "engine"), f"engine '{engine}' is not declared under engines{declared}"
    for name, config in engines.items():
        if name not in declared:  # the environment's engine: DOCKER_HOST or the current context says where
            if os.environ.get("DOCKER_HOST", "").startswith("tcp://") and not (
                    os.environ.get("DOCKER_TLS_VERIFY") or os.environ.get("DOCKER_CERT_PATH")):
                yield WARNING, (), f"DOCKER_HOST is a tcp:// address without TLS: {IN_CLEAR}; set DOCKER_TLS_VERIFY " \
                                   "and DOCKER_CERT_PATH, or use an ssh:// engine"
            continue
        if (config.docker or "").startswith("tcp://") and not config.tls:
            yield WARNING, ("engines", name, "docker"), f"a tcp:// engine without tls: {IN_CLEAR}; add tls (ca, " \
                                                       "cert, key), or use ssh://"
        if bool(config.docker) == bool(config.context):
            yield ERROR, ("engines", name), "give either docker (an address) or context (a Docker CLI context)"
        elif config.tls and not (config.docker or "").startswith("tcp://"):
            yield ERROR, ("engines", name, "tls"), "tls material only applies to a tcp:// engine"
        for part, file in zip(("ca", "cert", "key"), config.tls or (), strict=False):
            if not os.path.isfile(file):
                yield ERROR, ("engines", name, "tls", part), f"{file}: no such file"


def _shared_values(tunnels, where) -> Iterator[tuple[str, Path, str]]:
    by_token: dict[str, list[int]] = {}
    by_debugger: dict[int, int] = {}
    for index, (_name, settings) in enumerate(tunnels):
        if settings.token:
            by_token.setdefault(settings.token, []).append(index)
        port = settings.debugger_port
        if port:
            if port in by_debugger:
                yield ERROR, where(index, "debugger_port"), (
                    f"debugger_port {port} is also used by tunnel '{tunnels[by_debugger[port]][0]}': pick another")
            by_debugger.setdefault(port, index)
    for indexes in by_token.values():
        if len(indexes) < 2:
            continue
        names = ", ".join(f"'{tunnels[index][0]}'" for index in indexes)
        others = indexes[1:]
        if all(tunnels[index][1].force for index in indexes):
            yield WARNING, where(others[0], "token"), (
                f"tunnels {names} share one token with force: each login takes the token from the other, in turn")
            continue
        for index in others:
            yield ERROR, where(index, "token"), (
                f"tunnels {names} share one token: Pinggy keeps one live tunnel per token, so they would knock each "
                "other off; give each its own token")


def _tunnel_problems(settings: Settings, where) -> Iterator[tuple[str, Path, str]]:
    kind = settings.type
    if kind != "http":
        for option in HTTP_ONLY:
            if option.asks(settings.value(option.field)):
                yield ERROR, where(option.field), f"{option.field} only applies to http tunnels, and this one is {kind}"
    if settings.region and settings.server:
        yield ERROR, where("region"), "give a region or a server, not both (the region picks the server)"
    if settings.force and not settings.token:
        yield ERROR, where("force"), "force needs a token: it takes a token's tunnel over"
    removed = [name for name in (settings.headers or {}).get("remove", []) if name.lower() == "host"]
    if removed:
        yield ERROR, where("headers"), "the Host header can be updated (headers.update), not removed"
    for cidr in (settings.allow_cidrs or []):
        if not _is_network(cidr):
            yield ERROR, where("allow_cidrs"), f"{cidr!r} is not an IPv4 or IPv6 network (like 203.0.113.0/24)"
    for key in (settings.access_keys or []):
        if key_bits(key) < MIN_KEY_BITS:
            yield WARNING, where("access_keys"), (
                f"an access key has under {MIN_KEY_BITS} bits of randomness: "
                "make a strong one with `tunnelctl gen-key`")
    if kind == "http" and not (settings.access_keys or settings.basic_auth or settings.allow_cidrs):
        yield WARNING, where("access_keys"), (
            "no visitor authentication (access_keys, basic_auth or allow_cidrs): "
            "anyone with the URL reaches your server")
    if kind == "http":
        problem = host_rewrite_problem(settings)
        if problem:
            yield WARNING, where("headers"), problem
    network = settings.network
    if network == "none":
        yield ERROR, where("network"), "network 'none' has no network at all: the tunnel could not reach Pinggy"
    elif network and network != "host":
        if is_loopback(settings.host):
            yield ERROR, where("host"), (
                f"host {settings.host!r} on network '{network}' is the tunnel container itself: set host to the "
                "name of the container or Compose service to expose (use network: host for a server on this machine)")
        elif network == "bridge" and not _is_address(settings.host) and settings.host != DESKTOP_HOST:
            yield WARNING, where("host"), (
                f"Docker's default bridge network resolves no container names, so {settings.host!r} will not be "
                "found there: put the service and the tunnel on a user-defined network (docker network create)")
    elif not is_local_address(settings.host):
        yield WARNING, where("host"), (
            f"host {settings.host!r} is not a loopback or local address: the tunnel exposes whatever answers there")


def image_client(image: str) -> str:
    """The client an image runs, as its name says: Pinggy's CLI for pinggy/pinggy and its mirrors (any registry or
    prefix before `/pinggy/pinggy`), else OpenSSH."""
    repository = image.partition("@")[0]
    repository = repository.rpartition(":")[0] if ":" in repository.rpartition("/")[2] else repository
    return PINGGY_CLI if (repository == PINGGY_CLI_REPOSITORY or repository.endswith("/" + PINGGY_CLI_REPOSITORY)) \
        else OPENSSH


def tunnel_client(settings: Settings) -> str:
    """The client the tunnel's image runs: its `client`, else what the image's name implies."""
    return settings.client or image_client(settings.image)


def runs_pinggy_cli(settings: Settings) -> bool:
    """Whether the tunnel's client is Pinggy's CLI rather than OpenSSH."""
    return tunnel_client(settings) == PINGGY_CLI


def _pinggy_cli_rules(tunnels, where) -> Iterator[tuple[str, Path, str]]:
    """What Pinggy's CLI refuses or ignores that OpenSSH would take."""
    for index, (_name, settings) in enumerate(tunnels):
        if not runs_pinggy_cli(settings):
            continue
        token = settings.token or ""
        if token and (len(token) < CLI_MIN_TOKEN_LENGTH or not token.strip()):  # the value may be the environment's
            yield WARNING, where(index, "token"), (
                f"token is shorter than {CLI_MIN_TOKEN_LENGTH} characters: Pinggy's CLI (client: pinggy-cli) "
                "refuses it before connecting ('Token must be at least 10 characters long'); copy the whole token "
                "from the Pinggy dashboard")
        if where(index, "server_port")[-1] == "server_port":
            yield WARNING, where(index, "server_port"), (
                "server_port has no effect with Pinggy's CLI (client: pinggy-cli): it always connects to port 443; "
                "remove it, or set image to an OpenSSH-based one to use another port")
        for field in OPENSSH_ONLY:
            path = where(index, field)
            if path[-1] == field:  # set in the manifest, not just the built-in default
                yield WARNING, path, (
                    f"{field} has no effect with Pinggy's CLI (client: pinggy-cli), which ignores ssh's -o options; "
                    "set image to an OpenSSH-based one to use it, or remove it")
        if isinstance(settings.forwarded_for, str):
            yield WARNING, where(index, "forwarded_for"), (
                "forwarded_for with a header name has no effect with Pinggy's CLI (client: pinggy-cli): it knows "
                "x:xff only and sends no header for x:xff:Name; use true (X-Forwarded-For) or an OpenSSH-based image")
        if settings.local_tls is True:
            yield WARNING, where(index, "local_tls"), (
                "local_tls: true has no effect with Pinggy's CLI (client: pinggy-cli): it only turns TLS to the local "
                "server on with a name (x:localServerTls:NAME); give the name your server's certificate has")


def host_rewrite_problem(settings: Settings) -> str | None:
    """The Host rule: why the local server will not take the Host header visitors arrive with, or None.

    Pinggy passes the public host on unless `u:Host:` (headers.update.Host) replaces it, and `a:Host:`
    (headers.add.Host) appends a second Host header, which servers answer with 400. Servers on the official MCP SDK
    also refuse any Host but their own address with its port (421), so `mcp` tunnels must rewrite it. Values are not
    quoted back: they may come from the environment.
    """
    headers = (settings.headers or {})
    updated = next((value for name, value in headers.get("update", {}).items() if name.lower() == "host"), None)
    added = next((name for name in headers.get("add", {}) if name.lower() == "host"), None)
    fix = f'headers.update: {{Host: "localhost:{settings.port}"}}'
    if added and updated is None:
        target = fix if settings.mcp else f"headers.update: {{{added}: …}}"
        return (f"headers.add.{added} sends a second Host header (Pinggy's a: appends), which a server answers with "
                f"400 and an MCP server refuses; to rewrite the Host, move it to {target}")
    if not settings.mcp:
        return None
    if updated is None:
        return (f"the public host reaches this MCP server as Host, and servers on the official MCP SDK answer 421 "
                f"to it: set {fix}")
    name, _, port = updated.rpartition(":")
    if port != str(settings.port) or not (name in ("localhost", "[::1]", settings.host) or
                                             (name != "0.0.0.0" and is_local_address(name))):
        return (f"headers.update.Host is not the local address with its port, and MCP servers on the official SDK "
                f"answer 421 to any other Host: set {fix}")
    return None


def key_bits(key: str) -> float:
    """Upper bound of a key's randomness: its length times the bits of the smallest alphabet it is drawn from."""
    if all(char in string.hexdigits.lower() for char in key) or all(char in string.hexdigits.upper() for char in key):
        alphabet = 16
    else:
        alphabet = sum(size for chars, size in ((string.digits, 10), (string.ascii_lowercase, 26),
                                                 (string.ascii_uppercase, 26)) if any(c in chars for c in key))
    return len(key) * math.log2(max(alphabet, 2))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


# Tunnels mostly share their hosts and networks (127.0.0.1, a default allow_cidrs): each is parsed once per run, not
# once per tunnel (ipaddress took about a fifth of loading a manifest of 500).
@functools.lru_cache(maxsize=1024)
def _is_network(cidr: str) -> bool:
    try:
        ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=1024)
def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_local_address(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:  # only an address of one of this machine's interfaces can be bound
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
        return True
    except OSError:
        return False
