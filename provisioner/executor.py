"""Carry out a plan on the engine: removals first, then creations, each phase in parallel."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from .engine import Engine
from .errors import UserError
from .planner import CONFLICT, CREATE, RECREATE, REMOVE, Action, Plan

DEFAULT_PARALLELISM = 8


@dataclass(frozen=True)
class Outcome:
    action: Action
    error: str | None = None
    container_id: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def execute(plan: Plan, engine: Engine, report: Callable[[Outcome], None],
            parallelism: int = DEFAULT_PARALLELISM) -> list[Outcome]:
    """Run every change of the plan, calling `report` as each one ends; return all outcomes.

    Removals (including the old containers of recreated tunnels) all finish before any creation starts, so a
    container name or a Pinggy token freed by one tunnel is free when another tunnel needs it.
    """
    outcomes = [Outcome(action, error=action.reasons[0]) for action in plan.actions if action.kind == CONFLICT]
    for outcome in outcomes:
        report(outcome)
    removals = [action for action in plan.actions if action.kind in (REMOVE, RECREATE)]
    creations = [action for action in plan.actions if action.kind == CREATE]
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        for outcome in _run_all(pool, removals, _remove_old(engine)):
            if outcome.failed or outcome.action.kind == REMOVE:
                outcomes.append(outcome)
                report(outcome)
            else:
                creations.append(outcome.action)
        for outcome in _run_all(pool, creations, lambda action: engine.create(action.spec)):
            outcomes.append(outcome)
            report(outcome)
    return outcomes


def _remove_old(engine: Engine) -> Callable[[Action], None]:
    def remove(action: Action) -> None:
        for container in action.replaces:
            engine.remove(container.id)
    return remove


def _run_all(pool: ThreadPoolExecutor, actions: Iterable[Action], step: Callable[[Action], str | None]):
    futures = {pool.submit(step, action): action for action in actions}
    for future in as_completed(futures):
        action = futures[future]
        try:
            yield Outcome(action, container_id=future.result())
        except UserError as error:
            yield Outcome(action, error=error.message)
        except Exception as error:  # one tunnel's unexpected failure must not hide the others' results
            yield Outcome(action, error=f"unexpected {type(error).__name__}: {error}")
