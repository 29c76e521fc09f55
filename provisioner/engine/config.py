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
