"""The engine interface: everything tunnelctl asks of a container engine, and nothing more.

`DockerEngine` (docker_engine.py) speaks the Docker API through docker-py; `FakeEngine` (fake.py) keeps containers
in memory, for tests that check the executor, readiness and status in milliseconds. Everything above this package
depends on the `Engine` protocol only. `config` says where engines are; `errors` words what goes wrong with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

from ..desired.model import ContainerDetails, ContainerSpec, Observation
from .platforms import EngineKind

LogTail = int | Literal["all"]  # how many of the newest log entries: a number, or all that the engine kept


class Engine(Protocol):
    name: str  # the manifest's name for it (engines:), or "default"
    endpoint: str  # where it answers, e.g. unix:///var/run/docker.sock

    @property
    def is_local(self) -> bool:
        """Whether its host network is this machine's, so that the tunnels' local ports can be probed from here."""

    @property
    def kind(self) -> EngineKind:
        """Docker, rootless Docker, Podman or Docker Desktop, and what differs there."""

    def observe(self, project: str, wanted_names: Iterable[str] = (), images: Iterable[str] = (),
                networks: Iterable[str] = ()) -> Observation:
        """The project's containers (one list call), who holds the wanted names that the project does not, the
        image each wanted image reference names now, and which wanted networks are missing."""

    def address_in_network(self, network: str, name: str) -> str | None:
        """The address on `network` of the container called `name` there; None when none answers to it."""

    def create(self, spec: ContainerSpec) -> str:
        """Create and start the container; return its id."""

    def pull(self, image: str) -> None: ...

    def rename(self, container_id: str, name: str) -> None: ...

    def stop(self, container_id: str) -> None: ...

    def start(self, container_id: str) -> None: ...

    def remove(self, container_id: str, stop_first: bool = False) -> None:
        """Remove the container, running or not; a container already gone is not an error. `stop_first`: stop it
        gracefully before, when it may run a client holding a token (the server then frees the token at once)."""

    def inspect(self, container_ids: Iterable[str]) -> list[ContainerDetails]:
        """Details of each container; containers gone meanwhile are left out."""

    def logs(self, container_id: str, tail: LogTail, since: float | None = None) -> str: ...

    def follow_logs(self, container_id: str, tail: LogTail) -> Iterator[str]: ...
