"""`tunnelctl check`: does each tunnel work end to end, the way a client and a stranger would find it?

Per tunnel, three parts, each timed: *local* (something listens; an MCP tunnel's server answers the MCP handshake),
*public* (the same through the public URL, with the tunnel's key), *stranger* (the public URL without credentials
must be refused). Non-HTTP tunnels get the local part only. Nothing here changes anything.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..manifest import Tunnel
from ..manifest.domain_checks import host_rewrite_problem
from ..observe import probe
from ..observe.status import TunnelStatus
from ..parallel import map_parallel
from .client_config import Credential, credential
from .protocol import Handshake, Unreachable, handshake, may_carry_keys, mcp_path, probe_http, public_base

PASS, FAIL, SKIP = "pass", "fail", "skip"
REFUSED = (401, 403)


@dataclass
class Part:
    name: str  # local, public, stranger
    result: str  # pass, fail, skip
    detail: str
    seconds: float | None = None
    server: dict | None = None  # name, version, protocol, method: what the MCP handshake found
    http_status: int | None = None  # of the last answer


@dataclass
class TunnelCheck:
    tunnel: str
    kind: str  # mcp, http, or the tunnel's type
    url: str | None
    parts: list[Part] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(part.result != FAIL for part in self.parts)


def check_all(manifest_path: Path, tunnels: list[Tunnel], statuses: list[TunnelStatus], timeout: float,
              edge: Mapping[str, tuple[str, int]]) -> list[TunnelCheck]:
    by_name = {item.tunnel: item for item in statuses if item.in_manifest}

    def one(tunnel: Tunnel) -> TunnelCheck:
        item = by_name.get(tunnel.name)
        cred = credential(manifest_path, tunnel.name, tunnel.settings)
        return check_tunnel(tunnel, item, cred, timeout, edge)

    return map_parallel(one, tunnels)


def check_tunnel(tunnel: Tunnel, item: TunnelStatus | None, cred: Credential, timeout: float,
                 edge: Mapping[str, tuple[str, int]]) -> TunnelCheck:
    settings = tunnel.settings
    kind = settings.type
    path = mcp_path(settings)
    base = public_base(item.urls) if item else None
    url = base.rstrip("/") + (path or "/") if base else None
    result = TunnelCheck(tunnel.name, "mcp" if path else kind, url)
    result.parts.append(_local(settings, item, path, timeout))
    if kind != "http":
        return result
    if not url:
        state = item.state if item else "missing"
        why = f" ({item.problem})" if item and item.problem else ""
        result.parts.append(Part("public", FAIL, f"no public URL: the tunnel is {state}{why}; see tunnelctl status, "
                                                 "or run tunnelctl apply"))
        return result
    if cred.scheme and not may_carry_keys(url, edge):
        result.parts.append(Part("public", FAIL, f"{url} is not https: the key is not sent over plain HTTP, where "
                                                 "anyone on the way reads it; Pinggy offers https, see tunnelctl "
                                                 "status"))
    else:
        result.parts.append(_public(url, settings, path, cred, timeout, edge))
    result.parts.append(_stranger(url, settings, path, cred, timeout, edge))
    return result


def _local(settings, item: TunnelStatus | None, path: str | None, timeout: float) -> Part:
    host, port = settings.host, settings.port
    where = f"{host}:{port}"
    if item is not None and item.listening is None:
        return Part("local", SKIP, f"{where} is on the tunnel's own engine, not this machine: not checked from here")
    started = time.monotonic()
    if not probe.listening(host, port, timeout=min(timeout, 2.0)):
        return Part("local", FAIL, f"nothing listens on {where}: start the local server", time.monotonic() - started)
    if settings.type != "http":
        return Part("local", PASS, f"{where} is listening", time.monotonic() - started)
    scheme = "https" if settings.local_tls else "http"
    url = f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}{path or '/'}"
    if path:
        part = _mcp_part("local", url, {}, timeout, {}, started, hint=f"is {path} the MCP endpoint? (mcp.path)",
                         verify=False)  # a local server's certificate is its own business, as for Pinggy's client
        if part.result == PASS:
            part.detail = f"{where}{path}: {part.detail}"
        return part
    try:
        answer = probe_http(url, timeout=timeout, verify=False)
    except Unreachable as error:
        return Part("local", FAIL, f"{where} accepts connections but gives no HTTP answer: {error}",
                    time.monotonic() - started)
    return Part("local", PASS, f"{where} answers HTTP {answer.status}", time.monotonic() - started)


def _mcp_part(name: str, url: str, auth: dict, timeout: float, edge, started: float, hint: str = "",
              verify: bool = True) -> Part:
    try:
        found = handshake(url, auth, timeout, edge, verify)
    except Unreachable as error:
        return Part(name, FAIL, f"{url}: {error}", time.monotonic() - started)
    seconds = time.monotonic() - started
    if found.problem:
        return Part(name, FAIL, f"{url}: {found.problem}" + (f"; {hint}" if hint and found.status != 421 else ""),
                    seconds, http_status=found.status)
    return Part(name, PASS, f"MCP server {_identity(found)}", seconds, _server(found), found.status)


def _identity(found: Handshake) -> str:
    who = " ".join(filter(None, [found.server_name or "(unnamed)", found.server_version]))
    ended = {True: ", session ended", False: ", session NOT ended (DELETE refused)", None: ""}[found.session_ended]
    return f"{who}, protocol {found.protocol} ({found.method}{ended})"


def _server(found: Handshake) -> dict:
    return {"name": found.server_name, "version": found.server_version, "protocol": found.protocol,
            "method": found.method, "session_ended": found.session_ended}


def _auth_header(cred: Credential) -> dict[str, str]:
    if cred.scheme == "Bearer":
        return {"Authorization": f"Bearer {cred.value}"}
    return {"Authorization": "Basic " + base64.b64encode((cred.value or "").encode()).decode()}


def _public(url: str, settings, path: str | None, cred: Credential, timeout: float, edge) -> Part:
    started = time.monotonic()
    if cred.scheme and cred.value is None:
        return Part("public", SKIP, f"skipped: {cred.variable} is not set, so the request with the key was not made")
    auth = _auth_header(cred) if cred.scheme else {}
    with_what = "with the access key" if cred.scheme == "Bearer" else "with basic auth" if cred.scheme else \
        "(the tunnel asks for no key)"
    if path:
        part = _mcp_part("public", url, auth, timeout, edge, started)
        if part.http_status == 403 and settings.allow_cidrs:
            return _outside_allowed(part)
        if part.result == PASS:
            part.detail = f"{with_what}: {part.detail}"
        elif part.http_status in (400, 421) and host_rewrite_problem(settings):
            part.detail += f"; {host_rewrite_problem(settings)}"
        elif part.http_status in REFUSED:
            part.detail += (f"; the edge refused the manifest's {'key' if cred.scheme == 'Bearer' else 'password'}: "
                            "the running tunnel carries another (tunnelctl plan shows it)")
        return part
    try:
        answer = probe_http(url, auth, timeout, edge)
    except Unreachable as error:
        return Part("public", FAIL, f"{url}: {error}", time.monotonic() - started)
    seconds = time.monotonic() - started
    if answer.status == 403 and settings.allow_cidrs:
        return _outside_allowed(Part("public", FAIL, f"{url}: HTTP 403 {with_what}", seconds, http_status=403))
    if answer.status in REFUSED and not cred.scheme:
        return Part("public", FAIL, f"{url}: HTTP {answer.status}, though the tunnel asks for no key", seconds,
                    http_status=answer.status)
    if cred.scheme and answer.status in REFUSED:
        return Part("public", FAIL, f"{url}: HTTP {answer.status} {with_what}: the edge refused the manifest's "
                                    "credentials: the running tunnel carries others (tunnelctl plan shows it)", seconds)
    if answer.status >= 500:
        return Part("public", FAIL, f"{url}: HTTP {answer.status} {with_what}: the tunnel does not reach the "
                                    "local server", seconds)
    return Part("public", PASS, f"{with_what}: HTTP {answer.status}", seconds, http_status=answer.status)


def _outside_allowed(part: Part) -> Part:
    part.result = SKIP
    part.detail += "; this machine is likely outside allow_cidrs, so only a visitor from there can check this part"
    return part


def _stranger(url: str, settings, path: str | None, cred: Credential, timeout: float, edge) -> Part:
    started = time.monotonic()
    try:
        status = (handshake(url, {}, timeout, edge).status if path else probe_http(url, {}, timeout, edge).status)
    except Unreachable as error:
        return Part("stranger", FAIL, f"{url} without credentials: {error}", time.monotonic() - started)
    seconds = time.monotonic() - started
    if status in REFUSED:
        return Part("stranger", PASS, f"without credentials: refused (HTTP {status})", seconds, http_status=status)
    if not cred.scheme and settings.allow_cidrs:
        return Part("stranger", SKIP, f"without credentials: HTTP {status}; this machine is inside allow_cidrs, so "
                                      "a stranger elsewhere cannot be played from here", seconds, http_status=status)
    fix = "set access_keys in the manifest and apply" if not cred.scheme else "the edge ignores the tunnel's key"
    return Part("stranger", FAIL, f"A STRANGER GETS THROUGH: a request without credentials reached the server "
                                  f"(HTTP {status}); {fix}", seconds, http_status=status)
