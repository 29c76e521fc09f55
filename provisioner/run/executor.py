"""Carry out a plan on the engine: removals first, then creations and replacements, each phase in parallel.

A replacement never leaves the tunnel worse off: the old container is renamed aside and stopped (a token carries
one live tunnel), the new one is created and, when waiting, must come up; only then is the old one removed. If the
new one fails, the old one gets its name back and is started again. A real server frees a token a moment after its
client left, so the new client's first logins may be refused: Docker's restart policy retries them, and readiness
judges the newest attempt (see readiness.py), so that is not a failure. Killed at any step, the process leaves
containers that the next plan recognises (renamed, stopped, created-never-started) and the next apply cleans up.

Where the old container's session is tunnelctl's own (plan/planner.py `can_take_over`), a replacement does not wait
for that: the old one serves on, renamed aside, until the new one's one forced login takes its session over
(`_take_over`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import pause_points
from ..constants import DEFAULT_PARALLELISM
from ..desired.model import ObservedContainer
from ..engine import Engine
from ..errors import EngineError, UserError
from ..parallel import as_finished, map_parallel
from ..plan.fleet import FleetPlan, changed_engines
from ..plan.kinds import CONFLICT, CREATE, MOVE, RECREATE, REMOVE
from ..plan.planner import Action, Move, Plan

if TYPE_CHECKING:
    from .readiness import Deadline


@dataclass(frozen=True)
class Outcome:
    action: Action
    error: str | None = None
    container_id: str | None = None
    engine: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None


def execute(plan: Plan, engine: Engine, report: Callable[[Outcome], None],
            parallelism: int = DEFAULT_PARALLELISM, wait_timeout: float | Deadline | None = None) -> list[Outcome]:
    """Run every change of the plan, calling `report` as each one ends; return all outcomes.

    Removals all finish before any creation starts, so a container name or a Pinggy token freed by one tunnel is
    free when another needs it. `wait_timeout` (seconds, or the apply's one deadline; None: don't wait) bounds how
    long a replacement may take to come up before the old container is restored.
    """
    outcomes = [Outcome(action, error=action.reasons[0], engine=engine.name)
                for action in plan.actions if action.kind == CONFLICT]
    for outcome in outcomes:
        report(outcome)
    removals = [action for action in plan.actions if action.kind == REMOVE]
    changes = [action for action in plan.actions if action.kind in (CREATE, RECREATE)]
    starting = {action.tunnel for action in changes if action.kind == CREATE}
    if wait_timeout is not None:  # the wait starts the others, a few logins at a time per server
        from .readiness import first_wave

        starting = first_wave(action for action in changes if action.kind == CREATE)

    def change(action: Action) -> str:
        if action.kind == CREATE:
            return engine.create(action.creates, start=action.tunnel in starting)
        return _replace(engine, plan.project, action, wait_timeout)

    for phase, step in ((removals, lambda action: _remove_all(engine, action.replaces)), (changes, change)):
        for outcome in _run_all(phase, step, engine.name, parallelism):
            outcomes.append(outcome)
            report(outcome)
    return outcomes


def execute_fleet(fleet: FleetPlan, report: Callable[[Outcome], None], parallelism: int = DEFAULT_PARALLELISM,
                  wait_timeout: float | Deadline | None = None) -> list[Outcome]:
    """Every engine's changes at once (an engine waits on itself, not on the others), then the moves between
    engines (each needs both of its engines); all within one deadline."""
    from .readiness import Deadline

    if isinstance(wait_timeout, (int, float)):
        wait_timeout = Deadline.starting_now(wait_timeout)
    reporting = threading.Lock()

    def report_one(outcome: Outcome) -> None:
        with reporting:  # one outcome at a time, whichever engine's
            report(outcome)

    parts = changed_engines(fleet)
    outcomes = [outcome for each in map_parallel(
        lambda part: execute(part.plan, part.engine, report_one, parallelism, wait_timeout), parts,
        limit=max(1, len(parts))) for outcome in each]
    engines = {part.name: part.engine for part in fleet.reachable}
    for moving in fleet.moves:
        action = Action(MOVE, moving.tunnel, moving.create.container_name,
                        (f"{moving.source} → {moving.destination}",), spec=moving.create.spec)
        try:
            container_id = move(fleet.project, moving, engines[moving.source], engines[moving.destination],
                                wait_timeout)
            outcome = Outcome(action, container_id=container_id, engine=moving.destination)
        except UserError as error:
            outcome = Outcome(action, error=error.message, engine=moving.destination)
        outcomes.append(outcome)
        report(outcome)
    return outcomes


def _remove_all(engine: Engine, containers: Iterable[ObservedContainer]) -> None:
    for container in containers:
        engine.remove(container.id, stop_first=container.alive)
        pause_points.reached("removed-one")


def _replace(engine: Engine, project: str, action: Action, wait_timeout: float | Deadline | None) -> str:
    previous = next((container for container in action.replaces if container.name == action.container_name
                     and container.alive), None)
    _remove_all(engine, (container for container in action.replaces if container is not previous))
    return _swap(project, engine, previous, engine, action, wait_timeout)


def move(project: str, moving: Move, source: Engine, destination: Engine,
         wait_timeout: float | Deadline | None) -> str:
    """Bring the tunnel up on its new engine, then remove it from the old one; if it fails, the old one runs on."""
    previous = next((container for container in moving.remove.replaces
                     if container.alive), None)
    _remove_all(source, (container for container in moving.remove.replaces if container is not previous))
    return _swap(project, source, previous, destination, moving.create, wait_timeout)


def _swap(project: str, old_engine: Engine, previous: ObservedContainer | None, new_engine: Engine, action: Action,
          wait_timeout: float | Deadline | None) -> str:
    """Create the new container, stop the previous one (a token carries one live tunnel), start the new one, and
    keep it only if it comes up; on the same engine the previous one is first renamed aside, to free its name. The
    new one is made (and its image pulled) while the old one still serves: visitors only miss the stop, the start
    and the login."""
    same_engine = old_engine is new_engine
    if previous and same_engine and not old_engine.renames:
        return _remove_then_create(project, old_engine, previous, action, wait_timeout)
    if previous and same_engine:
        old_engine.rename(previous.id, f"{previous.name}-replaced-{previous.short_id}")
        pause_points.reached("renamed-aside")
        if action.takes_over and wait_timeout is not None:
            taken_over = _take_over(project, old_engine, previous, action, wait_timeout)
            if taken_over:
                return taken_over
    new_id = None
    try:
        new_id = new_engine.create(action.creates, start=False)
        if previous:
            old_engine.stop(previous.id)
            pause_points.reached("stopped-old")
        new_engine.start(new_id)
        pause_points.reached("started-new")
        if wait_timeout is not None:
            _wait_for(new_engine, project, action, new_id, wait_timeout)
    except EngineError as error:
        if previous is None:
            raise
        restored = _restore(old_engine, previous, new_engine, new_id, same_engine)
        raise EngineError(f"{error.message}; {restored}") from None
    if previous:
        old_engine.remove(previous.id)
        pause_points.reached("removed-old")
    return new_id


def _take_over(project: str, engine: Engine, previous: ObservedContainer, action: Action,
               wait_timeout: float | Deadline) -> str | None:
    """The replacement that keeps visitors' tunnel, once the old container is renamed aside: it keeps serving while
    the new one is made, and the new one's one forced login ends its session (plan/planner.py `can_take_over` says
    when that session is ours to end). The old one will not be restarted meanwhile (its client, its session ended,
    must not come back for the token); the new one is made as a takeover (the engine: it forces once, and keeps a name
    of its own until committed), started only if the old one is still up at Pinggy, and committed once up; then the
    old one goes. None when the old one was not up: it runs on, renamed aside, for the caller to replace as usual. If
    the new one fails, the old one gets its name and restart policy back, and runs on."""
    try:
        policy = engine.set_restart_policy(previous.id, "no")
    except EngineError:
        return None  # an engine that cannot change it (an older Podman): replaced as usual
    new_id = None
    try:
        new_id = engine.create_takeover(action.creates, start=False)
        if not _session_is_ours(engine, previous):
            engine.remove(new_id)
            engine.set_restart_policy(previous.id, policy)
            return None
        engine.start(new_id)
        pause_points.reached("started-new")
        _wait_for(engine, project, action, new_id, wait_timeout)
        engine.commit_takeover(new_id, action.creates)
        pause_points.reached("committed-new")
    except EngineError as error:
        restored = _restore(engine, previous, engine, new_id, renamed=True, restart_policy=policy)
        raise EngineError(f"{error.message}; {restored}") from None
    engine.remove(previous.id, stop_first=True)
    pause_points.reached("removed-old")
    return new_id


def _session_is_ours(engine: Engine, container: ObservedContainer) -> bool:
    """Whether the container still runs and its client is up at Pinggy by what it said since its latest start (its
    URLs, and no drop or refusal after them): read right before the forced login, to keep short the moment in which
    its session could become someone else's."""
    from ..observe.conditions import client_session

    details = engine.inspect([container.id])
    if not details or details[0].state != "running":
        return False
    session = client_session(engine, container.id, running=True, since=details[0].started_at)
    return bool(session.urls) and not session.daemon_died


def _remove_then_create(project: str, engine: Engine, previous: ObservedContainer, action: Action,
                        wait_timeout: float | Deadline | None) -> str:
    """The replacement on an engine that cannot rename: the old container must go before the new one can take its
    name, so a new one that fails leaves the tunnel down until the next apply; the error says so."""
    engine.remove(previous.id, stop_first=previous.alive)
    pause_points.reached("removed-old")
    try:
        new_id = engine.create(action.creates)
        if wait_timeout is not None:
            _wait_for(engine, project, action, new_id, wait_timeout)
    except EngineError as error:
        raise EngineError(f"{error.message}; the previous container was removed first (engine '{engine.name}' "
                          "cannot rename containers), so the tunnel is down: fix the cause and apply again") from None
    return new_id


def _wait_for(engine: Engine, project: str, action: Action, container_id: str, timeout: float | Deadline) -> None:
    from .readiness import FAILED, Target, wait_until_up

    [result] = wait_until_up(engine, project, [Target.started(action, container_id)], timeout, lambda results: None)
    if result.state == FAILED:
        raise EngineError(f"the new container did not come up: {result.problem}")


def _restore(old_engine: Engine, previous: ObservedContainer, new_engine: Engine, new_id: str | None,
             renamed: bool, restart_policy: str | None = None) -> str:
    """Give the old container back its name (and the restart policy it had, if a takeover changed it) and start it:
    the user keeps the tunnel that worked."""
    try:
        if new_id:
            new_engine.remove(new_id, stop_first=True)
        if renamed:
            old_engine.rename(previous.id, previous.name)
        if restart_policy:
            old_engine.set_restart_policy(previous.id, restart_policy)
        old_engine.start(previous.id)
    except EngineError as error:
        return f"restoring the previous container failed too ({error.message}); the next apply will clean up"
    return "the previous container was restored and runs again"


def _run_all(actions: Iterable[Action], step: Callable[[Action], str | None], engine: str,
             parallelism: int) -> Iterator[Outcome]:
    for action, result in as_finished(step, actions, parallelism):
        try:
            yield Outcome(action, container_id=result(), engine=engine)
        except UserError as error:
            yield Outcome(action, error=error.message, engine=engine)
        except Exception as error:  # one tunnel's unexpected failure must not hide the others' results
            yield Outcome(action, error=f"unexpected {type(error).__name__}: {error}", engine=engine)
