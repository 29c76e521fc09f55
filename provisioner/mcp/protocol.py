"""Speak just enough MCP over streamable HTTP to prove a server answers: discover or initialize, then end the session.

Standard library only (http.client), with bounded time and bounded reads: the server may be anything.
`TUNNELCTL_EDGE` (`http=HOST:PORT,https=HOST:PORT`) sends public URLs to a local stand-in of Pinggy's edge instead of
the URL's host, the way `curl --connect-to` does; real Pinggy URLs need nothing.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import __version__

if TYPE_CHECKING:
    from ..manifest.settings import Settings

DEFAULT_PATH = "/mcp"
HANDSHAKE_VERSION = "2025-11-25"  # the newest revision reached through `initialize`
MODERN_VERSION = "2026-07-28"  # the first revision that replaces `initialize` with `server/discover`
ACCEPT = "application/json, text/event-stream"
MAX_BODY = 1_000_000
CLIENT_INFO = {"name": "tunnelctl", "version": __version__}
EDGE_VARIABLE = "TUNNELCTL_EDGE"


def mcp_path(settings: Settings) -> str | None:
    """The MCP endpoint's path for an MCP tunnel, None for any other."""
    value = settings.mcp
    if isinstance(value, Mapping):
        return value["path"]
    return DEFAULT_PATH if value else None


def public_base(urls: tuple[str, ...] | list[str]) -> str | None:
    """The URL visitors should use: https when Pinggy offers it."""
    return next((url for url in urls if url.startswith("https://")), urls[0] if urls else None)


def mcp_url(urls, path: str | None) -> str | None:
    base = public_base(urls)
    return base.rstrip("/") + path if base and path else None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float


@dataclass
class Handshake:
    """What the MCP handshake found out; `problem` is empty when the server answered as MCP."""
    method: str = ""  # server/discover or initialize
    server_name: str = ""
    server_version: str = ""
    protocol: str = ""
    session_ended: bool | None = None  # None: the server kept no session
    status: int | None = None  # HTTP status of the last request
    problem: str = ""
    seconds: float = 0.0
    requests: list[str] = field(default_factory=list)


class Unreachable(Exception):
    """No HTTP answer at all: refused, reset, timed out, not HTTP."""


def may_carry_keys(url: str, edge: Mapping[str, tuple[str, int]]) -> bool:
    """Whether a key or password may be sent to `url`: only over TLS, or to the stand-in edge TUNNELCTL_EDGE names.
    Over plain http anyone on the way reads it (and a neighbour's debugger answer is plain http)."""
    scheme = url.partition("://")[0]
    return scheme == "https" or scheme in edge


def edge_addresses(environ: Mapping[str, str] | None = None) -> dict[str, tuple[str, int]]:
    """scheme -> (host, port) from TUNNELCTL_EDGE; raises ValueError (without the value) when it is malformed."""
    text = (os.environ if environ is None else environ).get(EDGE_VARIABLE, "").strip()
    addresses = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        scheme, _, address = part.partition("=")
        host, _, port = address.rpartition(":")
        if scheme not in ("http", "https") or not host or not port.isdigit():
            raise ValueError(f"{EDGE_VARIABLE} must look like http=127.0.0.1:2223,https=127.0.0.1:2224")
        addresses[scheme] = (host, int(port))
    return addresses


def request(url: str, method: str, headers: Mapping[str, str], body: bytes | None, timeout: float,
            edge: Mapping[str, tuple[str, int]] | None = None, verify: bool = True) -> Answer:
    """One HTTP exchange; an SSE answer is read until its first JSON-RPC response (the stream may stay open).

    `verify=False` accepts any certificate: for a local server's own (x:localServerTls), never a public URL.
    """
    import http.client  # only here: status needs this module's URL helpers, not its client (with ssl and email)
    import ssl

    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc
    started = time.monotonic()
    via = (edge or {}).get(parts.scheme)
    if via:  # the stand-in's edge speaks plain HTTP on loopback for both schemes
        connection = http.client.HTTPConnection(via[0], via[1], timeout=timeout)
    elif parts.scheme == "https":
        context = None if verify else ssl._create_unverified_context()
        connection = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout, context=context)
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host_header)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
        if answer_headers.get("content-type", "").startswith("text/event-stream"):
            data = _first_event(response, started + timeout)
        else:
            data = response.read(MAX_BODY)
        return Answer(response.status, answer_headers, data, time.monotonic() - started)
    except (OSError, http.client.HTTPException) as error:
        raise Unreachable(_network_problem(error, timeout)) from None
    finally:
        connection.close()


def _first_event(response, deadline: float) -> bytes:
    """The data of the first SSE event that carries a JSON-RPC response (one with an id)."""
    data: list[bytes] = []
    read = 0
    while time.monotonic() < deadline and read < MAX_BODY:
        line = response.readline(MAX_BODY)
        if not line:
            break
        read += len(line)
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].lstrip())
        elif not line and data:
            payload = b"\n".join(data)
            data = []
            try:
                if "id" in json.loads(payload):
                    return payload
            except (ValueError, TypeError):
                return payload
    return b"\n".join(data)


def _network_problem(error: Exception, timeout: float) -> str:
    import http.client

    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return f"no answer within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(error, http.client.BadStatusLine | http.client.RemoteDisconnected):
        return "the connection closed without an HTTP answer"
    if isinstance(error, socket.gaierror):  # the stand-in's URLs name hosts no DNS knows: its edge is local
        return (f"the URL's host has no address ({error.strerror}); for a local stand-in's URLs, set "
                f"{EDGE_VARIABLE}=http=HOST:PORT,https=HOST:PORT to reach its edge")
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


def _post_headers(extra: Mapping[str, str]) -> dict[str, str]:
    return {"Content-Type": "application/json", "Accept": ACCEPT, **extra}


def handshake(url: str, auth: Mapping[str, str] | None = None, timeout: float = 10.0,
              edge: Mapping[str, tuple[str, int]] | None = None, verify: bool = True) -> Handshake:
    """`server/discover` (newer revisions), else `initialize`; a session the server opened is ended with DELETE.

    Raises Unreachable when the server gives no HTTP answer at all.
    """
    auth = dict(auth or {})
    started = time.monotonic()
    result = Handshake()
    discover = _rpc("server/discover", {"_meta": {
        "io.modelcontextprotocol/protocolVersion": MODERN_VERSION,
        "io.modelcontextprotocol/clientInfo": CLIENT_INFO,
        "io.modelcontextprotocol/clientCapabilities": {}}})
    answer = request(url, "POST", _post_headers({**auth, "Mcp-Protocol-Version": MODERN_VERSION,
                                                 "Mcp-Method": "server/discover"}), discover, timeout, edge, verify)
    result.requests.append(f"POST server/discover → {answer.status}")
    found = _result(answer)
    if isinstance(found, dict) and isinstance(found.get("supportedVersions"), list):
        info = (found.get("_meta") or {}).get("io.modelcontextprotocol/serverInfo") or {}
        versions = [v for v in found["supportedVersions"] if isinstance(v, str)]
        result.method, result.status = "server/discover", answer.status
        result.protocol = MODERN_VERSION if MODERN_VERSION in versions else ", ".join(versions)
        _identify(result, info)
        result.seconds = time.monotonic() - started
        return result
    if answer.status in (401, 403, 407, 421):  # refused before any MCP: initialize would be refused the same way
        result.status, result.problem = answer.status, _refusal(answer, "server/discover")
        result.seconds = time.monotonic() - started
        return result

    initialize = _rpc("initialize", {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {},
                                     "clientInfo": CLIENT_INFO})
    answer = request(url, "POST", _post_headers(auth), initialize, timeout, edge, verify)
    result.requests.append(f"POST initialize → {answer.status}")
    result.method, result.status = "initialize", answer.status
    found = _result(answer)
    if isinstance(found, dict) and "protocolVersion" in found:
        result.protocol = str(found.get("protocolVersion"))
        _identify(result, found.get("serverInfo") or {})
        session = answer.headers.get("mcp-session-id")
        if session:
            ended = request(url, "DELETE", {**auth, "Mcp-Session-Id": session,
                                            "Mcp-Protocol-Version": result.protocol}, None, timeout, edge, verify)
            result.requests.append(f"DELETE session → {ended.status}")
            result.session_ended = ended.status < 300 or ended.status == 405  # 405: the server ends sessions itself
    else:
        result.problem = _refusal(answer, "initialize") if answer.status >= 300 else _not_mcp(answer, found)
    result.seconds = time.monotonic() - started
    return result


def _rpc(method: str, params: dict) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()


def _result(answer: Answer) -> Any:
    """The JSON-RPC result, the error object (as {'error': …}), or None when the body is not JSON-RPC."""
    if answer.status >= 300:
        return None
    try:
        message = json.loads(answer.body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    if "result" in message:
        return message["result"]
    return {"error": message["error"]} if isinstance(message.get("error"), dict) else None


def _identify(result: Handshake, info: Mapping[str, Any]) -> None:
    result.server_name = str(info.get("name") or "")[:100] if isinstance(info, Mapping) else ""
    result.server_version = str(info.get("version") or "")[:100] if isinstance(info, Mapping) else ""


def _snippet(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip().splitlines()
    return repr(text[0][:80]) if text else "an empty body"


def _refusal(answer: Answer, method: str) -> str:
    got = f"POST {method} got HTTP {answer.status}"
    if answer.status in (401, 403, 407):
        return f"{got} (refused: {'authentication required' if answer.status != 403 else 'forbidden'}): " \
               f"{_snippet(answer.body)}"
    if answer.status == 421:
        return f"{got} (the server refused the Host header): {_snippet(answer.body)}"
    if answer.status == 400:  # the server read the request and refused it: an MCP server may do so too
        return f"{got} (bad request): {_snippet(answer.body)}"
    if answer.status in (502, 503, 504):
        return f"{got} (the tunnel did not reach the local server): {_snippet(answer.body)}"
    return f"not an MCP endpoint: {got}: {_snippet(answer.body)}"


def _not_mcp(answer: Answer, found: Any) -> str:
    if isinstance(found, dict) and "error" in found:
        error = found["error"]
        return f"initialize failed: JSON-RPC error {error.get('code')}: {str(error.get('message'))[:100]}"
    kind = answer.headers.get("content-type", "no content type").split(";")[0]
    return f"answers HTTP {answer.status} ({kind}) but not MCP: {_snippet(answer.body)}"


def probe_http(url: str, auth: Mapping[str, str] | None = None, timeout: float = 10.0,
               edge: Mapping[str, tuple[str, int]] | None = None, verify: bool = True) -> Answer:
    """A plain GET, for tunnels that are not MCP."""
    return request(url, "GET", dict(auth or {}), None, timeout, edge, verify)
