"""The planner: a pure function from (desired specs, observed containers) to the actions that converge them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..desired.labels import SPEC_FORMAT
from ..desired.model import ContainerSpec, Observation, ObservedContainer
from .kinds import CHANGE_KINDS, CONFLICT, CREATE, RECREATE, REMOVE, UNCHANGED, ActionKind


@dataclass(frozen=True)
class SettingChange:
    """One setting as a plan shows it, Terraform's way: `old → new`, or `(sensitive)` for a setting that holds a
    secret. `old_known` is false for a create, and for a container that did not record its values."""

    setting: str
    old: Any = None
    new: Any = None
    sensitive: bool = False
    old_known: bool = False


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    tunnel: str
    container_name: str
    reasons: tuple[str, ...] = ()
    spec: ContainerSpec | None = None  # what the manifest wants (every kind but remove)
    replaces: tuple[ObservedContainer, ...] = ()  # what to remove first (recreate, remove)
    settings: tuple[SettingChange, ...] = ()  # create: every setting given; recreate: the ones that changed
    takes_over: bool = False  # a recreate whose new client takes the token's session over from the old one

    @property
    def creates(self) -> ContainerSpec:
        """The container this action brings up: create, recreate and move have one."""
        if self.spec is None:
            raise TypeError(f"a {self.kind} action creates no container")
        return self.spec


@dataclass(frozen=True)
class Move:
    """A tunnel leaving one engine for another: created on the destination, then removed from the source."""

    tunnel: str
    source: str
    destination: str
    create: Action
    remove: Action


@dataclass(frozen=True)
class Plan:
    project: str
    actions: tuple[Action, ...]

    def count(self, kind: ActionKind) -> int:
        return sum(1 for action in self.actions if action.kind == kind)

    @property
    def has_changes(self) -> bool:
        return any(action.kind in CHANGE_KINDS for action in self.actions)

    @property
    def conflicts(self) -> tuple[Action, ...]:
        return tuple(action for action in self.actions if action.kind == CONFLICT)

    @property
    def health_notes(self) -> tuple[str, ...]:
        """Trouble that recreating would not fix, such as a client that keeps restarting."""
        return tuple(f"{action.tunnel}: {reason}" for action in self.actions if action.kind == UNCHANGED
                     for reason in action.reasons)


def plan(project: str, desired: Iterable[ContainerSpec], observed: Observation,
         removal_reason: str = "not in the manifest", replace: Collection[str] = ()) -> Plan:
    """`replace` names tunnels to recreate even when they match (`--replace`)."""
    by_tunnel: dict[str, list[ObservedContainer]] = defaultdict(list)
    for container in observed.owned:
        by_tunnel[container.tunnel].append(container)

    actions: list[Action] = []
    for spec in desired:
        actions += _converge(spec, tuple(by_tunnel.pop(spec.tunnel, ())), observed, spec.tunnel in replace)
    for tunnel, leftovers in sorted(by_tunnel.items()):
        actions.append(Action(REMOVE, tunnel, leftovers[0].name, (removal_reason,), replaces=tuple(leftovers)))
    return Plan(project, tuple(actions))


def _converge(spec: ContainerSpec, current: tuple[ObservedContainer, ...], observed: Observation,
              replace: bool) -> list[Action]:
    holder = observed.foreign_names.get(spec.container_name)
    if holder:
        return [Action(CONFLICT, spec.tunnel, spec.container_name, (
            f"the name '{spec.container_name}' is taken by {holder}; tunnelctl leaves it alone: remove or rename "
            f"that container, or set a different container_name",), spec=spec)]
    if spec.network in observed.missing_networks:
        return [Action(CONFLICT, spec.tunnel, spec.container_name, (
            f"network '{spec.network}' does not exist on this engine: create it (docker network create "
            f"{spec.network}), start the project that defines it, or change the tunnel's network",), spec=spec)]
    if not current:
        return [Action(CREATE, spec.tunnel, spec.container_name, spec=spec, settings=created_settings(spec))]
    keeper = next((container for container in current if container.name == spec.container_name
                   and container.spec_hash == spec.spec_hash and container.alive and _relay_runs(container)), None)
    drift = _image_drift(spec, keeper, observed) if keeper else None
    if keeper and not replace and not drift:
        actions = [Action(UNCHANGED, spec.tunnel, spec.container_name, _health_notes(keeper), spec=spec)]
        leftovers = tuple(container for container in current if container is not keeper)
        if leftovers:  # what an interrupted apply left beside the tunnel's healthy container
            actions.append(Action(REMOVE, spec.tunnel, leftovers[0].name, (
                "leftover of an interrupted apply: " + ", ".join(_named(c) for c in leftovers),), replaces=leftovers))
        return actions
    reasons = (["replacement requested (--replace)"] if replace else []) + ([drift] if drift else [])
    reasons += replacement_reasons(spec, current)
    takes_over = can_take_over(spec, current, observed)
    if takes_over:
        reasons.append(TAKEOVER_REASON)
    return [Action(RECREATE, spec.tunnel, spec.container_name, tuple(reasons), spec=spec, replaces=current,
                   settings=changed_values(spec, current), takes_over=takes_over)]


TAKEOVER_REASON = "the new client takes the session over from the old one, without waiting for Pinggy to free the token"
# The settings that say which Pinggy session a client holds: the same in the old and the new container, or the new
# one's forced login would end another session than the old one's.
SESSION_SETTINGS = ("token", "server", "region")


def can_take_over(spec: ContainerSpec, current: tuple[ObservedContainer, ...], observed: Observation) -> bool:
    """Whether the new container may log in once with `+force`, ending the old container's session instead of
    waiting for Pinggy to free the token after the old client left (its release lag: the visitors' outage).

    Why that never ends a session that is not ours. `+force` ends whatever session holds the token when the forced
    login reaches Pinggy. Here (pure: from the one list call) the tunnel has a token and is not `force: true` (that
    one forces at every login anyway); its only container is ours (the project's labels), named as the tunnel, and
    running; old and new log in with the same token to the same server (their setting digests: SESSION_SETTINGS); no
    other container of the project runs with that token; and the new container's client can force exactly once
    (Pinggy's CLI under tunnelctl's launcher, engine/loopback.py: a marker on its own volume, written before the
    forced login, makes every later login, restarts included, an ordinary one; an OpenSSH client, engine/login_file.py:
    its login file says +force and its restart policy is `no` until the executor commits the takeover after that
    login, so it never logs in again before, and never with +force after). Then, just before starting the new
    container, the executor reads the old one again (run/executor.py `_session_is_ours`): still running, and up at
    Pinggy by what its client said since its latest start (its URLs, no drop after them). Pinggy keeps one session per
    token, so while the old client is up, the session is the old client's, and no one else's.

    What is left is the moment between that read and the forced login (starting a container and the CLI: about a
    second). If the old session ends in it and someone else logs in with the token, the forced login ends theirs.
    Pinggy holds a token for its release lag after its client left, refusing ordinary logins meanwhile, so where that
    lag is longer than the moment (Pinggy's is seconds), no one else's ordinary login comes in. The residual: a session
    Pinggy ends itself (a drop, the free tier's 60 minutes) frees the token at once, a lag shorter than the moment, and
    another `+force` login, which needs no free token; each only within that moment, and at most once. After the
    forced login every login of the new container is ordinary, so a session it loses later is never taken by force.
    """
    if len(current) != 1 or not (spec.loopback_relay or spec.login_user) or not spec.settings.token \
            or spec.settings.force:
        return False
    old = current[0]
    if old.name != spec.container_name or old.state != "running" or old.relay_for:
        return False
    wanted, held = spec.setting_digests, old.setting_digests
    if any(wanted.get(name) != held.get(name) for name in SESSION_SETTINGS):
        return False
    token = wanted.get("token")
    return not any(other.alive and other.setting_digests.get("token") == token for other in observed.owned
                   if other.id != old.id)


def created_settings(spec: ContainerSpec) -> tuple[SettingChange, ...]:
    """Every setting the new container has a value for (empty ones left out, as Terraform leaves out nulls)."""
    return tuple(SettingChange(name, new=None if name in spec.sensitive else value, sensitive=name in spec.sensitive)
                 for name, value in sorted(spec.settings.given().items()) if value not in ("", [], {}))


def changed_values(spec: ContainerSpec, current: tuple[ObservedContainer, ...]) -> tuple[SettingChange, ...]:
    if len(current) != 1 or current[0].spec_hash == spec.spec_hash or current[0].relay_for:
        return ()
    container = current[0]
    recorded = container.setting_values
    changes = []
    for name in changed_settings(spec.setting_digests, container.setting_digests):
        sensitive = name in spec.sensitive
        known = recorded is not None and name in recorded
        changes.append(SettingChange(name, old=recorded.get(name) if recorded and not sensitive else None,
                                     new=None if sensitive else spec.settings.given().get(name), sensitive=sensitive,
                                     old_known=known and not sensitive))
    return tuple(changes)


def replacement_reasons(spec: ContainerSpec, current: tuple[ObservedContainer, ...]) -> list[str]:
    if len(current) > 1:
        return [f"{len(current)} containers run this tunnel: " + ", ".join(_named(c) for c in current)]
    container = current[0]
    if container.relay_for:
        return [f"its container is gone, only its relay to the local server is left ({_named(container)})"]
    if container.takeover_uncommitted:  # never its name: it is removed, not renamed aside, started or restored
        return [f"{_named(container)} was made to take the token over and the apply that made it was interrupted "
                "before committing it: started again it would log in with +force, so it is replaced"]
    reasons = []
    if container.spec_version != SPEC_FORMAT:
        reasons.append(f"made by another tunnelctl version (container layout {container.spec_version or '?'}, this "
                       f"one's is {SPEC_FORMAT}): recreated once")
    elif container.spec_hash != spec.spec_hash:
        changed = changed_settings(spec.setting_digests, container.setting_digests)
        reasons.append(f"{', '.join(changed)} changed" if changed else "container configuration changed")
    if not container.alive:
        reasons.append(f"container is not running ({container.status or container.state})")
    elif not _relay_runs(container):
        reasons.append(f"its relay to the local server is {container.relay_state}, so visitors cannot reach the "
                       "server")
    if container.name != spec.container_name and container.spec_hash == spec.spec_hash:
        reasons.append(f"container is named '{container.name}' (left by an interrupted apply)")
    return reasons


def _relay_runs(container: ObservedContainer) -> bool:
    """A container that needs no relay (engine/loopback.py), or whose relay runs: the two are made, started and
    removed together, so a relay that stopped or crashed is mended by recreating the pair."""
    return container.relay_state in (None, "running")


def _named(container: ObservedContainer) -> str:
    return f"{container.name} ({container.short_id}, {container.state})"


def _image_drift(spec: ContainerSpec, container: ObservedContainer, observed: Observation) -> str | None:
    """The tag now names another image than the one the container runs (a pull, or a local build)."""
    wanted = observed.image_ids.get(spec.image)
    if wanted and container.image_id and wanted != container.image_id:
        return f"image {spec.image} now points to {wanted[:19]} (the container runs {container.image_id[:19]})"
    return None


def _health_notes(container: ObservedContainer) -> tuple[str, ...]:
    if container.state == "restarting":
        return (f"keeps restarting ({container.status}): see tunnelctl logs {container.tunnel}",)
    return ()


def changed_settings(wanted: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    names = set(wanted) | set(current)
    return sorted(name for name in names if wanted.get(name) != current.get(name))


def find_moves(plans: Mapping[str, Plan]) -> tuple[dict[str, Plan], list[Move]]:
    """Pair a tunnel's creation on one engine with its removal from another: that is a move, done in that order."""
    creations = {action.tunnel: (engine, action) for engine, each in plans.items() for action in each.actions
                 if action.kind == CREATE}
    moves = []
    for engine, each in plans.items():
        for action in each.actions:
            if action.kind == REMOVE and action.tunnel in creations and creations[action.tunnel][0] != engine:
                destination, create = creations[action.tunnel]
                moves.append(Move(action.tunnel, engine, destination, create, action))
    moved = {(move.source, id(move.remove)) for move in moves} | {(move.destination, id(move.create)) for move in moves}
    remaining = {engine: Plan(each.project,
                              tuple(action for action in each.actions if (engine, id(action)) not in moved))
                 for engine, each in plans.items()}
    return remaining, moves
