"""The two sides the planner compares: containers as the manifest wants them, and as the engine has them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .labels import (
    LOOPBACK_RELAY,
    MANAGED_BY,
    MANAGER,
    PROJECT,
    SETTING_DIGESTS,
    SETTING_VALUES,
    SPEC_FORMAT,
    SPEC_HASH,
    SPEC_VERSION,
    TUNNEL,
    decode_digests,
    decode_values,
    digest,
    encode_digests,
    encode_values,
)

if TYPE_CHECKING:
    from ..manifest.settings import Settings

# The tunnel client (OpenSSH, or Pinggy's CLI) needs no Linux capability, never gains privileges, runs a handful of
# processes and threads, and writes only to tmpfs: OpenSSH its ~/.ssh/known_hosts in /root (the passwd entry's home,
# whatever HOME says), Pinggy's CLI its ~/.config/pinggy and its daemon log under ~/.local/state in a HOME under /tmp.
# Everything else is read-only, so a compromised client cannot plant anything that outlives the container. HOME and
# the XDG folders are set, so whatever user the image runs as writes to /tmp (mode 1777): as a non-root user with
# HOME=/root the CLI failed with EACCES (Docker gives the /root tmpfs the image's 0700), with a home on the read-only
# root with ENOENT.
# An init process (Docker's docker-init, Podman's catatonit) is PID 1 and passes `docker stop`'s SIGTERM on: the CLI
# sets no SIGTERM handler until it has connected, and the kernel ignores an unhandled SIGTERM sent to PID 1, so
# without it every stop before a connection waited out the grace and killed the client.
SSH_HOME = "/root"
CLIENT_HOME = "/tmp/home"
CLIENT_ENVIRONMENT: dict[str, str] = {
    "HOME": CLIENT_HOME,
    "XDG_CONFIG_HOME": f"{CLIENT_HOME}/.config",
    "XDG_STATE_HOME": f"{CLIENT_HOME}/.local/state",
    "XDG_CACHE_HOME": f"{CLIENT_HOME}/.cache",
    "XDG_DATA_HOME": f"{CLIENT_HOME}/.local/share",
}


@dataclass(frozen=True)
class Scratch:
    """A writable folder in memory, bounded (Docker: a tmpfs mount; Kubernetes: an emptyDir of medium Memory)."""

    path: str
    size: str  # e.g. "8m"
    mode: str  # e.g. "0700"


@dataclass(frozen=True)
class Hardening:
    """What the tunnel client may not do, in terms each engine translates (engine/docker_form.py for Docker and
    Podman; a pod's securityContext on Kubernetes, see ARCHITECTURE.md)."""

    drop_all_capabilities: bool
    no_new_privileges: bool
    max_processes: int
    read_only_root: bool
    scratch: tuple[Scratch, ...]  # the only writable places
    init_process: bool  # an init as PID 1, which passes a stop's SIGTERM on


HARDENED = Hardening(drop_all_capabilities=True, no_new_privileges=True, max_processes=64, read_only_root=True,
                     scratch=(Scratch(SSH_HOME, "8m", "0700"), Scratch("/tmp", "16m", "1777")), init_process=True)


@dataclass(frozen=True)
class LogBounds:
    """How much of the client's output an engine keeps: rotated files of at most `max_size` each."""

    max_size: str  # e.g. "1m"
    max_files: int

# A restarting container is alive as far as tunnelctl is concerned: its restart policy is already bringing it back,
# and its client may hold a token.
ALIVE_STATES = frozenset({"running", "restarting"})


@dataclass(frozen=True)
class ContainerSpec:
    """A container as the manifest wants it."""

    tunnel: str
    project: str
    container_name: str
    image: str
    command: tuple[str, ...]
    restart_policy: str
    spec_hash: str
    local_host: str
    local_port: int
    target: str  # "host:port → server", for people reading a plan
    settings: Settings = field(repr=False, compare=False)  # resolved; holds secrets, never printed
    log_bounds: LogBounds = LogBounds("1m", 3)
    hardening: Hardening = HARDENED
    environment: Mapping[str, str] = field(default_factory=lambda: dict(CLIENT_ENVIRONMENT))
    network: str = "host"  # Docker's network mode: host, bridge, or the name of a user-defined network
    published: tuple[tuple[str, int, int], ...] = ()  # (host address, host port, container port), e.g. the debugger
    sensitive: frozenset[str] = frozenset()  # settings that hold a secret (or what a template made of one)
    # The container has a network namespace of its own (`network`) and reaches local_host:local_port on the
    # engine's host loopback through a relay container beside it (engine/loopback.py): Pinggy's CLI, whose daemon
    # answers on 127.0.0.1 without authentication, then answers only inside that namespace.
    loopback_relay: bool = False
    # An OpenSSH-based client with a token: the ssh user (`TOKEN[+type][+force]`) its login file says
    # (engine/login_file.py); its arguments then name no user. None: the arguments carry it (Pinggy's CLI, anonymous).
    login_user: str | None = field(default=None, repr=False)
    # Pinggy's CLI with a token: the text of its `--conf` file on that volume (its token, and force: true).
    cli_config: str | None = field(default=None, repr=False)

    # Computed only when a container is created or a plan explains a change: most runs change nothing.
    @cached_property
    def setting_digests(self) -> dict[str, str]:
        """A short digest per setting, so that a plan can say which settings changed (never a secret in clear)."""
        return {name: digest(value)[:12] for name, value in self.settings.given().items()}

    @cached_property
    def visible_settings(self) -> dict[str, Any]:
        """The settings a plan may show, and a container may carry in a label: every one that holds no secret."""
        return {name: value for name, value in self.settings.given().items() if name not in self.sensitive}

    @cached_property
    def labels(self) -> dict[str, str]:
        """What selects and names the container: tunnelctl's values fit Kubernetes' 63-character label limit."""
        return {
            **(self.settings.labels or {}),
            MANAGED_BY: MANAGER,
            PROJECT: self.project,
            TUNNEL: self.tunnel,
            SPEC_VERSION: SPEC_FORMAT,
            **({LOOPBACK_RELAY: "yes"} if self.loopback_relay else {}),
        }

    @cached_property
    def annotations(self) -> dict[str, str]:
        """What the container was made from, as digests: values too long for a label anywhere labels are bounded.
        Docker keeps them as labels too; an engine with annotations (Kubernetes) keeps them there."""
        return {SPEC_HASH: self.spec_hash, SETTING_DIGESTS: encode_digests(self.setting_digests),
                SETTING_VALUES: encode_values(self.visible_settings)}


@dataclass(frozen=True)
class ObservedContainer:
    """A container of the project as the engine lists it."""

    id: str
    name: str
    tunnel: str
    state: str  # created, running, restarting, paused, exited, dead
    status: str  # Docker's human text, e.g. "Exited (137) 5 seconds ago"
    spec_hash: str
    digest_label: str = ""  # the setting digests, as labelled at creation
    image_id: str = ""
    spec_version: str = SPEC_FORMAT  # the container layout of the tunnelctl that made it
    values_label: str = ""  # the settings that hold no secret, as labelled at creation
    project: str = ""  # the tunnelctl project it belongs to
    relay_for: str = ""  # a relay container whose tunnel container is gone (engine/loopback.py): only a leftover
    # A tunnel container with a relay (engine/loopback.py): its relay's state, "missing" when it has none (removed by
    # hand); None for a container that needs no relay.
    relay_state: str | None = None
    takeover_name: str = ""  # the name it was made with to take its token over (engine/login_file.py), if so

    @property
    def takeover_uncommitted(self) -> bool:
        """Made to take its token over and never committed (the apply that made it was killed): its login file still
        says +force, so it must never be started again as it is; only removed."""
        return bool(self.takeover_name) and self.name == self.takeover_name

    @property
    def setting_values(self) -> dict[str, Any] | None:
        """None: the container did not record them (an older tunnelctl made it)."""
        return decode_values(self.values_label)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def alive(self) -> bool:
        return self.state in ALIVE_STATES

    @cached_property
    def setting_digests(self) -> dict[str, str]:
        """Decoded once: status compares every listed container's token digest with each tunnel that is not up."""
        return decode_digests(self.digest_label)


@dataclass(frozen=True)
class Observation:
    """What the engine holds: the project's containers, and who holds the wanted names the project does not."""

    owned: tuple[ObservedContainer, ...]
    foreign_names: Mapping[str, str] = field(default_factory=dict)  # container name → description of its holder
    image_ids: Mapping[str, str] = field(default_factory=dict)  # image reference → the local image it names now
    missing_networks: frozenset[str] = frozenset()  # networks the specs name that the engine does not have


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
    network: str = "host"  # Docker's network mode of the container
