"""Read what a Pinggy tunnel client printed, whichever client it is. Pure text functions.

Two clients run in tunnel containers. OpenSSH prints what Pinggy's server says: a banner, then the URLs, or
`Login is not allowed…`; it exits when the session ends. Pinggy's own CLI (npm `pinggy`, the `pinggy/pinggy` image)
prints a `Remote URLs:` block, ` ✔ Success: Reconnected: URL, URL` after a dropped session, `⚠ Warning:` and
`✖ Error:` lines carrying the server's words, and redraws spinner frames (`⠋ Connecting…`) with `\\r` every 80 ms;
it reconnects inside the process. Its own verdicts are not Pinggy's: `Validation failed:` with the broken rules on the
next lines (`- Token must be at least 10 characters long`) before it connects at all, and `Maximum reconnection
attempts reached` (libpinggy's words) when it gives up. A dropped session and a refused login print nothing: the
CLI's daemon log (`daemon_log`) has what happened. In a container of tunnelctl's layout 4 the launcher copies that
log's tunnel events into the container's own logs, each after `DAEMON_LOG_LINE` (`copied_daemon_log` finds them).

Docker's json-file log splits a line at 16 KiB and stores each half as valid UTF-8, so a character cut there (a
spinner frame's braille, the CLI's dash) becomes two to four U+FFFD: read as one unknown character.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from ..engine.loopback import DAEMON_LOG_LINE
from ..manifest.domain_checks import OPENSSH, PINGGY_CLI

BANNER = "You can access local server via following URL(s):"
REFUSAL = "Login is not allowed"
CLI_URLS = "Remote URLs:"
CLI_RECONNECTED = "Reconnected:"
CLI_GAVE_UP = ("Reconnection failed", "Maximum reconnection attempts reached")
CLI_INVALID = "Validation failed:"
# The CLI lost its daemon child (libpinggy 0.1.7's daemon dies of SIGSEGV when the server refuses a login): whatever
# URLs it printed are dead.
CLI_DAEMON_LOST = "Daemon connection dropped"
# Who said a line of a tunnel container's output: Pinggy's server (its words, which the client passes on), the
# container's init process (docker-init is tini, Podman's is catatonit), or the tunnel client itself.
PINGGY, INIT, CLIENT = "Pinggy", "init process", "client"
_PINGGYS_WORDS = (BANNER, REFUSAL, "Tunnel closed")
# `[FATAL tini (7)] exec -p failed: No such file or directory`, `ERROR (catatonit:1): failed to exec pid1: …`.
_INIT_LINE = re.compile(r"^\[(?:FATAL|WARN|INFO|DEBUG|TRACE)\s+tini \(\d+\)\] "
                        r"|^(?:ERROR|WARN|INFO|DEBUG) \(catatonit:\d+\): ")
# The init process could not start the client: the image has no such program; no restart changes that.
_INIT_EXEC_FAILED = re.compile(r"^(?:exec .* failed: |failed to exec pid1: )")
# A client given the other client's arguments (its `client` setting is not what the image runs): Pinggy's CLI refuses
# OpenSSH's -F (`✖ Fatal Error: Unknown option '-F'. Please check your command or use pinggy -h for guidance.`), and
# OpenSSH the CLI's --conf (`unknown option -- -`, then its usage; `ssh: ` first on some builds). Both exit at once.
CLI_REFUSES_OPENSSH = "Unknown option '-F'"
_OPENSSH_REFUSES_CLI = re.compile(r"^(?:ssh: )?unknown option -- -$")
WRONG_CLIENT = {
    PINGGY_CLI: "the image runs Pinggy's CLI, not OpenSSH (it refuses OpenSSH's -F): set `client: pinggy-cli` on this "
                "tunnel",
    OPENSSH: "the image runs OpenSSH, not Pinggy's CLI (it refuses the CLI's --conf): set `client: openssh` on this "
             "tunnel",
}
# The daemon died before the session was up: the CLI notices a lost daemon only once a tunnel is established, so it
# redraws `waiting for connection...` for ever (seen with the real CLI after a SIGSEGV of its daemon).
DAEMON_DIED = ("the tunnel client's daemon died without shutting down (Pinggy's CLI; with libpinggy 0.1.7 it crashes "
               "right after a refused login), so the client will never connect, however long it redraws its spinner: "
               "`tunnelctl apply --replace TUNNEL` starts a new one")

# CSI sequences (colours, cursor moves), OSC sequences (titles), and single-character escapes, which `ssh -t`
# sessions and the CLI's picocolors print around their text.
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
# A full-screen client places lines with cursor moves rather than line breaks.
_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[HfEF]")
# What ssh itself says on every start; never the reason a tunnel is down.
_SSH_CHATTER = ("Pseudo-terminal will not be allocated", "Warning: Permanently added", "Allocated port")
_URL = re.compile(r"\b(?:https?|tcp|tls|udp|tlstcp)://[^\s\"'<>,]+")
# The CLI's spinner ("dots": braille frames) and its in-place traffic counter, both redrawn after a bare `\r`.
_SPINNER_FRAME = re.compile(r"^[\u2800-\u28ff\ufffd] ")
# A character Docker cut in two at a 16 KiB split: each of its bytes became U+FFFD.
_SPLIT_CHARACTER = re.compile("\ufffd{2,4}")
_CLEAR_LINE = "\x1b[K"
_TRAFFIC = re.compile(r"^Connections: \d+ \| Bytes: \d+$")
# The CLI's message lines: `✖ Error: …`, `✖ Fatal Error: …`, `⚠ Warning: …`, ` ✔ Success: …`.
# Searched for anywhere in a line: on a terminal, stderr's message may follow stdout's unfinished counter.
_CLI_MESSAGE = re.compile(r"(\u2716 (?:Fatal )?Error|\u26a0 Warning|\u2714 Success):\s*(.*)$")
_WARNING = "Warning"
# A tunnel's short id, which the CLI puts before messages about one of several tunnels: `[1a2b3c4d] Reconnected: …`.
_TUNNEL_ID = re.compile(r"^\[[0-9A-Za-z-]{1,36}\]\s*")
# The CLI's own words before the server's reason; what follows is Pinggy's.
_CLI_REASONS = ("Disconnected:", "Failed to start tunnel:", "Tunnel disconnected before establishment:",
                "Failed to connect:")
_CLI_RETRYING = ("Reconnecting", "Retrying")
# OpenSSH's words when a session it had is over (the server dropped it, or the network did), and the stand-in's: the
# URLs printed before are dead from here on, and Docker restarts the client, which logs in for new ones.
_SESSION_ENDED = re.compile(r"^(?:Connection to \S+ closed\b|client_loop: send disconnect:|Timeout, server \S+ not "
                            r"responding|Tunnel closed\b)")
# The CLI's first words; the OpenSSH client never says them.
_CLI_STARTED = re.compile(r"^(?:[\u2800-\u28ff\ufffd] Initializing\.\.\.|\u2714 Initialized)$")
# A daemon log line: `2026-12-06T03:08:33.885Z [tunnel:9b318a6a] [info] Tunnel will reconnect {"error":"…",…}`.
_DAEMON_EVENT = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[tunnel:[0-9a-f]+\] \[\w+\] (Tunnel [a-z ]+?)(?: (\{.*\}))?$")
# The daemon's own life: `2026-12-06T05:32:57.758Z [info] Daemon starting {"pid":14,"inProcess":false}`, and
# `… [info] Daemon shutting down` when it stops the proper way (a signal, or the CLI asked it to).
_DAEMON_LIFE = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \[\w+\] (Daemon starting|Daemon shutting down)(?: (\{.*\}))?$")
# How many of a container's newest log entries tunnelctl reads to learn a tunnel's state: every read is bounded,
# and the newest announcement or refusal is near the end (a reconnecting CLI's spinner is one entry per 16 KiB).
RECENT_ENTRIES = 2000


@dataclass(frozen=True)
class SessionOutput:
    urls: tuple[str, ...] = ()  # the current public URLs; empty while the tunnel is down
    refusal: str | None = None  # Pinggy's own words for the newest refusal or dropped session, if that is the state
    retrying: bool = False  # the client said it tries again by itself (the CLI does; OpenSSH exits instead)
    last_line: str = ""  # the newest line that says something (no spinner frames, no ssh chatter)
    client_error: str | None = None  # the client's own verdict, not Pinggy's: settings it refuses, or it gave up
    invalid_settings: bool = False  # client_error is about the settings: no retry will change it
    is_cli: bool = False  # Pinggy's CLI printed this (it keeps a daemon log, which says more: with_daemon_log)
    connection_error: str | None = None  # why the CLI's newest attempt failed, in its daemon log (not Pinggy's words)
    dropped: bool = False  # the session was up and the server or the network ended it; the CLI is reconnecting
    daemon_died: bool = False  # the CLI's daemon, which holds the session, is gone without shutting down
    last_speaker: str = CLIENT  # who said last_line: PINGGY, INIT or CLIENT
    init_error: str | None = None  # the init process could not start the client (its words, without its prefix)
    image_runs: str | None = None  # the client the image turned out to run, refusing the other one's arguments


def client_problem(session: SessionOutput) -> str:
    """The client's own verdict, or what its daemon log says of its newest attempt, in words that say whose it is;
    "" when it said nothing."""
    if session.image_runs:
        return WRONG_CLIENT[session.image_runs]
    if session.init_error:
        return (f"the container's init process could not start the tunnel client ({session.init_error}): is `image` "
                "an image of a Pinggy tunnel client, with the client as its entry point?")
    if session.daemon_died:
        return DAEMON_DIED + (f" (its last attempt failed with: {session.connection_error})"
                              if session.connection_error else "")
    if not session.client_error:
        if not session.connection_error:
            return ""
        if session.dropped:
            return (f"the session ended ({session.connection_error}); the client is reconnecting, and the next login "
                    "gets a new URL")
        return f"the client cannot connect to Pinggy's server: {session.connection_error} (it keeps retrying)"
    if session.invalid_settings:
        return f"the tunnel client refuses its settings before connecting: {session.client_error}"
    cause = f"; the last attempt failed with: {session.connection_error}" if session.connection_error else ""
    if session.client_error.startswith(CLI_DAEMON_LOST):
        return f"the tunnel client lost its daemon, which held the session ({session.client_error})"
    return f"the tunnel client gave up reconnecting (its own words, not Pinggy's: {session.client_error}){cause}"


def plain_lines(text: str) -> list[str]:
    """Every line and every `\\r`-redrawn frame, without escape codes; spinner frames and counters included."""
    text = _ESCAPES.sub("", _CURSOR_MOVES.sub("\n", joined_characters(text)))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [line.strip() for line in text.split("\n") if line.strip()]


def joined_characters(text: str) -> str:
    """A character Docker's 16 KiB log split cut in two (two to four U+FFFD) as one unknown character."""
    return _SPLIT_CHARACTER.sub("\ufffd", text)


def _is_frame(line: str) -> bool:
    return bool(_SPINNER_FRAME.match(line) or _TRAFFIC.match(line))


def copied_daemon_log(text: str) -> str:
    """The daemon log lines a tunnel container's launcher copied into its logs (engine/loopback.py); "" if none."""
    return "".join(line[len(DAEMON_LOG_LINE):] for line in text.splitlines(keepends=True)
                   if line.startswith(DAEMON_LOG_LINE))


def read_session(text: str) -> SessionOutput:
    """The newest state in `text`: the URLs of the newest announcement, or the newest refusal after it."""
    lines = [line for line in plain_lines(text) if not line.startswith(DAEMON_LOG_LINE.strip())]
    state = SessionOutput()
    for index, line in enumerate(lines):
        kind, message = _message(line)
        said = _INIT_LINE.sub("", line)
        if said != line:
            if _INIT_EXEC_FAILED.match(said):
                state = SessionOutput(init_error=said)
        elif BANNER in line:
            state = SessionOutput(urls=_urls_after(lines, index, BANNER))
        elif line == CLI_URLS:
            state = SessionOutput(urls=_urls_after(lines, index, CLI_URLS))
        elif message.startswith(CLI_RECONNECTED):
            state = SessionOutput(urls=tuple(dict.fromkeys(_URL.findall(message))))
        elif kind and message.startswith(CLI_REFUSES_OPENSSH):
            state = SessionOutput(client_error=message, invalid_settings=True, image_runs=PINGGY_CLI)
        elif _OPENSSH_REFUSES_CLI.match(line):
            state = SessionOutput(client_error=line, invalid_settings=True, image_runs=OPENSSH)
        elif message.startswith(CLI_INVALID) or _reason(message).startswith(CLI_INVALID):
            rules = [item[2:].strip() for item in _list_after(lines, index)]
            state = SessionOutput(client_error="; ".join(rules) or _reason(message), invalid_settings=True)
        elif any(words in message for words in CLI_GAVE_UP):
            state = SessionOutput(refusal=state.refusal, client_error=_reason(message))
        elif message.startswith(CLI_DAEMON_LOST):
            state = SessionOutput(refusal=state.refusal, retrying=True, client_error=message)
        elif REFUSAL in line or (kind and message.startswith(_CLI_REASONS)):
            reason = line[line.index(REFUSAL):] if REFUSAL in line else _reason(message)
            # The CLI warns while it keeps trying; an error ends the attempt, and OpenSSH exits.
            state = SessionOutput(refusal=reason, retrying=kind == _WARNING)
        elif _SPINNER_FRAME.sub("", message).startswith(_CLI_RETRYING):
            state = SessionOutput(refusal=state.refusal, retrying=True)
        elif _SESSION_ENDED.match(line):  # a refusal stays the reason: ssh says the connection closed after it too
            state = SessionOutput(refusal=state.refusal, retrying=state.retrying)
    telling = [line for line in lines if not line.startswith(_SSH_CHATTER) and not _is_frame(line)]
    last = telling[-1] if telling else ""
    return SessionOutput(state.urls, state.refusal, state.retrying, last, state.client_error, state.invalid_settings,
                         is_cli=any(map(_CLI_STARTED.match, lines)), last_speaker=speaker(last),
                         init_error=state.init_error, image_runs=state.image_runs)


def speaker(line: str) -> str:
    """Who said `line`: PINGGY (its server's words, passed on by the client), INIT (the container's init process) or
    CLIENT (the tunnel client itself, ssh or Pinggy's CLI)."""
    if _INIT_LINE.match(line):
        return INIT
    return PINGGY if any(words in line for words in _PINGGYS_WORDS) else CLIENT


@dataclass(frozen=True)
class DaemonLog:
    """The newest state in Pinggy's CLI's daemon log."""

    condition: str = ""  # "up", "down", or "" while it says nothing yet
    urls: tuple[str, ...] = ()  # while up
    reason: str = ""  # while down: the newest error (Pinggy's refusal, or the connection's failure)
    was_up: bool = False  # a session was up before (a drop, not a first attempt)
    daemon_pid: int | None = None  # the newest daemon that started and did not log its shutdown (it may have died)


def read_daemon_log(text: str) -> DaemonLog:
    """The tunnel's events in the daemon log, which stdout does not show: a dropped session and a refused login print
    nothing there. Lines are `ISO-TIME [tunnel:ID8] [info] MESSAGE {JSON}`, among the SDK's own."""
    state = DaemonLog()
    for line in text.splitlines():
        life = _DAEMON_LIFE.match(line)
        if life:
            pid = _json_object(life.group(2)).get("pid") if life.group(1) == "Daemon starting" else None
            state = replace(state, daemon_pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None)
            continue
        found = _DAEMON_EVENT.match(line)
        if not found:
            continue
        event, details = found.group(1), _json_object(found.group(2))
        if event in ("Tunnel started", "Tunnel reconnection completed"):
            urls = details.get("urls")
            state = DaemonLog("up", tuple(url for url in urls if isinstance(url, str)) if isinstance(urls, list)
                              else (), was_up=True, daemon_pid=state.daemon_pid)
        elif event == "Tunnel will reconnect":
            reason = details.get("error")
            state = DaemonLog("down", reason=reason if isinstance(reason, str) and reason else "the connection ended",
                              was_up=state.was_up, daemon_pid=state.daemon_pid)
        elif event in ("Tunnel reconnecting", "Tunnel reconnection failed") and state.condition != "down":
            state = replace(state, condition="down", urls=())
    return state


def with_daemon_log(session: SessionOutput, daemon: DaemonLog) -> SessionOutput:
    """What stdout said, corrected by the daemon log: URLs it printed are dead once the daemon says the session went
    down; a refusal the CLI never printed is Pinggy's refusal; any other failure is the connection's."""
    if daemon.condition == "up":  # the URLs are stdout's: the daemon logs them before the CLI prints them all
        return replace(session, refusal=None, connection_error=None)
    if daemon.condition != "down" or session.invalid_settings:
        return session
    if REFUSAL in daemon.reason:
        return replace(session, urls=(), refusal=daemon.reason[daemon.reason.index(REFUSAL):], retrying=True,
                       dropped=daemon.was_up)
    return replace(session, urls=(), retrying=True, connection_error=daemon.reason, dropped=daemon.was_up)


def _json_object(text: str | None) -> dict:
    try:
        document = json.loads(text or "{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _message(line: str) -> tuple[str, str]:
    """A CLI message line's kind and text (`⚠ Warning: X` → ("Warning", X)); ("", line) for any other line.
    The text loses the tunnel id the CLI puts first when it runs several tunnels."""
    found = _CLI_MESSAGE.search(line)
    if not found:
        return "", _TUNNEL_ID.sub("", line)
    return found.group(1).split()[-1], _TUNNEL_ID.sub("", found.group(2))


def _reason(message: str) -> str:
    for prefix in _CLI_REASONS:
        if message.startswith(prefix):
            return message[len(prefix):].strip() or message
    return message


def _list_after(lines: list[str], heading_at: int) -> list[str]:
    """The `- item` lines that continue a message (the CLI's `Validation failed:` lists each broken rule)."""
    items = []
    for line in lines[heading_at + 1:]:
        if not line.startswith("- "):
            break
        items.append(line)
    return items


def _urls_after(lines: list[str], heading_at: int, heading: str) -> tuple[str, ...]:
    found = _URL.findall(lines[heading_at].split(heading, 1)[1])
    for line in lines[heading_at + 1:]:
        if not _URL.fullmatch(line):  # the URL list ends at the first line that is not just a URL
            break
        found.append(line)
    return tuple(dict.fromkeys(found))


def collapse_frames(chunks: Iterable[str], timestamped: bool = False) -> Iterator[str]:
    """Output as a terminal would leave it, one finished line at a time: each line shows only its last `\\r`-redrawn
    frame, and a run of lines that are frames of the same spinner (or the traffic counter) shows once. Four hours of
    a reconnecting CLI's spinner are a line, not 47,000. Colour codes stay: `logs` shows what the client printed.
    `timestamped`: each line starts with the engine's time of it, kept in front of what is shown of the line."""
    pending = ""
    previous = None
    for chunk in chunks:
        lines = (pending + chunk).replace("\r\n", "\n").split("\n")
        pending = lines.pop()
        for line in lines:
            stamp, line = _stamp(line, timestamped)
            shown, previous = _collapsed(line, previous)
            if shown is not None:
                yield stamp + shown + "\n"
    if pending:
        stamp, pending = _stamp(pending, timestamped)
        shown, _ = _collapsed(pending, previous)
        if shown is not None:
            yield stamp + shown


def _stamp(line: str, timestamped: bool) -> tuple[str, str]:
    if not timestamped:
        return "", line
    stamp, space, rest = line.partition(" ")
    return stamp + space, rest


def _collapsed(line: str, previous: str | None) -> tuple[str | None, str | None]:
    """(what to show of `line`, or None; the spinner it is a frame of, for the next line)."""
    visible = joined_characters(_last_frame(line))
    if line and not visible:
        return None, previous  # the client cleared its spinner away
    plain = _ESCAPES.sub("", visible).strip()
    frame = ("traffic" if _TRAFFIC.match(plain) else _SPINNER_FRAME.sub("", plain)) if _is_frame(plain) else None
    return (None if frame is not None and frame == previous else visible), frame


def _last_frame(line: str) -> str:
    """What a terminal shows of a line the client redrew after `\\r`s: the last frame, or nothing after a clear."""
    shown = line
    for frame in line.split("\r"):
        if frame:  # a `\r` before a line break rewrites nothing
            shown = frame.removeprefix(_CLEAR_LINE)
    return shown


def urls_from_debugger(body: bytes) -> tuple[str, ...]:
    """The web debugger's `GET /urls` answer, `{"urls": [...]}`; anything else yields no URLs."""
    try:
        document = json.loads(body)
    except ValueError:
        return ()
    urls = document.get("urls") if isinstance(document, dict) else None
    return tuple(url for url in urls if isinstance(url, str)) if isinstance(urls, list) else ()
