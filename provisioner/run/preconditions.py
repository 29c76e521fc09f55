"""What a change needs that can be known before it starts, made sure of before the first container is stopped.

A replacement stops the running container before it creates the new one (a token carries one live tunnel), so a
need discovered only then — an image that cannot be pulled — would cost the running tunnel its session and its URL
even when the old container is restored. Everything checked here fails the whole apply with nothing touched, as
compose pulls every image before it changes any service. Names held by strangers and missing networks are found by
the planner (blocked tunnels, marked !), whose running containers are never touched either; two tunnels asking for
one port are refused by validation.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import EngineError, UserError
from ..parallel import map_parallel
from ..plan.fleet import FleetPlan
from ..plan.planner import CREATE, RECREATE


def images_to_pull(fleet: FleetPlan) -> dict[str, list[str]]:
    """Engine name → the images that the containers the plan creates there need and that the engine lacks."""
    engines = {part.name: part for part in fleet.reachable}
    needed: dict[str, set[str]] = {}
    for part in fleet.reachable:
        for action in part.plan.actions:
            if action.kind in (CREATE, RECREATE):
                needed.setdefault(part.name, set()).add(action.creates.image)
    for move in fleet.moves:
        needed.setdefault(move.destination, set()).add(move.create.creates.image)
    return {name: sorted(images & engines[name].absent_images) for name, images in sorted(needed.items())
            if images & engines[name].absent_images}


def pull_missing_images(fleet: FleetPlan, note: Callable[[str], None]) -> None:
    """Pull every image the plan needs and an engine lacks, all engines at once; raise one UserError naming each
    image that cannot be had (and nothing has been changed)."""
    missing = images_to_pull(fleet)
    engines = {part.name: part.engine for part in fleet.reachable}
    wanted = [(name, image) for name, images in missing.items() for image in images]
    for name, image in wanted:
        note(f"Pulling {image} on engine '{name}' (the engine does not have it yet)…")

    def pull(pair: tuple[str, str]) -> str | None:
        name, image = pair
        try:
            engines[name].pull(image)
        except EngineError as error:
            reason = error.message.removeprefix(f"cannot pull image '{image}': ")
            return f"no image '{image}' on engine '{name}', and {reason}"
        return None

    failures = [failure for failure in map_parallel(pull, wanted, limit=max(len(wanted), 1)) if failure]
    if failures:
        raise UserError("; ".join(failures) + "; nothing was changed")


def published_ports_free(fleet: FleetPlan) -> None:
    """A new container that publishes a port on this machine (the web debugger, off host networking) needs the port
    free: Docker would only refuse it at start, after the old container had stopped. A replacement's own port is its
    old container's until the swap, so only creations are asked about; a remote engine's ports are not ours to try."""
    from ..observe import probe

    taken = []
    for part in fleet.reachable:
        creating = [action for action in part.plan.actions if action.kind == CREATE]
        creating += [move.create for move in fleet.moves if move.destination == part.name]
        for action in creating:
            for address, port, _ in action.creates.published:
                if part.engine.is_local and probe.listening(address, port):
                    taken.append(f"port {address}:{port}, which tunnel '{action.tunnel}' publishes (debugger_port), "
                                 f"is taken on this machine: stop what listens there or choose another debugger_port")
    if taken:
        raise UserError("; ".join(taken) + "; nothing was changed")
