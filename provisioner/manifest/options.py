"""Every tunnel setting, one row each: what README's table says of it, what it becomes in the tunnel client's argv,
what Pinggy's own CLI makes of that, and whether it only fits http tunnels.

The rows drive the argv builder (`remote_words`: Pinggy's options, which travel as the ssh remote command), the
http-only check of `validate`, and README's option table (tests/test_pinggy_options.py keeps it equal to
`markdown_table()`). Adding an option: its property in schemas/tunnels.schema.json, a row here, and a case file in
tests/pinggy_options/ (the manifest fragment and the argv it must become).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .settings import Settings

IGNORED = "ignored"  # the CLI column of an option Pinggy's CLI drops


@dataclass(frozen=True)
class Option:
    field: str  # the manifest's key
    type: str  # as a person reads the schema's type
    doc: str  # README's one line (markdown)
    openssh: str = ""  # its form in the argv (OpenSSH's reading), or in the container; "" when it is neither
    cli: str = ""  # where Pinggy's CLI (0.5.3, the default image) puts it in the configuration it parses, or IGNORED
    default: str = "none"
    http_only: bool = False  # an error on tcp, tls, udp and tlstcp tunnels
    words: Callable[[Any], list[str]] | None = None  # its ssh remote-command words, given its (present) value

    def asks(self, value: Any) -> bool:
        """Whether the value asks anything of the tunnel (what the http-only check refuses on other types)."""
        if value is None:
            return False
        return bool(self.words(value)) if self.words else bool(value)


def _flag(word: str) -> Callable[[Any], list[str]]:
    return lambda on: [word] if on else []


def _with_value(word: str) -> Callable[[Any], list[str]]:
    """`true` → the bare word; a string → `word:VALUE`."""
    return lambda value: [word if value is True else f"{word}:{value}"] if value else []


def _with_prefix(cidr: str) -> str:
    """A lone address as a one-address network: Pinggy's CLI drops the whole allow-list, leaving the tunnel open to
    everyone, when one entry has no prefix length."""
    if "/" in cidr:
        return cidr
    return f"{cidr}/128" if ":" in cidr else f"{cidr}/32"


def _header_words(headers: Mapping[str, Any]) -> list[str]:
    words = [f"a:{name}:{value}" for name, values in headers.get("add", {}).items()
             for value in (values if isinstance(values, list) else [values])]
    words += [f"u:{name}:{value}" for name, value in headers.get("update", {}).items()]
    return words + [f"r:{name}" for name in headers.get("remove", [])]


_HEADERS_DOC = (
    "`{add: {Name: Value or [Values]}, update: {Name: Value}, remove: [Name]}`. To change the Host header, use "
    "`update` (Pinggy's `u:Host:VALUE`): `add` appends a second Host header, which servers answer with 400 (RFC 9112), "
    "so `validate` warns about `headers.add.Host` (and still carries it if you insist); MCP servers built on the "
    "official SDK refuse a Host they do not know (421), hence `update: {Host: \"localhost:3845\"}`. Host cannot be "
    "removed")
_SSH_OPTIONS_DOC = (
    "(OpenSSH-based images only) extra ssh options from an allow-list (`ServerAliveCountMax`, `ConnectTimeout`, "
    "`ConnectionAttempts`, `TCPKeepAlive`, `Compression`, `ExitOnForwardFailure`, `AddressFamily`, `IPQoS`)")

# In argv order: the remote-command words follow the rows' order, so reordering rows changes every spec hash.
OPTIONS: tuple[Option, ...] = (
    Option("name", "string", "unique tunnel name (DNS label)", "label `io.tunnelctl.tunnel`", default="required"),
    Option("port", "integer", "local port to expose", "`-R0:HOST:PORT`", "`forwarding[].address`",
           default="required"),
    Option("host", "string", "local address (a warning if not loopback or this machine's); with `network`, the "
           "service's name", "`-R0:HOST:PORT`", "`forwarding[].address`", "`127.0.0.1`"),
    Option("network", "string", "a Docker network to join instead of the host network (see Platforms); `host` forces "
           "host networking", "`--network`", default="host networking (Docker Desktop: its bridge)"),
    Option("type", "string", "`http`, `tcp`, `tls`, `udp`, `tlstcp`", "user `TOKEN+type`", "`forwarding[].type`",
           "`http`"),
    Option("token", "string", "Pinggy token (secret)", "ssh user `TOKEN[+type][+force]`", "`token`",
           "none: anonymous"),
    Option("region", "string", "`us`, `eu`, `ap`, `br`, `au`: prefixes the default server", "`@eu.pro.pinggy.io`",
           "`serverAddress`"),
    Option("server", "string", "Pinggy server (not with `region`)", "`@SERVER`", "`serverAddress`",
           "`pro.pinggy.io` with a token, else `free.pinggy.io`"),
    Option("server_port", "integer", "server's ssh port", "`-p N`", "not in its configuration", "`443`"),
    Option("domains", "list of strings", "domains the tunnel also answers on, whose URLs stay the same on every "
           "login: a Pro token's persistent subdomain (`NAME.a.pinggy.link`) or custom domains associated with the "
           "token (lowercase names, not URLs; see [Keeping clients pointed at the tunnel]"
           "(#keeping-clients-pointed-at-the-tunnel))", "`-R<domain>:0:HOST:PORT` each, beside `-R0:HOST:PORT`",
           "`forwarding[]` with `listenAddress` `<domain>:0`", http_only=True),
    Option("force", "boolean", "take the token over from another live session (needs a token)", "`+force`", "`force`",
           "`false`"),
    Option("keepalive", "integer", "seconds between keep-alives (OpenSSH-based images only)",
           "`-o ServerAliveInterval=N`", IGNORED, "`30`"),
    Option("ssh_options", "mapping", _SSH_OPTIONS_DOC, "`-o Key=Value`", IGNORED),
    Option("access_keys", "list of strings", "bearer keys visitors must send, letters and digits (secret)",
           "`k:KEY` each", "`bearerTokenAuth`", http_only=True, words=lambda keys: [f"k:{key}" for key in keys]),
    Option("basic_auth", "list of mappings", "`[{username, password}]`, no `:` in either (passwords secret)",
           "`b:user:pass` each", "`basicAuth`", http_only=True,
           words=lambda logins: [f"b:{login['username']}:{login['password']}" for login in logins]),
    Option("allow_cidrs", "list of strings", "IPv4/IPv6 networks allowed in", "`w:CIDR,CIDR`", "`ipWhitelist`",
           "everyone", words=lambda cidrs: ["w:" + ",".join(map(_with_prefix, cidrs))] if cidrs else []),
    Option("https_only", "boolean", "redirect HTTP visitors to HTTPS", "`x:https`", "`httpsOnly`", "`false`",
           http_only=True, words=_flag("x:https")),
    Option("forwarded_for", "boolean or string", "`true`, or a header name", "`x:xff`, `x:xff:Name`",
           "`xForwardedFor` (`x:xff` only)", "`false`", http_only=True, words=_with_value("x:xff")),
    Option("full_url", "boolean", "pass the full URL to the local server", "`x:fullurl`", "`originalRequestUrl`",
           "`false`", http_only=True, words=_flag("x:fullurl")),
    Option("reverse_proxy", "boolean", "`false` turns Pinggy's header rewriting off", "`x:noreverseproxy`",
           "`reverseProxy`", "`true`", http_only=True, words=lambda on: [] if on else ["x:noreverseproxy"]),
    Option("pass_preflight", "boolean", "let CORS preflight through", "`x:passpreflight`", "`allowPreflight`",
           "`false`", http_only=True, words=_flag("x:passpreflight")),
    Option("mcp", "boolean or mapping", "the local server speaks MCP (streamable HTTP): `true` (at `/mcp`) or "
           "`{path: /other}`; used by `check`, `connect` and `status`, not by the container", default="`false`",
           http_only=True),
    Option("local_tls", "boolean or string", "the local server speaks HTTPS: `true`, or an SNI name",
           "`x:localServerTls[:SNI]`", "`https://` in `forwarding[].address` (with an SNI name only)", "`false`",
           http_only=True, words=_with_value("x:localServerTls")),
    Option("headers", "mapping", _HEADERS_DOC, "`a:…`, `u:…`, `r:…`", "`headerModification`", http_only=True,
           words=_header_words),
    Option("debugger_port", "integer", "local port of Pinggy's web debugger, read by `status`",
           "`-L<port>:localhost:4300`", "`webDebugger`"),
    Option("image", "string", "tunnel client image, by tag or digest", default="`pinggy/pinggy:latest`"),
    Option("client", "string", "the client `image` runs: `pinggy-cli` (Pinggy's CLI: `--conf`, a network namespace of "
           "its own) or `openssh` (`-F`); set it for Pinggy's CLI under another name",
           default="`pinggy-cli` for `pinggy/pinggy` and its mirrors (`…/pinggy/pinggy`), else `openssh`"),
    Option("restart", "string", "Docker restart policy", "`--restart`", default="`unless-stopped`"),
    Option("log_rotation", "mapping", "`{max_size: 1m, max_files: 3}`: Docker keeps at most this much of the "
           "client's output", "`--log-opt` (json-file)", default="`1m` × `3`"),
    Option("container_name", "string", "container name", "`--name`", default="`<project>-<name>`"),
    Option("labels", "mapping", "your own Docker labels (`io.tunnelctl.*` is reserved)", "`--label`"),
    Option("engine", "string", "which of `engines` the tunnel runs on", default="the only engine"),
)
BY_FIELD = {option.field: option for option in OPTIONS}
HTTP_ONLY = tuple(option for option in OPTIONS if option.http_only)
OPENSSH_ONLY = tuple(option.field for option in OPTIONS if option.cli == IGNORED)


def remote_words(settings: Settings) -> list[str]:
    """Pinggy's options, unquoted, in the rows' order: what travels as the ssh remote command."""
    return [word for option in OPTIONS if option.words and (value := settings.value(option.field)) is not None
            for word in option.words(value)]


def markdown_table() -> str:
    """README's option table."""
    lines = ["| field | type | meaning | argv (OpenSSH) / Docker | Pinggy's CLI reads it as | default |",
             "| --- | --- | --- | --- | --- | --- |"]
    for option in OPTIONS:
        meaning = option.doc + (" (http only)" if option.http_only else "")
        lines.append(f"| `{option.field}` | {option.type} | {meaning} | {option.openssh} | {option.cli} | "
                     f"{option.default} |")
    return "\n".join(lines) + "\n"
