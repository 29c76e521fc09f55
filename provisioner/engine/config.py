"""Where the Docker engines are: the manifest's `engines:` as plain data, or the environment's one engine (found on
this machine's sockets when nothing names it)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# The name of the one engine of a manifest without `engines:`.
ENVIRONMENT_ENGINE = "default"


@dataclass(frozen=True)
class EngineConfig:
    name: str
    docker: str | None = None  # unix://, tcp:// or ssh:// address
    tls: tuple[str, str, str] | None = None  # (ca, cert, key) absolute paths, for tcp://
    context: str | None = None  # a Docker CLI context


DOCKER_SOCKET = "/var/run/docker.sock"
# Networks every engine has: never "missing", whatever the engine lists.
BUILT_IN_NETWORKS = frozenset({"host", "bridge", "default"})
PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock"


# Engines of the manifest (by name, comma-separated) the user sends their registry login to, beyond their own.
REGISTRY_LOGIN_VARIABLE = "TUNNELCTL_REGISTRY_LOGIN"


def sends_registry_login(config: EngineConfig, environ: Mapping[str, str]) -> bool:
    """Whether pulls on this engine carry the user's registry login (~/.docker/config.json): only to the machine's own
    engines, those the user configured (DOCKER_HOST, a Docker context, the local sockets), never to an address the
    manifest chose (a pull request's `docker: unix:///tmp/evil.sock` would collect it), unless the user names that
    engine in TUNNELCTL_REGISTRY_LOGIN."""
    if config.docker is None:  # the environment's engine, or a context: the user's own configuration
        return True
    own = {environ.get("DOCKER_HOST")} | {"unix://" + path for path in local_sockets(environ)}
    named = {name.strip() for name in environ.get(REGISTRY_LOGIN_VARIABLE, "").split(",")}
    return config.docker in own or config.name in named


def local_sockets(environ: Mapping[str, str]) -> list[str]:
    """Where a local engine listens when nothing names one: Docker's socket, then Podman's rootless socket, then
    Podman's rootful one (the sockets `systemctl [--user] enable --now podman.socket` opens)."""
    candidates = [DOCKER_SOCKET]
    if environ.get("XDG_RUNTIME_DIR"):
        candidates.append(os.path.join(environ["XDG_RUNTIME_DIR"], "podman", "podman.sock"))
    return candidates + [PODMAN_ROOTFUL_SOCKET]


def discover(candidates: Sequence[str]) -> str:
    """The first of the sockets that accepts a connection, as a URL; Docker's when none does, so that the error
    names the usual place. A connect costs microseconds and tells a live engine from a stale socket file."""
    for path in candidates:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(path)
            except OSError:
                continue
        return "unix://" + path
    return "unix://" + candidates[0]
