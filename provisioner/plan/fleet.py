"""The path every changing command shares, across the manifest's engines: open each engine, scope the desired
specs, pull, observe every engine at once (one list call each), plan each, pair cross-engine moves, and fingerprint
each engine's inputs so that a saved plan can prove it still applies."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import replace as with_changes
from typing import Any

from ..desired.labels import digest
from ..desired.model import ContainerSpec, Observation, ObservedContainer
from ..engine import Engine, Unreachable
from ..engine.config import ENVIRONMENT_ENGINE
from ..engine.platforms import PODMAN_IMAGE_NOTE, PODMAN_RESTART_NOTE, EngineKind
from ..errors import EngineError, UserError
from ..parallel import both, map_parallel
from .kinds import CHANGE_KINDS, CONFLICT, CREATE, MOVE, RECREATE, REMOVE, UNCHANGED, ActionKind
from .planner import (
    Move,
    Plan,
    find_moves,
    plan,
)

SUMMARY_KINDS = (CREATE, RECREATE, REMOVE, UNCHANGED, CONFLICT)
# The desired specs of one engine's tunnels, given its name and a way to learn its kind (asked only when needed).
SpecsFor = Callable[[str, Callable[[], EngineKind]], Sequence[ContainerSpec]]


@dataclass(frozen=True)
class EnginePlan:
    """One engine's part of the plan, with fingerprints of what it was made from."""

    name: str
    endpoint: str
    engine: Engine
    plan: Plan
    desired_digest: str
    observed_digest: str
    observed_tunnels: frozenset[str] = frozenset()
    pull_failures: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what differs on this kind of engine, said when the plan creates containers there
    absent_images: frozenset[str] = frozenset()  # images the specs name that the engine does not have (yet)


@dataclass(frozen=True)
class FleetPlan:
    project: str
    engines: tuple[EnginePlan | Unreachable, ...]
    moves: tuple[Move, ...] = ()

    @property
    def reachable(self) -> tuple[EnginePlan, ...]:
        return tuple(part for part in self.engines if isinstance(part, EnginePlan))

    @property
    def unreachable(self) -> tuple[Unreachable, ...]:
        return tuple(part for part in self.engines if isinstance(part, Unreachable))

    @property
    def has_changes(self) -> bool:
        return bool(self.moves) or any(part.plan.has_changes for part in self.reachable)

    @property
    def conflicts(self) -> int:
        return sum(len(part.plan.conflicts) for part in self.reachable)

    @property
    def pull_failures(self) -> tuple[str, ...]:
        return tuple(failure for part in self.reachable for failure in part.pull_failures)

    @property
    def single(self) -> bool:
        """The manifest names no engines: output looks as it always did, without engine headings."""
        return [part.name for part in self.engines] == [ENVIRONMENT_ENGINE]

    def count(self, kind: ActionKind) -> int:
        return sum(part.plan.count(kind) for part in self.reachable)


def plan_fleet(project: str, engines: Mapping[str, Engine | Unreachable], specs_for: SpecsFor, *,
               targets: Collection[str] = (), replace: Collection[str] = (), pull: bool = False,
               removal_reason: str = "not in the manifest", known_tunnels: Collection[str] = (),
               salt: str = "") -> FleetPlan:
    """Plan every engine concurrently; an engine that cannot be reached is reported, and the others proceed.

    `salt` goes into each engine's desired digest: the specs' hashes cover values made of the environment, and a
    saved plan (a CI artifact) must not let its reader test guesses of such a value (`token: "{{ env.S[0] }}"` has
    62) against it offline; salted with the whole values read, a guess needs them all."""
    unknown_replace = sorted(set(replace) - set(known_tunnels))
    if unknown_replace:
        raise UserError(f"--replace names no tunnel of the manifest: {', '.join(unknown_replace)}")

    def one(name: str) -> EnginePlan | Unreachable:
        engine = engines[name]
        if isinstance(engine, Unreachable):
            return engine
        try:
            # The list call while the specs are computed: the engine answers it (50 ms for 500 containers) while
            # Python works out the argv and hash of each tunnel (20 ms for 500), instead of one after the other.
            owned, specs = both(lambda: engine.list_owned(project), lambda: specs_for(name, lambda: engine.kind))
            return _prepare_engine(engine, project, specs, owned, targets, replace, pull, removal_reason, salt)
        except EngineError as error:
            return Unreachable(name, engine.endpoint, error.message)

    parts = map_parallel(one, engines, limit=len(engines))  # every engine at once: each is one list call
    reachable = [part for part in parts if isinstance(part, EnginePlan)]
    if targets:
        seen = set(known_tunnels) | {tunnel for part in reachable for tunnel in part.observed_tunnels}
        unknown = sorted(set(targets) - seen)
        if unknown and len(reachable) == len(parts):
            raise UserError(f"--target names no tunnel of the manifest or the project: {', '.join(unknown)}")
    plans, moves = find_moves({part.name: part.plan for part in reachable})
    parts = [with_changes(part, plan=plans[part.name]) if isinstance(part, EnginePlan) else part for part in parts]
    return FleetPlan(project, tuple(parts), tuple(moves))


def _prepare_engine(engine: Engine, project: str, specs: Sequence[ContainerSpec],
                    owned: tuple[ObservedContainer, ...], targets, replace, pull, removal_reason,
                    salt: str) -> EnginePlan:
    if targets:
        specs = [spec for spec in specs if spec.tunnel in targets]
    failures = _pull_all(engine, specs) if pull else ()
    observed = engine.observe(project, [spec.container_name for spec in specs], {spec.image for spec in specs},
                              {spec.network for spec in specs}, owned=owned)
    held = frozenset(container.tunnel for container in observed.owned)
    if targets:
        observed = with_changes(observed, owned=tuple(c for c in observed.owned if c.tunnel in targets))
    engine_plan = plan(project, specs, observed, removal_reason=removal_reason, replace=replace)
    return EnginePlan(
        name=engine.name, endpoint=engine.endpoint, engine=engine, plan=engine_plan,
        desired_digest=digest([project, sorted((spec.tunnel, spec.spec_hash) for spec in specs),
                                sorted(targets), sorted(replace)] + ([salt] if salt else [])),
        observed_digest=observation_digest(observed), observed_tunnels=held, pull_failures=failures,
        notes=_kind_notes(engine, engine_plan, observed),
        absent_images=frozenset(spec.image for spec in specs) - set(observed.image_ids))


def _kind_notes(engine: Engine, engine_plan: Plan, observed: Observation) -> tuple[str, ...]:
    """What differs on this kind of engine (Podman), said when the plan creates containers there: restarts after a
    reboot need its restart service, and an image missing by the manifest's name may be there as localhost/NAME."""
    creating = [action.creates for action in engine_plan.actions if action.kind in (CREATE, RECREATE)]
    if not creating:
        return ()
    relevant = set()
    if any(spec.restart_policy in ("always", "unless-stopped") for spec in creating):
        relevant.add(PODMAN_RESTART_NOTE)
    if any(spec.image not in observed.image_ids for spec in creating):
        relevant.add(PODMAN_IMAGE_NOTE)
    return tuple(f"engine '{engine.name}' is {engine.kind.label}: {note}"
                 for note in engine.kind.notes if note in relevant)


def observation_digest(observed: Observation) -> str:
    """What the planner saw of the engine; Docker's ever-changing status text ("Up 3 minutes") is left out."""
    return digest([sorted((c.id, c.name, c.tunnel, c.state, c.spec_hash, c.image_id) for c in observed.owned),
                   sorted(observed.foreign_names.items()), sorted(observed.image_ids.items()),
                   sorted(observed.missing_networks)])


def _pull_all(engine: Engine, specs: Sequence[ContainerSpec]) -> tuple[str, ...]:
    failures = []
    for image in sorted({spec.image for spec in specs}):
        try:
            engine.pull(image)
        except EngineError as error:
            users = ", ".join(sorted(spec.tunnel for spec in specs if spec.image == image))
            failures.append(f"{error.message}; tunnels using it ({users}) are left as they are")
    return tuple(failures)


def changed_engines(fleet: FleetPlan) -> list[EnginePlan]:
    """The engines the fleet plan changes: those with changes of their own, and both ends of every move."""
    moving = {move.source for move in fleet.moves} | {move.destination for move in fleet.moves}
    return [part for part in fleet.reachable
            if part.name in moving or any(action.kind in CHANGE_KINDS for action in part.plan.actions)]


def plan_document(fleet: FleetPlan) -> dict[str, Any]:
    """The plan as data (what `plan --json` prints and a saved plan holds): no secret, only names and reasons."""
    return {
        "project": fleet.project,
        "has_changes": fleet.has_changes,
        "summary": {**{kind: fleet.count(kind) for kind in SUMMARY_KINDS}, MOVE: len(fleet.moves)},
        "actions": [
            {
                "engine": part.name,
                "tunnel": action.tunnel,
                "action": action.kind,
                "container": action.container_name,
                "reasons": list(action.reasons),
                "replaces": [container.id for container in action.replaces],
                "settings": [{"setting": change.setting, "old": change.old, "new": change.new,
                              "sensitive": change.sensitive} for change in action.settings],
            }
            for part in fleet.reachable for action in part.plan.actions
        ],
        "moves": [{"tunnel": move.tunnel, "from": move.source, "to": move.destination,
                   "replaces": [container.id for container in move.remove.replaces]} for move in fleet.moves],
        "unreachable": [{"engine": part.name, "error": part.error} for part in fleet.unreachable],
    }
