"""The planner: a pure function from (desired specs, observed containers) to the actions that converge them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .containers import ContainerSpec, Observation, ObservedContainer

CREATE = "create"
RECREATE = "recreate"
REMOVE = "remove"
UNCHANGED = "unchanged"
CONFLICT = "conflict"

CHANGE_KINDS = (CREATE, RECREATE, REMOVE)
# A restarting container is alive as far as we are concerned: its restart policy is already bringing it back.
_ALIVE_STATES = ("running", "restarting")


@dataclass(frozen=True)
class Action:
    kind: str
    tunnel: str
    container_name: str
    reasons: tuple[str, ...] = ()
    spec: ContainerSpec | None = None  # what to create (create, recreate)
    replaces: tuple[ObservedContainer, ...] = ()  # what to remove first (recreate, remove)


@dataclass(frozen=True)
class Plan:
    project: str
    actions: tuple[Action, ...]

    def count(self, kind: str) -> int:
        return sum(1 for action in self.actions if action.kind == kind)

    @property
    def has_changes(self) -> bool:
        return any(action.kind in CHANGE_KINDS for action in self.actions)

    @property
    def conflicts(self) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.kind == CONFLICT)


def plan(project: str, desired: Iterable[ContainerSpec], observed: Observation,
         removal_reason: str = "not in the manifest") -> Plan:
    by_tunnel: dict[str, list[ObservedContainer]] = defaultdict(list)
    for container in observed.owned:
        by_tunnel[container.tunnel].append(container)

    actions = [_converge(spec, tuple(by_tunnel.pop(spec.tunnel, ())), observed) for spec in desired]
    for tunnel, leftovers in sorted(by_tunnel.items()):
        actions.append(Action(REMOVE, tunnel, leftovers[0].name, (removal_reason,), replaces=tuple(leftovers)))
    return Plan(project, tuple(actions))


def _converge(spec: ContainerSpec, current: tuple[ObservedContainer, ...], observed: Observation) -> Action:
    holder = observed.foreign_names.get(spec.container_name)
    if holder:
        return Action(CONFLICT, spec.tunnel, spec.container_name, (
            f"the name '{spec.container_name}' is taken by {holder}; tunnelctl leaves it alone: remove or rename "
            f"that container, or set a different container_name",), spec=spec)
    if not current:
        return Action(CREATE, spec.tunnel, spec.container_name, spec=spec)
    reasons = replacement_reasons(spec, current)
    if reasons:
        return Action(RECREATE, spec.tunnel, spec.container_name, reasons, spec=spec, replaces=current)
    return Action(UNCHANGED, spec.tunnel, spec.container_name, spec=spec)


def replacement_reasons(spec: ContainerSpec, current: tuple[ObservedContainer, ...]) -> tuple[str, ...]:
    if len(current) > 1:
        return (f"{len(current)} containers run this tunnel: "
                + ", ".join(f"{container.name} ({container.short_id})" for container in current),)
    container = current[0]
    reasons = []
    if container.spec_hash != spec.spec_hash:
        changed = changed_settings(spec.setting_digests, container.setting_digests)
        reasons.append(f"{', '.join(changed)} changed" if changed else "container configuration changed")
    if container.state not in _ALIVE_STATES:
        reasons.append(f"container is not running ({container.status or container.state})")
    return tuple(reasons)


def changed_settings(wanted: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    names = set(wanted) | set(current)
    return sorted(name for name in names if wanted.get(name) != current.get(name))
