"""The kinds of engine tunnelctl can drive (drivers), and opening the manifest's engines each with its driver.

A driver is a factory (an `EngineConfig` → an `Engine`, raising EngineError when it cannot be used), the part of the
manifest's schema its entries follow, which entries it takes, and what it prepares once per run before opening any.
Today there is one: Docker's API (which Podman speaks too). A new kind of engine (ARCHITECTURE.md sketches Kubernetes)
adds its entry to DRIVERS, its `$defs` to schemas/tunnels.schema.json, and passes tests/test_engine_contract.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from ..errors import EngineError, UserError
from . import Engine, Unreachable
from .config import EngineConfig


@dataclass(frozen=True)
class Driver:
    name: str
    schema: str  # the JSON Schema definition its manifest entries follow, in schemas/tunnels.schema.json
    takes: Callable[[EngineConfig], bool]  # whether a manifest entry is one of its engines
    prepare: Callable[[Iterable[EngineConfig]], None]  # once per run, given every entry of its that the run opens
    open: Callable[[EngineConfig], Engine]


def _prepare_docker(configs: Iterable[EngineConfig]) -> None:
    from .connection import without_unneeded_ssh

    without_unneeded_ssh(configs)


def _open_docker(config: EngineConfig) -> Engine:
    from .docker_engine import DockerEngine

    return DockerEngine(config)


DRIVERS = (Driver("docker", "#/$defs/engine", takes=lambda config: True, prepare=_prepare_docker,
                    open=_open_docker),)


# How the app opens the manifest's engines: `open_engines` itself, or, in tests, one handing out FakeEngines.
Opener = Callable[[Mapping[str, EngineConfig], Collection[str]], dict[str, Engine | Unreachable]]


def driver_of(config: EngineConfig) -> Driver:
    return next(driver for driver in DRIVERS if driver.takes(config))


def open_engines(configs: Mapping[str, EngineConfig],
                 selected: Collection[str] = ()) -> dict[str, Engine | Unreachable]:
    """Each engine, or the one-line reason it cannot be used; `selected` (--engine) limits them."""
    unknown = sorted(set(selected) - set(configs))
    if unknown:
        raise UserError(f"--engine names no engine of the manifest: {', '.join(unknown)} "
                        f"(engines: {', '.join(sorted(configs))})")
    chosen = {name: config for name, config in configs.items() if not selected or name in selected}
    for driver in DRIVERS:
        mine = [config for config in chosen.values() if driver_of(config) is driver]
        if mine:
            driver.prepare(mine)
    opened: dict[str, Engine | Unreachable] = {}
    for name, config in chosen.items():
        try:
            opened[name] = driver_of(config).open(config)
        except EngineError as error:
            opened[name] = Unreachable(name, "", error.message)
    return opened
