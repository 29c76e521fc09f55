"""The path every changing command shares: scope the desired specs, pull, observe once, plan, and fingerprint both
inputs so that a saved plan can prove it still applies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace as with_changes

from .containers import ContainerSpec, Observation
from .engine import Engine
from .errors import EngineError, UserError
from .planner import Plan, plan


@dataclass(frozen=True)
class Prepared:
    plan: Plan
    desired_digest: str
    observed_digest: str
    pull_failures: tuple[str, ...] = ()


def prepare(engine: Engine, project: str, specs: Sequence[ContainerSpec], *, targets: Collection[str] = (),
            replace: Collection[str] = (), pull: bool = False, removal_reason: str = "not in the manifest") -> Prepared:
    names = {spec.tunnel for spec in specs}
    unknown_replace = sorted(set(replace) - names)
    if unknown_replace:
        raise UserError(f"--replace names no tunnel of the manifest: {', '.join(unknown_replace)}")
    if targets:
        specs = [spec for spec in specs if spec.tunnel in targets]
    failures = _pull_all(engine, specs) if pull else ()
    observed = engine.observe(project, [spec.container_name for spec in specs], {spec.image for spec in specs})
    if targets:
        unknown = sorted(set(targets) - names - {container.tunnel for container in observed.owned})
        if unknown:
            raise UserError(f"--target names no tunnel of the manifest or the project: {', '.join(unknown)}")
        observed = with_changes(observed, owned=tuple(c for c in observed.owned if c.tunnel in targets))
    return Prepared(
        plan=plan(project, specs, observed, removal_reason=removal_reason, replace=replace),
        desired_digest=_digest([project, sorted((spec.tunnel, spec.spec_hash) for spec in specs),
                                sorted(targets), sorted(replace)]),
        observed_digest=observation_digest(observed),
        pull_failures=failures,
    )


def observation_digest(observed: Observation) -> str:
    """What the planner saw of the engine; Docker's ever-changing status text ("Up 3 minutes") is left out."""
    return _digest([sorted((c.id, c.name, c.tunnel, c.state, c.spec_hash, c.image_id) for c in observed.owned),
                    sorted(observed.foreign_names.items()), sorted(observed.image_ids.items())])


def _pull_all(engine: Engine, specs: Sequence[ContainerSpec]) -> tuple[str, ...]:
    failures = []
    for image in sorted({spec.image for spec in specs}):
        try:
            engine.pull(image)
        except EngineError as error:
            users = ", ".join(sorted(spec.tunnel for spec in specs if spec.image == image))
            failures.append(f"{error.message}; tunnels using it ({users}) are left as they are")
    return tuple(failures)


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
