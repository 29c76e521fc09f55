"""Where the Docker engines are: the manifest's `engines:` as plain data, or the environment's one engine."""

from __future__ import annotations

from dataclasses import dataclass

# The name of the one engine of a manifest without `engines:`.
ENVIRONMENT_ENGINE = "default"


@dataclass(frozen=True)
class EngineConfig:
    name: str
    docker: str | None = None  # unix://, tcp:// or ssh:// address
    tls: tuple[str, str, str] | None = None  # (ca, cert, key) absolute paths, for tcp://
    context: str | None = None  # a Docker CLI context
