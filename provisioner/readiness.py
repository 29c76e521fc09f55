"""Wait until freshly started tunnels are up (their public URLs appeared) or have clearly failed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from .engine import Engine
from .pinggy_output import RECENT_ENTRIES, read_session
from .status import local_side

STARTING, UP, FAILED = "starting", "up", "failed"
_EXITED = ("exited", "dead", "restarting")  # restarting: it has exited at least once already


@dataclass(frozen=True)
class Target:
    tunnel: str
    container_id: str
    host: str
    port: int
    network: str = "host"


@dataclass(frozen=True)
class Readiness:
    tunnel: str
    state: str = STARTING
    urls: tuple[str, ...] = ()
    problem: str = ""


def wait_until_up(engine: Engine, project: str, targets: list[Target], timeout: float,
                  on_change: Callable[[list[Readiness]], None], poll_interval: float = 0.2) -> list[Readiness]:
    results = {target.tunnel: Readiness(target.tunnel) for target in targets}
    on_change(list(results.values()))
    deadline = time.monotonic() + timeout
    while True:
        pending = [target for target in targets if results[target.tunnel].state == STARTING]
        if not pending:
            break
        states = {container.id: container.state for container in engine.observe(project, []).owned}
        changed = False
        for target in pending:
            judged = _judge(engine, target, states.get(target.container_id))
            if judged.state != STARTING:
                results[target.tunnel] = judged
                changed = True
        if changed:
            on_change(list(results.values()))
        if time.monotonic() >= deadline:
            for target in targets:
                if results[target.tunnel].state == STARTING:
                    last = read_session(engine.logs(target.container_id, tail=20)).last_line
                    results[target.tunnel] = replace(results[target.tunnel], state=FAILED, problem=(
                        f"no public URL within {timeout:g}s" + (f"; last output: {last}" if last else "")))
            on_change(list(results.values()))
            break
        time.sleep(poll_interval)
    return list(results.values())


def _judge(engine: Engine, target: Target, state: str | None) -> Readiness:
    if state is None:
        return Readiness(target.tunnel, FAILED, problem="the container disappeared")
    session = read_session(engine.logs(target.container_id, tail=RECENT_ENTRIES))
    if session.refusal:
        return Readiness(target.tunnel, FAILED, problem=f"Pinggy refused the login: {session.refusal}")
    if session.urls:
        listening, note = local_side(engine, target.network, target.host, target.port)
        if listening is False:
            return Readiness(target.tunnel, FAILED, session.urls,
                             f"the tunnel is up, but nothing listens on {target.host}:{target.port}"
                             + (f" ({note})" if note else ""))
        return Readiness(target.tunnel, UP, session.urls)
    if state in _EXITED:
        detail = f": {session.last_line}" if session.last_line else ""
        return Readiness(target.tunnel, FAILED, problem=f"the tunnel client exited{detail}")
    return Readiness(target.tunnel, STARTING)
