"""The engine interface: everything tunnelctl asks of a container engine, and nothing more.

`DockerEngine` (docker_engine.py) speaks the Docker API through docker-py (Podman's compatible API too); `FakeEngine`
(fake.py) keeps containers in memory, for tests that check the executor, readiness and status in milliseconds.
Everything above this package depends on the `Engine` protocol and `registry.open_engines` only, which opens each
engine of the manifest as the kind of engine its entry names, or says in one line why it cannot (`Unreachable`).
`config` says where engines are; `errors` words what goes wrong with them. tests/test_engine_contract.py holds every
engine kind to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from ..desired.model import ContainerDetails, ContainerSpec, Observation, ObservedContainer
from ..errors import EngineError
from . import login_file, loopback
from .platforms import EngineKind

LogTail = int | Literal["all"]  # how many of the newest log entries: a number, or all that the engine kept


@dataclass(frozen=True)
class Unreachable:
    """An engine of the manifest that could not be opened or used, and why, in one line."""

    name: str
    endpoint: str
    error: str


@dataclass(frozen=True)
class EngineVersion:
    api: str  # the newest API version the engine speaks
    min_api: str  # the oldest
    used: str  # the one tunnelctl speaks to it


def takeover_form(spec: ContainerSpec, kind: EngineKind) -> tuple[ContainerSpec, str | None]:
    """What an engine of `kind` makes for `spec`'s container to take its token over (Engine.create_takeover): the
    spec, and the login user its file says (OpenSSH: login_file.forced), or the spec whose environment asks its
    launcher to force once (Pinggy's CLI: loopback.taking_over) and no login user. Raises where it cannot."""
    if not spec.login_user and not spec.loopback_relay:
        raise TypeError(f"container '{spec.container_name}' has no login file or launcher to take its token over "
                        "with")
    if not kind.updates_restart_policy:
        raise EngineError(f"{kind.label} cannot change a container's restart policy after making it, which taking a "
                          "token over needs")
    if spec.login_user:
        return spec, login_file.forced(spec.login_user)
    return loopback.taking_over(spec), None


class Engine(Protocol):
    name: str  # the manifest's name for it (engines:), or "default"
    endpoint: str  # where it answers, e.g. unix:///var/run/docker.sock

    @property
    def where(self) -> str:
        """The endpoint and where it came from (the manifest, DOCKER_HOST, a context…), for messages."""

    @property
    def renames(self) -> bool:
        """Whether a container can be renamed. The executor then replaces one by renaming it aside (and back if the
        new one fails); on an engine that cannot, it removes the old one first, and says that it cannot come back."""

    @property
    def is_local(self) -> bool:
        """Whether its host network is this machine's, so that the tunnels' local ports can be probed from here."""

    @property
    def kind(self) -> EngineKind:
        """Docker, rootless Docker, Podman or Docker Desktop, and what differs there."""

    def observe(self, project: str | None, wanted_names: Iterable[str] = (), images: Iterable[str] = (),
                networks: Iterable[str] = (), owned: tuple[ObservedContainer, ...] | None = None) -> Observation:
        """The project's containers (one list call; project None: every tunnelctl project's), who holds the wanted
        names that the project does not, the image each wanted image reference names now, and which wanted networks
        are missing. `owned`: what `list_owned(project)` gave, when the caller made the list call itself."""

    def list_owned(self, project: str | None) -> tuple[ObservedContainer, ...]:
        """observe's list call alone, so that a caller can make it while it works out what else to ask (plan/fleet.py
        computes the specs meanwhile)."""

    def address_in_network(self, network: str, name: str) -> str | None:
        """The address on `network` of the container called `name` there; None when none answers to it."""

    def create(self, spec: ContainerSpec, start: bool = True) -> str:
        """Create the container and start it (or leave that to `start`); return its id."""

    def create_takeover(self, spec: ContainerSpec, start: bool = True) -> str:
        """Create (and start) a container whose first login takes the token over from the session that holds it, and
        that never logs in again by itself until `commit_takeover`: a spec with a `login_user` (login_file.py), whose
        file then says `+force`, with restart policy `no`, named `{container_name}{TAKEOVER_SUFFIX}` meanwhile (which
        the observation reports as `takeover_uncommitted`). Only for our own session: the caller decides."""

    def commit_takeover(self, container_id: str, spec: ContainerSpec) -> None:
        """After that container's first login: its file without `+force`, then the spec's restart policy, then the
        spec's name (free by then: the previous holder renamed aside or removed). Killed in between, the container
        keeps its takeover name, so that the next plan removes it rather than start it."""

    def login_user(self, container_id: str) -> str | None:
        """The user the container's login file names (login_file.py); None when it has none, or is gone."""

    def pull(self, image: str) -> None: ...

    def rename(self, container_id: str, name: str) -> None: ...

    def stop(self, container_id: str) -> None: ...

    def start(self, container_id: str) -> None: ...

    def set_restart_policy(self, container_id: str, policy: str) -> str:
        """Change the container's restart policy (no, on-failure, unless-stopped, always) as it runs; return the one
        it had."""

    def skip_back_off(self, container_id: str) -> None:
        """Start again now a container whose client exited and that Docker's restart policy would start only after
        its back-off delay; nothing when it is running again (or gone) by then."""

    def remove(self, container_id: str, stop_first: bool = False) -> None:
        """Remove the container, running or not; a container already gone is not an error. `stop_first`: stop it
        gracefully before, when it may run a client holding a token (the server then frees the token at once)."""

    def inspect(self, container_ids: Iterable[str]) -> list[ContainerDetails]:
        """Details of each container; containers gone meanwhile are left out."""

    def logs(self, container_id: str, tail: LogTail, since: float | None = None, timestamps: bool = False) -> str:
        """`timestamps`: each line starts with the engine's RFC 3339 time of it and a space."""

    def logs_of(self, since: Mapping[str, float | None], tail: LogTail) -> dict[str, str]:
        """`logs` of several containers at once, each since its own time (status reads every tunnel's current run)."""

    def read_file(self, container_id: str, path: str, limit: int) -> str | None:
        """The last `limit` bytes of a file inside the running container, read by a program the image has (`tail`,
        else `node`): a client's own log on its tmpfs, which no copy from outside sees. None when the container
        does not run or nothing in it can read the file."""

    def follow_logs(self, container_id: str, tail: LogTail, since: float | None = None,
                    timestamps: bool = False) -> Iterator[str]: ...

    # What `doctor` asks besides: it creates, pulls and changes nothing.
    def version(self) -> EngineVersion:
        """The API versions the engine speaks, after one request (an engine that does not answer raises)."""

    def has_image(self, image: str) -> bool: ...

    def check_pullable(self, image: str) -> bool:
        """Ask the image's registry for it without pulling; raise EngineError saying why not. False when the engine
        cannot ask without pulling."""
