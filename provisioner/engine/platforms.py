"""Which kind of engine answers — Docker on Linux, rootless Docker, Podman, or Docker Desktop — read from the engine's
own description (`GET /info`, what `docker info` prints), and what that kind means for a tunnel container.

Pure: `Engine.kind` fetches the description once per run; `doctor` and the specs both ask this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DOCKER, ROOTLESS_DOCKER, PODMAN, ROOTLESS_PODMAN, DOCKER_DESKTOP = (
    "docker", "rootless-docker", "podman", "rootless-podman", "docker-desktop")

# What a container uses to reach the machine Docker Desktop runs on (its VM forwards it to the user's loopback).
DESKTOP_HOST = "host.docker.internal"

PODMAN_RESTART_NOTE = ("restart: unless-stopped brings tunnels back after a reboot only when podman-restart.service "
                       "is enabled (systemctl enable podman-restart.service; with --user for rootless Podman)")
PODMAN_IMAGE_NOTE = "images built or loaded locally are named localhost/NAME in Podman (what `podman images` lists)"


@dataclass(frozen=True)
class EngineKind:
    kind: str
    label: str  # for people: "Docker 20.10.24", "Podman 4.3.1 (rootless)", …
    version: str = ""

    @property
    def host_network_is_users_machine(self) -> bool:
        """Whether `--net=host` puts a container beside the user's own servers (not so in Docker Desktop's VM)."""
        return self.kind != DOCKER_DESKTOP

    @property
    def networks_reachable_from_host(self) -> bool:
        """Whether this machine can open connections to containers' addresses on the engine's networks: not for
        Docker Desktop (the networks are inside a VM) nor for rootless engines (inside a user namespace)."""
        return self.kind in (DOCKER, PODMAN)

    @property
    def updates_restart_policy(self) -> bool:
        """Whether a container's restart policy can be changed after it was made (`docker update`), which a one-shot
        takeover of an OpenSSH client needs (Engine.commit_takeover): Podman's Docker API (4.x) has no such call."""
        return self.kind not in (PODMAN, ROOTLESS_PODMAN)

    @property
    def notes(self) -> tuple[str, ...]:
        """What a user of this engine should know that differs from Docker on Linux."""
        if self.kind in (PODMAN, ROOTLESS_PODMAN):
            return PODMAN_RESTART_NOTE, PODMAN_IMAGE_NOTE
        return ()


LINUX_DOCKER = EngineKind(DOCKER, "Docker")


def describe(info: Mapping[str, Any]) -> EngineKind:
    """The engine's kind from its `/info` document."""
    version = str(info.get("ServerVersion") or "")
    security = " ".join(str(option) for option in info.get("SecurityOptions") or ())
    if "BuildahVersion" in info:  # only Podman's Docker-compatible service reports the Buildah it embeds
        rootless = bool(info.get("Rootless"))
        return EngineKind(ROOTLESS_PODMAN if rootless else PODMAN,
                          f"Podman {version}" + (" (rootless)" if rootless else ""), version)
    if str(info.get("OperatingSystem") or "").startswith("Docker Desktop"):
        return EngineKind(DOCKER_DESKTOP, f"Docker Desktop (engine {version}, in a VM)", version)
    if "name=rootless" in security:
        return EngineKind(ROOTLESS_DOCKER, f"Docker {version} (rootless)", version)
    return EngineKind(DOCKER, f"Docker {version}", version)

