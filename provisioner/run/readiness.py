"""Wait until freshly started tunnels are up (their public URLs appeared) or have clearly failed.

A real Pinggy server is not instant: it holds a token for a moment after the client that had it went away, and it
throttles bursts of logins. Docker's restart policy retries such a login by itself, so a tunnel is judged by its
newest attempt, never by the first refusal or exit seen; only what lasts until the timeout, or a container Docker
will not restart, is a failure. A tunnel that is up at Pinggy while nothing listens locally yet is up: that is the
normal state at login, before the local server (say, Figma's MCP server) is started.

While waiting, tunnelctl logs in on its own schedule rather than all at once and then on Docker's back-off (0.1 s,
doubling, which would round a 2 s token-release lag up to 3.1 s): new containers are started a few at a time per
server, as many as the server's answers allow (`LoginPace`), the first wave as soon as each is created; a login
refused because the token is still held is retried as soon as Docker would merely be waiting; a login the server
reset (it sheds a burst of logins, as OpenSSH's MaxStartups does) is retried, like a first start, only within the
pace.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial

from ..desired.model import ALIVE_STATES
from ..desired.specs import server_name
from ..engine import Engine
from ..errors import EngineError
from ..observe.conditions import UP, UP_LOCAL_DOWN, client_session, local_down_note, local_side, serving_urls
from ..observe.pinggy_output import PINGGY, RECENT_ENTRIES, client_problem, read_session
from ..observe.token_holders import TokenHolder, TokenHolders, token_digest
from ..parallel import map_parallel
from ..plan.planner import Action

STARTING, FAILED = "starting", "failed"
REFUSED = "Pinggy refused the login: "  # how a problem that is Pinggy's refusal begins
# How often a pending tunnel's daemon log is read while apply waits (Pinggy's CLI prints a refusal nowhere else): a
# `docker exec` each time, so not at every poll.
DAEMON_LOG_EVERY = 2.0
_GIVEN_UP = ("exited", "dead")  # Docker will not start these again by itself
_BACKING_OFF = "restarting"  # the client exited and Docker waits before starting it again
_NOT_STARTED = "created"  # made by apply and left for the wait to start when its server takes another login
# What OpenSSH says when the server reset or closed the connection before the login: a server shedding a burst of
# logins, which asks for fewer at once rather than the same again.
_SHED = re.compile(r"Connection reset by|Connection closed by|kex_exchange_identification|banner exchange")


@dataclass(frozen=True)
class Deadline:
    """When an apply's waiting ends (--timeout): one moment for every wait in it, on every engine, so that waiting
    on several engines, or for a replacement and then for the creations, never adds up to more than the timeout."""

    timeout: float  # the user's --timeout, which messages quote
    at: float  # time.monotonic() when it runs out

    @classmethod
    def starting_now(cls, timeout: float) -> Deadline:
        return cls(timeout, time.monotonic() + timeout)

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at


@dataclass(frozen=True)
class Target:
    tunnel: str
    container_id: str
    host: str
    port: int
    network: str = "host"
    server: str = ""  # the Pinggy server it logs in to (host:port): logins are paced per server
    https_only: bool = False  # only its https:// URL serves
    token: str = ""  # its token's digest, to find another container of ours holding it; "": not compared

    @classmethod
    def started(cls, action: Action, container_id: str, compare_token: bool = False) -> Target:
        """What to wait for after `action` created the container `container_id`; `compare_token` (only for a trusted
        manifest: see observe/token_holders.py) looks for another container of ours holding its token."""
        spec = action.creates
        token = token_digest(spec.setting_digests, spec.settings.force) if compare_token else ""
        return cls(action.tunnel, container_id, spec.local_host, spec.local_port, spec.network, _server(action),
                   spec.settings.https_only, token)


def _server(action: Action) -> str:
    return f"{server_name(action.creates.settings)}:{action.creates.settings.server_port}"


def first_wave(creations: Iterable[Action]) -> set[str]:
    """The new tunnels whose clients may start as soon as their containers exist, while the others are still being
    created: as many per server as a first wave of logins (`LoginPace.START`), in the plan's order. The wait starts
    the rest when their server takes more."""
    taken: dict[str, int] = defaultdict(int)
    wave = set()
    for action in creations:
        if taken[_server(action)] < LoginPace.START:
            taken[_server(action)] += 1
            wave.add(action.tunnel)
    return wave


class LoginPace:
    """How many tunnels may be logging in to one server at once, as the server's answers say: each reset halves it,
    each tunnel that comes up adds one (additive increase, multiplicative decrease; no fixed sleeps). It starts at
    OpenSSH's default MaxStartups, the number of pending logins an sshd takes before it sheds any."""

    START = 10

    def __init__(self) -> None:
        self.allowed: dict[str, int] = defaultdict(lambda: self.START)

    def shed(self, server: str) -> None:
        self.allowed[server] = max(1, self.allowed[server] // 2)

    def grow(self, server: str) -> None:
        """Once per poll in which a tunnel of the server came up."""
        self.allowed[server] += 1


@dataclass(frozen=True)
class Readiness:
    tunnel: str
    state: str = STARTING
    urls: tuple[str, ...] = ()
    problem: str = ""  # why it failed, or, while starting, what the newest attempt said
    token_held: bool = False  # the problem is another container of ours that holds the tunnel's token
    said_by: str = ""  # who said `problem` while it starts (pinggy_output.PINGGY, INIT, CLIENT); "": tunnelctl


def wait_until_up(engine: Engine, project: str, targets: list[Target], timeout: float | Deadline,
                  on_change: Callable[[list[Readiness]], None], poll_interval: float = 0.1) -> list[Readiness]:
    """Poll until every target is up or has failed, or until the deadline (a number: that many seconds from now)."""
    deadline = timeout if isinstance(timeout, Deadline) else Deadline.starting_now(timeout)
    results = {target.tunnel: Readiness(target.tunnel) for target in targets}
    on_change(list(results.values()))
    pace, counted_reset = LoginPace(), set[str]()
    daemon_log_read: dict[str, float] = {}  # tunnel → when its client's daemon log was last read
    while True:
        pending = [target for target in targets if results[target.tunnel].state == STARTING]
        if not pending:
            break
        states = {container.id: container.state for container in engine.observe(project, []).owned}
        reading = {target.tunnel for target in pending
                   if time.monotonic() - daemon_log_read.get(target.tunnel, 0.0) >= DAEMON_LOG_EVERY}
        daemon_log_read.update(dict.fromkeys(reading, time.monotonic()))
        judged = _with_token_holders(engine, project, pending, map_parallel(
            partial(_judge_in, engine, states, reading), pending), reading, states)
        grown = set()
        for target, result in zip(pending, judged, strict=True):
            previous = results[target.tunnel]
            if result.state == STARTING and target.tunnel not in reading and (previous.token_held or (
                    previous.problem.startswith(REFUSED) and not result.problem.startswith(REFUSED))):
                result = previous  # what the daemon log or the token's holder said stands until the next read
            elif result.state == FAILED and previous.problem.startswith(REFUSED) and REFUSED not in result.problem:
                # It gave up or exited after Pinggy refused it, and only the daemon log, gone with it, said why: the
                # refusal read while it ran is the cause (a takeover's client, restart policy `no`, exits for good).
                result = replace(result, problem=f"{refusal_problem(previous.problem.removeprefix(REFUSED))}; then "
                                                 f"{result.problem}")
            results[target.tunnel] = result
            if result.state in (UP, UP_LOCAL_DOWN) and target.server not in grown:
                grown.add(target.server)
                pace.grow(target.server)
        started = _log_in_more(engine, pending, results, states, pace, counted_reset)
        on_change(list(results.values()))  # at every look, not only on a change: a view shows the time waited
        if deadline.passed:  # the last word, with what Pinggy's CLI wrote only to its daemon log (one exec each)
            _start_the_rest(engine, [target for target in pending if target.container_id not in started], states,
                            results)
            last = [target for target in targets if results[target.tunnel].state == STARTING]
            finals = _with_token_holders(engine, project, last, [
                _judge(engine, target, states.get(target.container_id), with_daemon_log=True) for target in last],
                {target.tunnel for target in last}, states)
            for target, final in zip(last, finals, strict=True):
                results[target.tunnel] = _timed_out(final, deadline.timeout) if final.state == STARTING else final
            on_change(list(results.values()))
            break
        time.sleep(poll_interval)
    return list(results.values())


def _log_in_more(engine: Engine, pending: list[Target], results: dict[str, Readiness], states: dict[str, str],
                 pace: LoginPace, counted_reset: set[str]) -> set[str]:
    """Start the clients whose turn it is: those Docker is backing off after a refusal for a token still held,
    always; those the server reset, and new containers not started yet, while their server takes more logins (each
    reset seen once lowers how many). Returns the containers it started."""
    logging_in: dict[str, int] = defaultdict(int)
    backing_off, not_started = [], []
    for target in pending:
        if results[target.tunnel].state != STARTING:
            continue
        state = states.get(target.container_id)
        if state == _BACKING_OFF:
            backing_off.append(target)
        elif state == _NOT_STARTED:
            not_started.append(target)
        else:
            logging_in[target.server] += 1
            counted_reset.discard(target.container_id)  # running again: its next reset is a new one
    turns: list[Callable[[], None]] = []
    for target in backing_off:
        newest = results[target.tunnel].problem
        if _SHED.search(newest):
            if target.container_id not in counted_reset:
                counted_reset.add(target.container_id)
                pace.shed(target.server)
            if logging_in[target.server] >= pace.allowed[target.server]:
                continue
        elif not newest.startswith(REFUSED):
            continue  # anything else (an unknown token, a crash) is left to Docker's back-off and the timeout
        turns.append(partial(engine.skip_back_off, target.container_id))
        logging_in[target.server] += 1
    first = []
    for target in not_started:
        if logging_in[target.server] < pace.allowed[target.server]:
            first.append(target)
            logging_in[target.server] += 1
    map_parallel(_take_turn, turns)
    _start_first(engine, first, results)
    return {target.container_id for target in first}


def _start_the_rest(engine: Engine, pending: list[Target], states: dict[str, str],
                    results: dict[str, Readiness]) -> None:
    """Out of time: the containers still waiting for their turn start now, and Docker's restart policy brings them
    up as it would have without the wait (they fail the wait, but never stay created and stopped)."""
    _start_first(engine, [target for target in pending if states.get(target.container_id) == _NOT_STARTED], results)


def _start_first(engine: Engine, targets: list[Target], results: dict[str, Readiness]) -> None:
    """A container's first start; one the engine refuses to start (a broken image, say) is removed, as a failed
    create-and-start leaves nothing behind, and fails with the engine's words."""
    def start(target: Target) -> str | None:
        try:
            engine.start(target.container_id)
        except EngineError as error:
            with contextlib.suppress(EngineError):
                engine.remove(target.container_id)
            return error.message
        return None

    for target, refused in zip(targets, map_parallel(start, targets), strict=True):
        if refused:
            results[target.tunnel] = Readiness(target.tunnel, FAILED, problem=refused)


def _take_turn(start: Callable[[], None]) -> None:
    try:
        start()
    except EngineError:
        pass  # gone or refused meanwhile: the next poll judges it


def _with_token_holders(engine: Engine, project: str, targets: list[Target], judged: list[Readiness],
                        reading: set[str], states: dict[str, str]) -> list[Readiness]:
    """Each judgement, explained by the other container of ours that holds the tunnel's token, if there is one
    (looked for at the pace of the daemon log's reads, with one list of every project's containers): the client may
    never print a refusal, and the holder says more than a refusal does. A holder up at Pinggy fails the tunnel at
    once, as nothing here will make it let go; one logging in too leaves it to the timeout."""
    asking = [index for index, (target, result) in enumerate(zip(targets, judged, strict=True))
              if target.token and target.tunnel in reading and not result.urls and result.state != UP_LOCAL_DOWN
              and states.get(target.container_id) in ALIVE_STATES]  # started: a holder explains its not logging in
    if not asking:
        return judged
    holders = TokenHolders(engine)
    explained = list(judged)
    for index in asking:
        target, result = targets[index], judged[index]
        holder = holders.holder(project, target.container_id, target.token)
        if holder is not None:
            explained[index] = _held(result, holder)
    return explained


def _held(result: Readiness, holder: TokenHolder) -> Readiness:
    """The holder first; then Pinggy's refusal, or what came of the client, when known."""
    told = result.state == FAILED or result.problem.startswith(REFUSED)
    also = f"; {result.problem}" if result.problem and told else ""
    state = FAILED if holder.holds_session or result.state == FAILED else STARTING
    return replace(result, state=state, problem=holder.problem() + also, token_held=True, said_by="")


def _judge_in(engine: Engine, states: dict[str, str], reading: set[str], target: Target) -> Readiness:
    return _judge(engine, target, states.get(target.container_id), with_daemon_log=target.tunnel in reading)


def _judge(engine: Engine, target: Target, state: str | None, with_daemon_log: bool = False) -> Readiness:
    if state is None:
        return Readiness(target.tunnel, FAILED, problem="the container disappeared")
    if state == _NOT_STARTED:  # waiting for its turn to log in: nothing to read yet (reading the empty logs of 40
        return Readiness(target.tunnel)  # of 50 at every poll took the engine's time from the starts that were due)
    session = (client_session(engine, target.container_id, running=state == "running") if with_daemon_log
               else read_session(engine.logs(target.container_id, tail=RECENT_ENTRIES)))
    urls = serving_urls(session.urls, target.https_only)
    if urls and state == "running":
        listening, note = local_side(engine, target.network, target.host, target.port)
        if listening is False:
            return Readiness(target.tunnel, UP_LOCAL_DOWN, urls,
                             local_down_note(target.host, target.port) + (f" ({note})" if note else ""))
        return Readiness(target.tunnel, UP, urls)
    if session.invalid_settings or session.init_error:  # no retry changes settings, or an image without the client
        return Readiness(target.tunnel, FAILED, problem=client_problem(session))
    if session.daemon_died:  # the client will not try again, and Docker sees it running: nothing will change
        refused = f"{REFUSED}{session.refusal}; then " if session.refusal else ""
        return Readiness(target.tunnel, FAILED, problem=refused + client_problem(session))
    if state in _GIVEN_UP:
        if session.refusal:
            return Readiness(target.tunnel, FAILED, problem=refusal_problem(session.refusal))
        if session.client_error:
            return Readiness(target.tunnel, FAILED, problem=client_problem(session))
        detail = f": {session.last_line}" if session.last_line else ""
        return Readiness(target.tunnel, FAILED, problem=f"the tunnel client exited{detail}")
    # Connecting, or refused/disconnected and about to be restarted by Docker: the next attempt may well succeed.
    if session.refusal:
        return Readiness(target.tunnel, STARTING, problem=f"{REFUSED}{session.refusal}", said_by=PINGGY)
    explained = client_problem(session)  # tunnelctl's words, which say whose the failure is
    return Readiness(target.tunnel, STARTING, problem=explained or session.last_line,
                     said_by="" if explained else session.last_speaker if session.last_line else "")


def _timed_out(result: Readiness, timeout: float) -> Readiness:
    if result.token_held:
        return replace(result, state=FAILED, problem=f"{result.problem} (still not up after {timeout:g}s)")
    if result.problem.startswith(REFUSED):
        refusal = result.problem.removeprefix(REFUSED)
        return replace(result, state=FAILED, problem=f"{refusal_problem(refusal)} (still refused after {timeout:g}s)")
    last = f"; last output: {result.problem}" if result.problem else ""
    if "Permission denied" in result.problem:  # the server did not take the login: the token is unknown to it
        last += "; the server does not accept this token: check it"
    return replace(result, state=FAILED, problem=f"no public URL within {timeout:g}s{last}")


def refusal_problem(refusal: str) -> str:
    """Pinggy's own words, and what to do about the refusal that lasts: a token held elsewhere."""
    advice = ("; another machine or project holds the token: stop the tunnel there, or set `force: true` to take "
              "the token over" if "already active" in refusal else "")
    return f"{REFUSED}{refusal}{advice}"

