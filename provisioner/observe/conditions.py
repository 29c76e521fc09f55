"""A tunnel's condition in words (what status and apply's readiness both say), and whether its local server
listens, judged from where the server is."""

from __future__ import annotations

from ..desired.specs import HOST_NETWORK
from ..engine import Engine
from ..manifest.domain_checks import is_loopback
from . import probe

# A tunnel up at Pinggy; with its local server not listening yet it is still up (the normal state at login).
UP, UP_LOCAL_DOWN = "up", "up, local server not listening"



def local_down_note(host: str, port: int) -> str:
    return (f"nothing listens on {host}:{port} yet; the tunnel is up and carries traffic once the local server "
            "starts; if it should be running already, check the port")


def local_side(engine: Engine, network: str, host: str, port: int) -> tuple[bool | None, str]:
    """Whether a tunnel's server listens, judged from where it is: (listening, "") — or (None, why it cannot be told).

    A server on the user's machine (host networking, or Docker Desktop reaching localhost) is checked at its own
    address; a service on a user-defined network at its container's address on that network, which only an engine
    whose networks this machine can route to (rootful, not in a VM) lets us reach.
    """
    if not engine.is_local:
        return None, ""  # another machine's ports: nothing to say from here
    if network == HOST_NETWORK or is_loopback(host):
        return probe.listening(host, port), ""
    if not engine.kind.networks_reachable_from_host:
        return None, f"{host}:{port} cannot be checked from here: network '{network}' is inside {engine.kind.label}"
    address = engine.address_in_network(network, host)
    if address is None:
        return False, f"no running container on network '{network}' answers to '{host}'"
    return probe.listening(address, port), ""
