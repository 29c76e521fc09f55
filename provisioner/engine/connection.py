"""How to reach an engine: its client's arguments (a URL and TLS, a Docker CLI context, or the environment's; read
without docker-py when nothing but a URL is involved), docker-py kept from paramiko when no engine needs ssh, and
where the address came from, to say what to fix when it does not answer."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from .config import EngineConfig


def without_unneeded_ssh(configs: Iterable[EngineConfig], environ: Mapping[str, str] | None = None) -> None:
    """Before docker-py is first imported (if it is: reads do without it): hide paramiko from it unless an engine of
    this run can be an ssh:// one. docker-py imports paramiko for its ssh transport whether or not an engine is
    reached over ssh, which costs about 0.1 s."""
    environ = os.environ if environ is None else environ
    if "docker" not in sys.modules and not any(_may_use_ssh(config, environ) for config in configs):
        # None in sys.modules makes `import paramiko` fail, and docker-py then skips its ssh transport.
        sys.modules.setdefault("paramiko", None)  # type: ignore[arg-type]


def _may_use_ssh(config: EngineConfig, environ: Mapping[str, str]) -> bool:
    if config.docker:
        return config.docker.startswith("ssh://")
    if config.context or environ.get("DOCKER_CONTEXT"):
        return True  # a context may point anywhere; reading it needs docker-py itself
    if environ.get("DOCKER_HOST"):
        return environ["DOCKER_HOST"].startswith("ssh://")
    return _current_context(environ) is not None


def _current_context(environ: Mapping[str, str]) -> str | None:
    """The Docker CLI's current context (`docker context use`), unless it is the default one."""
    config_dir = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as handle:
            current = json.load(handle).get("currentContext")
    except (OSError, ValueError, AttributeError):
        return None
    return current if isinstance(current, str) and current and current != "default" else None


def plain_settings(config: EngineConfig, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The client's arguments when no context, TLS or environment TLS is involved, read without docker-py: a URL (or
    none: the local sockets); None when only docker-py can tell (see client_settings)."""
    if config.docker:
        return None if config.tls else {"base_url": config.docker}
    if config.context or environ.get("DOCKER_CONTEXT") or environ.get("DOCKER_TLS_VERIFY") or \
            environ.get("DOCKER_CERT_PATH"):
        return None
    if environ.get("DOCKER_HOST"):
        return {"base_url": environ["DOCKER_HOST"]}
    return None if _current_context(environ) else {}


def origin(config: EngineConfig, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """Where the engine's address came from, what to fix when it does not answer, and the setting that names it."""
    if config.context:
        return (f"engine '{config.name}', Docker context '{config.context}'",
                f"check the context (docker context inspect {config.context}) or engines.{config.name}",
                f"engines.{config.name}")
    if config.docker:
        return (f"engine '{config.name}'", f"start that engine or fix engines.{config.name} in the manifest",
                f"engines.{config.name}.docker")
    if environ.get("DOCKER_HOST"):
        return (f"DOCKER_HOST={environ['DOCKER_HOST']}", "start the engine (dockerd) or point DOCKER_HOST at one",
                "DOCKER_HOST")
    if environ.get("DOCKER_CONTEXT"):
        return (f"DOCKER_CONTEXT={environ['DOCKER_CONTEXT']}", "check that Docker context (docker context inspect)",
                "DOCKER_HOST")
    return "DOCKER_HOST is not set", "start the engine (dockerd) or point DOCKER_HOST at one", "DOCKER_HOST"


def client_settings(config: EngineConfig, environ: Mapping[str, str]) -> dict[str, Any]:
    """docker-py's APIClient arguments for the engine: its URL (and TLS), a CLI context, or the environment's."""
    import docker
    from docker.context import ContextAPI
    from docker.utils import kwargs_from_env

    if config.docker:
        settings: dict[str, Any] = {"base_url": config.docker}
        if config.tls:
            ca, cert, key = config.tls
            settings["tls"] = docker.tls.TLSConfig(client_cert=(cert, key), ca_cert=ca, verify=True)
        return settings
    context_name = config.context or (None if environ.get("DOCKER_HOST") else environ.get("DOCKER_CONTEXT"))
    context = ContextAPI.get_context(context_name) if context_name else None
    if context_name and context is None:
        raise docker.errors.DockerException(f"there is no Docker context named '{context_name}' (docker context ls)")
    if context is None and not environ.get("DOCKER_HOST"):
        current = ContextAPI.get_current_context()
        context = current if current and current.name != "default" else None
    if context is not None:
        return {"base_url": context.Host, **({"tls": context.TLSConfig} if context.TLSConfig else {})}
    return dict(kwargs_from_env(environment=environ))
