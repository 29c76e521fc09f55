"""plan, apply and destroy: load, lock, plan every engine, show, confirm, execute, wait for the tunnels to come up.

What is shown and how is the view's business (`ChangesView`); these functions decide what happens and the exit code.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .. import manifest
from ..constants import DEFAULT_PARALLELISM, EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from ..engine.config import EngineConfig
from ..engine.registry import Opener, open_engines
from ..errors import EngineError
from ..parallel import map_parallel
from ..plan.fleet import FleetPlan, SpecsFor
from ..plan.kinds import CHANGE_KINDS, REMOVE, UNCHANGED, ActionKind
from ..run.executor import Outcome

if TYPE_CHECKING:  # waiting is apply's business: a plan does not import it
    from ..engine import Engine
    from ..mcp.url_memory import UrlChange
    from ..plan.planner import Plan
    from ..run.readiness import Deadline, Readiness, Target

# Why a command cannot do without the secrets, said beside each one that is not set; read-only commands load without.
PLAN_NEEDS_SECRETS = ("plan compares a hash of each secret with the running container's and cannot without its "
                      "value; status, logs and destroy need no secrets")
APPLY_NEEDS_SECRETS = "apply sends it to Pinggy; status, logs and destroy need no secrets"


@dataclass(frozen=True)
class Scope:
    """Which manifest, and which part of what it declares, a command works on."""

    manifest: Path
    env_files: tuple[Path, ...] = ()
    engines: tuple[str, ...] = ()  # --engine: only these engines of the manifest
    targets: tuple[str, ...] = ()  # --target: only these tunnels
    replace: tuple[str, ...] = ()  # --replace: recreate these even if they match
    pull: bool = False


@dataclass(frozen=True)
class PlanOptions:
    scope: Scope
    detailed_exitcode: bool = False
    out: Path | None = None  # save the plan there


@dataclass(frozen=True)
class ExecuteOptions:
    """How changes are carried out."""

    auto_approve: bool = False
    lock_timeout: float = 0
    parallelism: int = DEFAULT_PARALLELISM
    wait_timeout: float | None = 60  # None: do not wait for the tunnels to come up


@dataclass(frozen=True)
class ApplyOptions:
    scope: Scope
    execute: ExecuteOptions = field(default_factory=ExecuteOptions)


@dataclass(frozen=True)
class SavedPlanOptions:
    """`apply PLAN`: the manifest, engines, targets and replacements are the saved plan's."""

    plan_file: Path
    env_files: tuple[Path, ...] = ()
    pull: bool = False
    execute: ExecuteOptions = field(default_factory=ExecuteOptions)


@dataclass(frozen=True)
class DestroyOptions:
    scope: Scope
    execute: ExecuteOptions = field(default_factory=ExecuteOptions)


class ChangesView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def warn(self, lines: Iterable[str]) -> None: ...

    def error(self, line: str) -> None: ...

    def plan(self, fleet: FleetPlan) -> None: ...

    def nothing(self, line: str) -> None:
        """There is nothing to change, said in the command's own words."""

    def saved_plan(self, path: Path) -> None: ...

    def confirm(self, question: str) -> bool: ...

    def outcome(self, outcome: Outcome, grouped: bool) -> None: ...

    def summary(self, verb: str, outcomes: list[Outcome], kinds: tuple[ActionKind, ...], down: list[str]) -> None:
        """The last word, after every verdict: `down` are the tunnels started that did not come up."""

    def readiness(self, results: list[Readiness]) -> None:
        """Progress while tunnels come up: called at every look, so that a view can show the time waited."""

    def readiness_done(self, results: list[Readiness]) -> None: ...

    def url_changes(self, changes: list[UrlChange], aside: bool = False) -> None: ...


def plan(options: PlanOptions, view: ChangesView, engines: Opener = open_engines) -> int:
    from ..desired.specs import engine_specs
    from ..plan import savedplan

    scope = options.scope
    loaded = manifest.load(scope.manifest, env_files=scope.env_files, need_secrets=PLAN_NEEDS_SECRETS)
    view.hide(loaded.secrets)
    view.warn(loaded.warnings)
    with planned_fleet(scope, loaded.project, loaded.engines, engine_specs(loaded), view, engines,
                       known_tunnels=[tunnel.name for tunnel in loaded.tunnels], hidden=loaded.secrets) as fleet:
        view.plan(fleet)
        unreachable = _report_unreachable(fleet, view)
        if options.out:
            savedplan.save(options.out, fleet, scope.manifest, scope.targets, scope.replace, loaded.secrets)
            view.saved_plan(options.out)
        if fleet.conflicts or fleet.pull_failures or unreachable:
            return EXIT_ERROR
        return EXIT_CHANGES if options.detailed_exitcode and fleet.has_changes else EXIT_OK


def apply(options: ApplyOptions, view: ChangesView, engines: Opener = open_engines) -> int:
    return _apply(options.scope, options.execute, view, engines)


def apply_saved_plan(options: SavedPlanOptions, view: ChangesView, engines: Opener = open_engines) -> int:
    """What was reviewed is what is applied, without a question; refused when what it was made from changed."""
    from ..plan import savedplan

    saved = savedplan.read(options.plan_file)
    scope = Scope(saved.manifest, options.env_files, tuple(saved.engines), saved.targets, saved.replace, options.pull)

    def still_fresh(fleet: FleetPlan, hidden: frozenset[str]) -> None:
        savedplan.check_fresh(saved, fleet, options.plan_file, hidden)

    return _apply(scope, replace(options.execute, auto_approve=True), view, engines, still_fresh)


def _apply(scope: Scope, execute: ExecuteOptions, view: ChangesView, engines: Opener,
           check: Callable[[FleetPlan, frozenset[str]], None] = lambda fleet, hidden: None) -> int:
    from ..desired.specs import engine_specs

    loaded = manifest.load(scope.manifest, env_files=scope.env_files, need_secrets=APPLY_NEEDS_SECRETS)
    view.hide(loaded.secrets)
    with planned_fleet(scope, loaded.project, loaded.engines, engine_specs(loaded), view, engines, lock=execute,
                       known_tunnels=[tunnel.name for tunnel in loaded.tunnels], hidden=loaded.secrets) as fleet:
        check(fleet, loaded.secrets)
        if fleet.has_changes:
            view.warn(loaded.warnings)
        code = carry_out(fleet, execute, view, "Apply these changes?", compare_tokens=loaded.trusted,
                         came_up=lambda results: view.url_changes(_moved(loaded, results)))
        return EXIT_ERROR if fleet.pull_failures or fleet.unreachable else code


def destroy(options: DestroyOptions, view: ChangesView, engines: Opener = open_engines) -> int:
    scope = options.scope
    loaded = manifest.load_scope(scope.manifest, env_files=scope.env_files)
    view.hide(loaded.secrets)
    project = loaded.project
    with planned_fleet(scope, project, loaded.engines, lambda name, kind: [], view, engines,
                       removal_reason="destroy", lock=options.execute) as fleet:
        if not fleet.has_changes and not fleet.unreachable:  # not "No changes… 0 tunnels up to date"
            view.nothing(f"Nothing to destroy: project '{project}' has no containers.")
            return EXIT_OK
        code = carry_out(fleet, options.execute, view, f"Remove these containers of project '{project}'?",
                         verb="Destroy", kinds=(REMOVE,))
        return EXIT_ERROR if fleet.unreachable else code


@contextlib.contextmanager
def planned_fleet(scope: Scope, project: str, engine_configs: Mapping[str, EngineConfig],
                  specs_for: SpecsFor, view: ChangesView, open_engines: Opener, *,
                  removal_reason: str = "not in the manifest", lock: ExecuteOptions | None = None,
                  known_tunnels: Collection[str] = (), hidden: Collection[str] = ()) -> Iterator[FleetPlan]:
    """Open the engines, lock them when changing (in one order, so that two runs cannot deadlock), and plan each;
    the plan is used inside the locks. With the environment's single engine, an unreachable engine is an error.
    `hidden` (what the manifest's templates read, and made of it) salts the digests a saved plan keeps."""
    from ..engine import Unreachable
    from ..plan.fleet import plan_fleet
    from ..run.locking import project_lock

    engines = open_engines(engine_configs, scope.engines)
    with contextlib.ExitStack() as locks:
        if lock is not None:
            reachable = [engine for engine in engines.values() if not isinstance(engine, Unreachable)]
            for engine in sorted(reachable, key=lambda each: each.endpoint):
                locks.enter_context(project_lock(
                    engine.endpoint, project, lock.lock_timeout,
                    on_takeover=lambda holder: view.error(f"note: taking over the lock left by {holder}")))
        fleet = plan_fleet(project, engines, specs_for, targets=scope.targets, replace=scope.replace,
                           pull=scope.pull, removal_reason=removal_reason, known_tunnels=known_tunnels,
                           salt="\0".join(sorted(hidden)))
        if fleet.single and fleet.unreachable:
            raise EngineError(fleet.unreachable[0].error)
        for failure in fleet.pull_failures:
            view.error(f"error: {failure}")
        yield fleet


def carry_out(fleet: FleetPlan, options: ExecuteOptions, view: ChangesView, question: str, verb: str = "Apply",
              kinds: tuple[ActionKind, ...] = CHANGE_KINDS,
              came_up: Callable[[list[Readiness]], None] = lambda results: None, compare_tokens: bool = False) -> int:
    """Show the plan, make sure of what it needs (preconditions.py), ask, execute it, wait for what it started to
    come up (`came_up` hears how they did), and say last how it all went."""
    from ..run.executor import execute_fleet
    from ..run.preconditions import published_ports_free, pull_missing_images
    from ..run.readiness import FAILED, Deadline

    view.plan(fleet)
    unreachable = _report_unreachable(fleet, view)
    if not fleet.has_changes:
        return EXIT_ERROR if fleet.conflicts or unreachable else EXIT_OK
    published_ports_free(fleet)
    pull_missing_images(fleet, view.error)
    if not options.auto_approve and not view.confirm(question):
        return EXIT_ERROR
    deadline = None if options.wait_timeout is None else Deadline.starting_now(options.wait_timeout)
    outcomes = execute_fleet(fleet, lambda outcome: view.outcome(outcome, not fleet.single), options.parallelism,
                             wait_timeout=deadline)
    down: list[str] = []  # started, but did not come up
    if deadline is not None:
        started = [outcome for outcome in outcomes if not outcome.failed and outcome.container_id]
        cleaned = {outcome.action.tunnel for outcome in outcomes
                   if not outcome.failed and outcome.action.kind == REMOVE}
        results = _wait_until_up(fleet, started, deadline, view, cleaned, compare_tokens)
        came_up(results)
        down = [result.tunnel for result in results if result.state == FAILED]
    view.summary(verb, outcomes, kinds, down)  # after the verdicts: what it says includes them
    return EXIT_ERROR if down or any(outcome.failed for outcome in outcomes) else EXIT_OK


def _wait_until_up(fleet: FleetPlan, started: list[Outcome], deadline: Deadline, view: ChangesView,
                   cleaned: Collection[str] = (), compare_tokens: bool = False) -> list[Readiness]:
    """Wait for the started tunnels on every engine at once, by the apply's deadline; return how each did. The view
    sees every engine's tunnels together, whichever engine's state changed. `compare_tokens`: a tunnel that does not
    come up is explained by another container of ours holding its token (a trusted manifest only)."""
    from ..run.readiness import Target, wait_until_up

    engines = {part.name: part.engine for part in fleet.reachable}
    waiting = {name: [Target.started(outcome.action, outcome.container_id or "", compare_tokens)
                      for outcome in started if outcome.engine == name] for name in engines}
    for part in fleet.reachable:
        waiting[part.name] += _repaired(part.engine, fleet.project, part.plan, cleaned, compare_tokens)
    waiting = {name: targets for name, targets in waiting.items() if targets}
    if not waiting:
        return []
    latest: dict[str, list[Readiness]] = {}
    showing = threading.Lock()

    def wait_on(name: str) -> list[Readiness]:
        def changed(results: list[Readiness]) -> None:
            with showing:
                latest[name] = results
                view.readiness([result for each in waiting if each in latest for result in latest[each]])

        return wait_until_up(engines[name], fleet.project, waiting[name], deadline, changed)

    results = [result for each in map_parallel(wait_on, waiting, limit=len(waiting)) for result in each]
    view.readiness_done(results)
    return results


def _repaired(engine: Engine, project: str, plan: Plan, cleaned: Collection[str],
              compare_tokens: bool) -> list[Target]:
    """The kept containers of tunnels whose leftovers (an interrupted apply's) this apply removed: while a leftover
    held the token, the kept one's logins were refused and Docker keeps restarting it, so it is waited for like a new
    one instead of being reported up to date while it restarts."""
    from ..run.readiness import Target

    kept = [action for action in plan.actions if action.kind == UNCHANGED and action.tunnel in cleaned]
    if not kept:
        return []
    ids = {container.name: container.id for container in engine.observe(project).owned}
    return [Target.started(action, ids[action.container_name], compare_tokens) for action in kept
            if action.container_name in ids]


def _moved(loaded: manifest.Manifest, results: list[Readiness]) -> list[UrlChange]:
    """The tunnels that came up at a URL other than the one tunnelctl last reported."""
    from ..mcp.protocol import mcp_path
    from ..mcp.url_memory import note_urls, reported_url

    settings = {tunnel.name: tunnel.settings for tunnel in loaded.tunnels}
    current = {result.tunnel: reported_url(result.urls, mcp_path(settings[result.tunnel]),
                                           settings[result.tunnel].domains or ())
               for result in results if result.urls and result.tunnel in settings}
    return note_urls(loaded.project, {tunnel: url for tunnel, url in current.items() if url})


def _report_unreachable(fleet: FleetPlan, view: ChangesView) -> bool:
    """Say once per engine that it could not be reached; return whether any could not."""
    for part in fleet.unreachable:
        view.error(f"error: engine '{part.name}': {part.error}")
    return bool(fleet.unreachable)
