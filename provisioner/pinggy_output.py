"""Read what a Pinggy ssh session printed: its public URLs, or why the login was refused. Pure text functions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

BANNER = "You can access local server via following URL(s):"
REFUSAL = "Login is not allowed"

# CSI sequences (colours, cursor moves), OSC sequences (titles), and single-character escapes, which `ssh -t`
# sessions print around the banner.
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# What ssh itself says on every start; never the reason a tunnel is down.
_SSH_CHATTER = ("Pseudo-terminal will not be allocated", "Warning: Permanently added", "Allocated port")
_URL = re.compile(r"\b(?:https?|tcp|tls|udp|tlstcp)://[^\s\"'<>]+")


@dataclass(frozen=True)
class SessionOutput:
    urls: tuple[str, ...] = ()
    refusal: str | None = None  # Pinggy's own words when it refused the login
    last_line: str = ""


# A full-screen client places lines with cursor moves rather than line breaks.
_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[HfEF]")


def plain_lines(text: str) -> list[str]:
    text = _ESCAPES.sub("", _CURSOR_MOVES.sub("\n", text)).replace("\r\n", "\n").replace("\r", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def read_session(text: str) -> SessionOutput:
    """The URLs of the last banner in `text` (a restarted client prints a new one), or the refusal."""
    lines = plain_lines(text)
    urls: tuple[str, ...] = ()
    refusal = None
    for index, line in enumerate(lines):
        if BANNER in line:
            urls, refusal = _urls_after(lines, index), None
        elif REFUSAL in line:
            urls, refusal = (), line
    telling = [line for line in lines if not line.startswith(_SSH_CHATTER)]
    return SessionOutput(urls=urls, refusal=refusal, last_line=telling[-1] if telling else "")


def _urls_after(lines: list[str], banner_at: int) -> tuple[str, ...]:
    found = _URL.findall(lines[banner_at].split(BANNER, 1)[1])
    for line in lines[banner_at + 1:]:
        if not _URL.fullmatch(line):  # the URL list ends at the first line that is not just a URL
            break
        found.append(line)
    return tuple(dict.fromkeys(found))


def urls_from_debugger(body: bytes) -> tuple[str, ...]:
    """The web debugger's `GET /urls` answer, `{"urls": [...]}`; anything else yields no URLs."""
    try:
        document = json.loads(body)
    except ValueError:
        return ()
    urls = document.get("urls") if isinstance(document, dict) else None
    return tuple(url for url in urls if isinstance(url, str)) if isinstance(urls, list) else ()
