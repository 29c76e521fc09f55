"""`tunnelctl connect`: what each MCP client needs to reach a tunnel's MCP URL with its access key.

The key is referenced, not written: by the environment variable the manifest's template reads (Claude Code, Cursor,
Windsurf and the JSON form), by a password prompt (VS Code), or by a placeholder where the client cannot expand
anything (Claude Desktop). `reveal` writes the key itself.

The Claude Code command is pasted into bash, zsh or fish: every word is quoted so that all three read the same
word and run nothing inside it (a username `$(touch${IFS}$HOME/pwned)` stays text), and the key's reference is
`$VAR` in double quotes, the one form all three expand.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError

if TYPE_CHECKING:
    from ..manifest.settings import Settings

_ENV_TEMPLATE = re.compile(r"""^\s*\{\{\s*env"""
                           r"""(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['"]([A-Za-z_][A-Za-z0-9_]*)['"]\s*\])"""
                           r"""\s*(?:\|[^{}]*)?\}\}\s*$""")


@dataclass(frozen=True)
class Credential:
    """How a visitor authenticates: `scheme` Bearer or Basic; `variable` names where the key comes from."""
    scheme: str | None  # None: the tunnel asks for nothing
    variable: str = ""  # the environment variable holding the key (Bearer) or the password (Basic)
    from_manifest: bool = True  # the manifest's template reads `variable`; False: a name made up for the user
    value: str | None = None  # the key, or `user:password`, when it is known (rendered)
    username: str = ""


def credential(manifest_path: Path, tunnel_name: str, settings: Settings) -> Credential:
    """The tunnel's first access key (else its first basic-auth pair), and which variable the manifest reads it from."""
    raw = _raw_tunnel(manifest_path, tunnel_name)
    fallback = re.sub(r"[^A-Z0-9]+", "_", tunnel_name.upper()).strip("_")
    if settings.access_keys:
        variable = _variable(raw.get("access_keys"))
        key = settings.access_keys[0]
        return Credential("Bearer", variable or f"{fallback}_ACCESS_KEY", bool(variable), _known(key))
    if settings.basic_auth:
        pair = settings.basic_auth[0]
        raw_pairs = raw.get("basic_auth")
        variable = _variable([raw_pairs[0].get("password")] if isinstance(raw_pairs, list) and raw_pairs and
                             isinstance(raw_pairs[0], dict) else None)
        password = _known(pair["password"])
        return Credential("Basic", variable or f"{fallback}_PASSWORD", bool(variable),
                          f"{pair['username']}:{password}" if password is not None else None, pair["username"])
    return Credential(None)


def unexported_note(client: str, cred: Credential, environment: Mapping[str, str], written: bool = False,
                    dotenv: Path | None = None) -> str | None:
    """What to say when the client will look for the key's variable where it is not set: the caller's shell (Claude
    Code's command) or the client's own environment (Cursor, Windsurf, the JSON form) does not have it, typically
    because tunnelctl read it from `dotenv`, the .env file beside the manifest. None when there is nothing to say."""
    if (cred.scheme != "Bearer" or not cred.from_manifest or client in ("vscode", "claude-desktop")
            or cred.variable in environment):
        return None
    where = ("a .env file tunnelctl read has it, this shell does not" if cred.value is not None else
             "nor is it in a .env file tunnelctl read")
    source = shell_word(str(dotenv)) if dotenv else "FILE"  # pasted too: quoted like the command
    load = (f"export it in this shell first (bash/zsh: `set -a; . {source}; set +a`; fish: `set -gx {cred.variable} "
            "…`)")
    if client == "claude-code" and not written:
        effect = "pasted as it is, the command registers an empty key"
    else:
        effect = f"the client reads {cred.variable} from its own environment"
        load = "start the client from a shell that exports it"
    return f"{cred.variable} is not set in this environment ({where}): {effect}; {load}, or rerun with --reveal"


def _known(value: str) -> str | None:
    """None for a value whose template could not be rendered (its variable is unset)."""
    return None if "{{" in value or "{%" in value else value


def _variable(raw_list: Any) -> str:
    if isinstance(raw_list, list) and raw_list and isinstance(raw_list[0], str):
        match = _ENV_TEMPLATE.match(raw_list[0])
        if match:
            return match.group(1) or match.group(2)
    return ""


def _raw_tunnel(manifest_path: Path, tunnel_name: str) -> dict:
    """The tunnel's entry as written (templates not rendered), over the manifest's defaults."""
    from ..manifest import read_text
    from ..manifest.positions import YamlProblem, parse

    try:
        data = parse(read_text(manifest_path))[0]
    except YamlProblem:
        return {}
    if not isinstance(data, dict):
        return {}
    defaults: dict[str, Any] = data["defaults"] if isinstance(data.get("defaults"), dict) else {}
    for entry in data.get("tunnels") or []:
        if isinstance(entry, dict) and entry.get("name") == tunnel_name:
            return {**defaults, **entry}
    return dict(defaults)


def render(client: str, name: str, url: str, cred: Credential, reveal: bool = False) -> tuple[str, list[str]]:
    """The text to print for `client`, and notes for the user (stderr)."""
    notes: list[str] = []
    if cred.scheme is None:
        notes.append(f"tunnel '{name}' asks visitors for no key: anyone with the URL reaches the server "
                     "(set access_keys in the manifest)")
    elif reveal and cred.value is None:
        raise UserError(f"--reveal needs the key, but {cred.variable} is not set: set it, or leave out --reveal "
                        "to reference the variable instead")
    elif not reveal and cred.scheme == "Basic":
        notes.append("MCP clients cannot base64-encode Basic credentials themselves: replace the <base64 of …> "
                     "placeholder, or rerun with --reveal")
    elif not reveal and not cred.from_manifest:
        notes.append(f"the manifest does not read the key from a variable: export {cred.variable}=… (the key) "
                     "where the client runs, or use --reveal")
    if client == "claude-code":
        words = [shell_word(word) for word in ("claude", "mcp", "add", "--transport", "http", name, url)]
        if cred.scheme and reveal:
            words += ["--header", shell_word("Authorization: " + _header_value(cred, True, ""))]
        elif cred.scheme:  # the user's shell puts the key in
            literal, _, after = ("Authorization: " + _header_value(cred, False, _MARK)).partition(_MARK)
            words += ["--header", shell_word(literal, cred.variable, after)]
        return " ".join(words), notes
    return _json(document(client, name, url, cred, reveal, notes)), notes


def document(client: str, name: str, url: str, cred: Credential, reveal: bool = False,
             notes: list[str] | None = None) -> dict[str, Any]:
    """The client's configuration for the tunnel, as its own file holds it (`connect --write` merges this into the
    file; Claude Code's is its project file `.mcp.json`, whose `${VAR}` it expands)."""
    if client == "claude-desktop":
        return _desktop(name, url, cred, reveal, notes if notes is not None else [])
    reference = (f"${{input:{_input_id(name, cred)}}}" if client == "vscode" else
                 f"${{env:{cred.variable}}}" if client in ("cursor", "windsurf") else f"${{{cred.variable}}}")
    headers = _headers(cred, reveal, reference)
    if client == "cursor":
        return {"mcpServers": {name: {"url": url, **headers}}}
    if client == "windsurf":
        return {"mcpServers": {name: {"serverUrl": url, **headers}}}
    if client == "claude-code":
        return {"mcpServers": {name: {"type": "http", "url": url, **headers}}}
    if client == "vscode":
        servers: dict[str, Any] = {"servers": {name: {"type": "http", "url": url, **headers}}}
        if cred.scheme and not reveal:
            prompt = "access key" if cred.scheme == "Bearer" else f"password of {cred.username}"
            return {"inputs": [{"type": "promptString", "id": _input_id(name, cred),
                                "description": f"The {prompt} of tunnel '{name}'", "password": True}], **servers}
        return servers
    return {"name": name, "url": url, "transport": "http", **headers,
            **({"key_variable": cred.variable} if cred.scheme and not reveal else {})}


_MARK = "\0"  # where the variable's reference goes in a header
_BARE = re.compile(r"[A-Za-z0-9_./:@+,-]+")  # a word that means itself in bash, zsh and fish
_IN_DOUBLE_QUOTES = re.compile(r"[A-Za-z0-9 _./:@+,<>=-]*")  # text that means itself between double quotes in all three


def shell_word(literal: str, variable: str = "", after: str = "") -> str:
    """One shell word for bash, zsh and fish: `literal`, then (if given) the value of `variable`, then `after`.

    Plain text goes in double quotes with `$VAR` where that is safe (no `$`, backquote, backslash or `!` in it);
    anything else in single quotes, with each quote and backslash double-quoted on its own (fish gives a backslash in
    single quotes a meaning; bash and zsh do not). A control character cannot be pasted: refused.
    """
    text = literal + after
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise UserError("a value connect would print holds a control character, which no shell pastes safely: "
                        "remove it from the manifest")
    if not variable:
        return literal if _BARE.fullmatch(literal) else _single_quoted(literal)
    if _IN_DOUBLE_QUOTES.fullmatch(text) and not re.match(r"[A-Za-z0-9_]", after):
        return f'"{literal}${variable}{after}"'
    return "".join(part for part in (literal and _single_quoted(literal), f'"${variable}"',
                                     after and _single_quoted(after)) if part)


def _single_quoted(text: str) -> str:
    if not text:
        return "''"
    parts = re.split(r"(['\\])", text)
    return "".join(('"\\\\"' if part == "\\" else "\"'\"") if part in ("'", "\\") else f"'{part}'"
                   for part in parts if part)


def _input_id(name: str, cred: Credential) -> str:
    return f"{name}-{'access-key' if cred.scheme == 'Bearer' else 'password'}"


def _header_value(cred: Credential, reveal: bool, reference: str) -> str:
    if reveal:
        if cred.scheme == "Basic":
            return "Basic " + base64.b64encode((cred.value or "").encode()).decode()
        return f"Bearer {cred.value}"
    if cred.scheme == "Basic":  # no client encodes it for us
        return f"Basic <base64 of {cred.username}:{reference}>"
    return "Bearer " + reference


def _headers(cred: Credential, reveal: bool, reference: str) -> dict:
    if cred.scheme is None:
        return {}
    return {"headers": {"Authorization": _header_value(cred, reveal, reference)}}


def _desktop(name: str, url: str, cred: Credential, reveal: bool, notes: list[str]) -> dict:
    """Claude Desktop takes no remote server with a header in its file: mcp-remote bridges, the header in `env`."""
    server: dict[str, Any] = {"command": "npx", "args": ["mcp-remote", url]}
    if cred.scheme:
        server["args"] += ["--header", "Authorization:${AUTH_HEADER}"]  # no space: some shells split the argument
        if reveal:
            server["env"] = {"AUTH_HEADER": _header_value(cred, True, "")}
        else:
            server["env"] = {"AUTH_HEADER": f"{cred.scheme} <{cred.variable}>"}
            notes.append(f"Claude Desktop does not expand variables: replace <{cred.variable}> with the key "
                         "(or rerun with --reveal)")
    return {"mcpServers": {name: server}}


def _json(document: dict) -> str:
    return json.dumps(document, indent=2)
