"""An engine in memory, for tests that check the executor, readiness and status in milliseconds.

It keeps containers as records and answers the `Engine` protocol the way Docker does where tunnelctl depends on it:
names are unique, a removed container is gone, a stopped one is `exited`, labels select a project's containers.
`calls` records every change in order; `fail` makes one operation raise as Docker would refuse it; `on_create`
lets a test decide what a new container does (print URLs, exit, keep restarting).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from ..desired import labels
from ..desired.model import ALIVE_STATES, ContainerDetails, ContainerSpec, Observation, ObservedContainer
from ..errors import EngineError
from . import EngineVersion, LogTail, login_file, takeover_form
from .config import BUILT_IN_NETWORKS
from .platforms import LINUX_DOCKER, EngineKind


@dataclass
class FakeContainer:
    id: str
    name: str
    image: str
    command: tuple[str, ...]
    labels: dict[str, str]
    state: str = "created"  # created, running, restarting, exited, dead
    exit_code: int | None = None
    started_at: float | None = None
    restart_count: int = 0
    output: list[str] = field(default_factory=list)  # what the client printed, one entry per line
    network: str = "host"
    files: dict[str, str] = field(default_factory=dict)  # path → what the client wrote there (its daemon log)
    relay_state: str | None = None  # its relay container's (engine/loopback.py), made, started and removed with it
    restart_policy: str = "unless-stopped"
    environment: dict[str, str] = field(default_factory=dict)

    def print(self, *lines: str) -> None:
        self.output.extend(lines)

    def exit(self, code: int, *last_words: str) -> None:
        self.print(*last_words)
        self.state, self.exit_code = "exited", code


FAKE_LOG_TIME = "2026-01-02T03:04:05.000000000Z"  # every line's time, with timestamps


class FakeEngine:
    def __init__(self, name: str = "default", *, endpoint: str = "fake://engine", kind: EngineKind = LINUX_DOCKER,
                 images: dict[str, str] | None = None, registry: Iterable[str] = (), is_local: bool = True,
                 renames: bool = True):
        self.name, self.endpoint = name, endpoint
        self._kind, self._is_local, self.renames = kind, is_local, renames
        self.images = dict(images or {})  # reference → image id, as `docker images` would say
        self.registry = set(registry)  # what a pull can fetch
        self.networks: set[str] = set()
        self.addresses: dict[tuple[str, str], str] = {}  # (network, container name) → its address there
        self.containers: dict[str, FakeContainer] = {}
        self.calls: list[tuple[str, str]] = []  # (operation, container name or image), in order
        self.failures: dict[tuple[str, str], str] = {}
        self.on_create: Callable[[FakeContainer], None] = lambda container: container.print("starting")
        self._ids = (f"{number:012x}" + "0" * 52 for number in itertools.count(1))

    # test set-up
    def fail(self, operation: str, target: str, message: str = "refused by the fake engine") -> None:
        """Make `operation` (create, start, stop, rename, remove, pull) on the container named `target` (or image)
        raise EngineError, as a refusing Docker would."""
        self.failures[(operation, target)] = message

    def run(self, spec: ContainerSpec, state: str = "running") -> FakeContainer:
        """A container that was there before the test: made from `spec`, in `state`."""
        container = self._new(spec)
        container.state = state
        container.started_at = time.time() if state in ALIVE_STATES else None
        if container.relay_state is not None:
            container.relay_state = state
        return container

    def named(self, name: str) -> FakeContainer:
        return next(container for container in self.containers.values() if container.name == name)

    # the Engine protocol
    @property
    def where(self) -> str:
        return self.endpoint

    @property
    def is_local(self) -> bool:
        return self._is_local

    @property
    def kind(self) -> EngineKind:
        return self._kind

    def observe(self, project: str | None, wanted_names: Iterable[str] = (), images: Iterable[str] = (),
                networks: Iterable[str] = (), owned: tuple[ObservedContainer, ...] | None = None) -> Observation:
        if owned is None:
            owned = self.list_owned(project)
        held = {container.name for container in owned}
        foreign = {container.name: f"container {container.id[:12]} (not managed by tunnelctl)"
                   for container in self.containers.values()
                   if container.name in set(wanted_names) - held}
        image_ids = {image: self.images[image] for image in images if image in self.images}
        missing = frozenset(set(networks) - BUILT_IN_NETWORKS - self.networks)
        return Observation(owned, foreign, image_ids, missing)

    def list_owned(self, project: str | None) -> tuple[ObservedContainer, ...]:
        return tuple(_observed(container) for container in self.containers.values()
                     if container.labels.get(labels.MANAGED_BY) == labels.MANAGER
                     and project in (None, container.labels.get(labels.PROJECT)))

    def create(self, spec: ContainerSpec, start: bool = True) -> str:
        return self._make(spec, start, spec.container_name, spec.restart_policy, spec.login_user)

    def create_takeover(self, spec: ContainerSpec, start: bool = True) -> str:
        made, login_user = takeover_form(spec, self._kind)
        name = spec.container_name + login_file.TAKEOVER_SUFFIX
        return self._make(made, start, name, "no", login_user, {labels.TAKEOVER_NAME: name})

    def commit_takeover(self, container_id: str, spec: ContainerSpec) -> None:
        container = self._get(container_id, "commit_takeover")
        self._step("commit_takeover", container.name)
        container.files.update(login_file.contents(spec.login_user, None))
        container.restart_policy = spec.restart_policy
        container.name = spec.container_name

    def login_user(self, container_id: str) -> str | None:
        container = self.containers.get(container_id)
        text = next((container.files[path] for path in (login_file.CONFIG, login_file.CLI_CONFIG)
                     if path in container.files), None) if container else None
        return login_file.user_in(text) if text else None

    def _make(self, spec: ContainerSpec, start: bool, name: str, restart_policy: str, login_user: str | None,
              extra_labels: dict[str, str] | None = None) -> str:
        self._step("create", name)
        if any(container.name == name for container in self.containers.values()):
            raise EngineError(f"the name '{name}' is taken by a container tunnelctl does not "
                              "manage; remove or rename it, or set a different container_name")
        if spec.network not in BUILT_IN_NETWORKS | self.networks:
            raise EngineError(f"the Docker engine at {self.endpoint} refused creating container "
                              f"'{name}': network {spec.network} not found")
        if spec.image not in self.images:
            self.pull(spec.image)
        container = self._new(spec, login_user)
        container.name, container.restart_policy = name, restart_policy
        container.labels.update(extra_labels or {})
        if start:
            self.start(container.id)
        return container.id

    def pull(self, image: str) -> None:
        self._step("pull", image)
        if image not in self.registry:
            raise EngineError(f"cannot pull image '{image}': the fake registry does not have it")
        self.images[image] = f"sha256:{abs(hash(image)):064x}"[:71]

    def rename(self, container_id: str, name: str) -> None:
        if not self.renames:
            raise AssertionError("this engine cannot rename: nothing may ask it to")
        container = self._get(container_id, "rename")
        self._step("rename", container.name, to=name)
        container.name = name

    def stop(self, container_id: str) -> None:
        container = self._get(container_id, "stop")
        self._step("stop", container.name)
        container.state, container.exit_code = "exited", 137

    def start(self, container_id: str) -> None:
        container = self._get(container_id, "start")
        self._step("start", container.name)
        first = container.started_at is None
        container.state, container.exit_code, container.started_at = "running", None, time.time()
        if container.relay_state is not None:
            container.relay_state = "running"  # its relay first, as Docker's engine starts it
        if first:
            self.on_create(container)  # what a new container does when it first runs

    def set_restart_policy(self, container_id: str, policy: str) -> str:
        container = self._get(container_id, "update")
        if not self._kind.updates_restart_policy:
            raise EngineError(f"the Docker engine at {self.endpoint} refused changing the restart policy of container "
                              f"{container_id[:12]}: Not Found")
        self._step("update", container.name, to=f"restart {policy}")
        before, container.restart_policy = container.restart_policy, policy
        return before

    def skip_back_off(self, container_id: str) -> None:
        container = self.containers.get(container_id)
        if container is None or container.state != "restarting":
            return
        self._step("restart", container.name)
        container.state, container.exit_code, container.started_at = "running", None, time.time()
        container.restart_count = 0  # as Docker does: a restart asked for is a fresh start

    def remove(self, container_id: str, stop_first: bool = False) -> None:
        container = self.containers.get(container_id)
        if container is None:
            return  # already gone: that is what was wanted
        if stop_first and container.state in ALIVE_STATES:
            self.stop(container_id)
        self._step("remove", container.name)
        del self.containers[container_id]

    def inspect(self, container_ids: Iterable[str]) -> list[ContainerDetails]:
        return [_details(self.containers[container_id]) for container_id in container_ids
                if container_id in self.containers]

    def logs(self, container_id: str, tail: LogTail, since: float | None = None, timestamps: bool = False) -> str:
        container = self.containers.get(container_id)
        if container is None:
            return ""
        lines = container.output if tail == "all" else container.output[-tail:] if tail else []
        stamp = FAKE_LOG_TIME + " " if timestamps else ""
        return "".join(stamp + line + "\n" for line in lines)

    def logs_of(self, since: Mapping[str, float | None], tail: LogTail) -> dict[str, str]:
        return {container_id: self.logs(container_id, tail, moment) for container_id, moment in since.items()}

    def follow_logs(self, container_id: str, tail: LogTail, since: float | None = None,
                    timestamps: bool = False) -> Iterator[str]:
        yield self.logs(container_id, tail, since, timestamps)

    def read_file(self, container_id: str, path: str, limit: int) -> str | None:
        container = self.containers.get(container_id)
        if container is None or container.state != "running" or path not in container.files:
            return None
        return container.files[path][-limit:]

    def address_in_network(self, network: str, name: str) -> str | None:
        return self.addresses.get((network, name))

    def version(self) -> EngineVersion:
        return EngineVersion("1.47", "1.24", "1.41")

    def has_image(self, image: str) -> bool:
        return image in self.images

    def check_pullable(self, image: str) -> bool:
        if image not in self.registry:
            raise EngineError(f"the fake registry does not have image '{image}'")
        return True

    def _new(self, spec: ContainerSpec, login_user: str | None = None) -> FakeContainer:
        """`login_user`: what its login file says, if not the spec's user (a takeover's)."""
        container = FakeContainer(next(self._ids), spec.container_name, spec.image, tuple(spec.command),
                                  {**spec.labels, **spec.annotations}, network=spec.network,
                                  relay_state="created" if spec.loopback_relay else None,
                                  restart_policy=spec.restart_policy, environment=dict(spec.environment))
        container.files.update(login_file.contents(login_user or spec.login_user, spec.cli_config))
        self.containers[container.id] = container
        return container

    def _get(self, container_id: str, operation: str) -> FakeContainer:
        if container_id not in self.containers:
            raise EngineError(f"the Docker engine at {self.endpoint} refused {operation} of container "
                              f"{container_id[:12]}: No such container")
        return self.containers[container_id]

    def _step(self, operation: str, target: str, to: str = "") -> None:
        self.calls.append((operation, f"{target}->{to}" if to else target))
        failure = self.failures.get((operation, target))
        if failure:
            raise EngineError(failure)


def _observed(container: FakeContainer) -> ObservedContainer:
    status = {"running": "Up 3 minutes", "restarting": f"Restarting ({container.exit_code}) 1 second ago",
              "exited": f"Exited ({container.exit_code}) 5 seconds ago"}.get(container.state, container.state.title())
    return ObservedContainer(
        id=container.id, name=container.name, tunnel=container.labels.get(labels.TUNNEL, ""), state=container.state,
        status=status, spec_hash=container.labels.get(labels.SPEC_HASH, ""),
        digest_label=container.labels.get(labels.SETTING_DIGESTS, ""), image_id="",
        values_label=container.labels.get(labels.SETTING_VALUES, ""),
        spec_version=container.labels.get(labels.SPEC_VERSION, ""), project=container.labels.get(labels.PROJECT, ""),
        relay_state=container.relay_state, takeover_name=container.labels.get(labels.TAKEOVER_NAME, ""))


def _details(container: FakeContainer) -> ContainerDetails:
    return ContainerDetails(
        id=container.id, name=container.name, tunnel=container.labels.get(labels.TUNNEL, ""), state=container.state,
        exit_code=container.exit_code if container.state in ("exited", "dead") else None,
        started_at=container.started_at, restart_count=container.restart_count, command=container.command,
        network=container.network)
