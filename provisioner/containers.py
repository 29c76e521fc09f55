"""The two sides the planner compares: containers as the manifest wants them, and as the engine has them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

LABEL_PREFIX = "io.tunnelctl."
MANAGED_BY = LABEL_PREFIX + "managed-by"
PROJECT = LABEL_PREFIX + "project"
TUNNEL = LABEL_PREFIX + "tunnel"
SPEC_VERSION = LABEL_PREFIX + "spec-version"
SPEC_HASH = LABEL_PREFIX + "spec-hash"
SETTING_DIGESTS = LABEL_PREFIX + "setting-digests"

MANAGER = "tunnelctl"


def ownership_filter(project: str) -> list[str]:
    """Docker label filters that select exactly the containers tunnelctl manages for `project`."""
    return [f"{MANAGED_BY}={MANAGER}", f"{PROJECT}={project}"]


@dataclass(frozen=True)
class ContainerSpec:
    """A container as the manifest wants it."""

    tunnel: str
    container_name: str
    image: str
    command: tuple[str, ...]
    restart_policy: str
    labels: Mapping[str, str]
    spec_hash: str
    setting_digests: Mapping[str, str]  # per setting, so that a plan can say which settings changed
    local_host: str
    local_port: int
    target: str  # "host:port → server", for people reading a plan


@dataclass(frozen=True)
class ObservedContainer:
    """A container of the project as the engine lists it."""

    id: str
    name: str
    tunnel: str
    state: str  # created, running, restarting, paused, exited, dead
    status: str  # Docker's human text, e.g. "Exited (137) 5 seconds ago"
    spec_hash: str
    setting_digests: Mapping[str, str] = field(default_factory=dict)
    image_id: str = ""

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class Observation:
    """What the engine holds: the project's containers, and who holds the wanted names the project does not."""

    owned: tuple[ObservedContainer, ...]
    foreign_names: Mapping[str, str] = field(default_factory=dict)  # container name → description of its holder
    image_ids: Mapping[str, str] = field(default_factory=dict)  # image reference → the local image it names now


@dataclass(frozen=True)
class ContainerDetails:
    """What `docker inspect` adds to the list view: enough for status and readiness."""

    id: str
    name: str
    tunnel: str
    state: str
    exit_code: int | None
    started_at: float | None  # seconds since the epoch of the current run; None if it never started
    restart_count: int
    command: tuple[str, ...]
