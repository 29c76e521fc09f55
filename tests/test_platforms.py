"""Which engine answers (from its own `/info`), and the container each kind gets: Docker Desktop runs containers in a
VM, where host networking is not the user's machine."""

from __future__ import annotations

import json
import socket
import textwrap
from pathlib import Path
from typing import Any, cast

import pytest

from conftest import SLEEPER_IMAGE, create_network, remove_project
from provisioner import manifest
from provisioner.desired.labels import digest
from provisioner.desired.model import CLIENT_ENVIRONMENT, HARDENED
from provisioner.desired.specs import container_spec
from provisioner.engine import login_file
from provisioner.engine.docker_form import hardening_arguments, log_driver_options
from provisioner.engine.platforms import (
    DOCKER,
    DOCKER_DESKTOP,
    PODMAN,
    PODMAN_RESTART_NOTE,
    ROOTLESS_DOCKER,
    ROOTLESS_PODMAN,
    describe,
)

INFO = Path(__file__).parent / "data" / "engine-info"


def info(name: str) -> dict:
    return json.loads((INFO / f"{name}.json").read_text())


@pytest.mark.parametrize("recorded, kind, label", [
    ("linux-dockerd", DOCKER, "Docker 20.10.24+dfsg1"),
    ("docker-rootless", ROOTLESS_DOCKER, "Docker 26.1.3 (rootless)"),
    ("podman", PODMAN, "Podman 4.3.1"),
    ("podman-rootless", ROOTLESS_PODMAN, "Podman 4.3.1 (rootless)"),
    ("docker-desktop-macos", DOCKER_DESKTOP, "Docker Desktop (engine 20.10.17, in a VM)"),
    ("docker-desktop-windows", DOCKER_DESKTOP, "Docker Desktop (engine 20.10.21, in a VM)"),
])
def test_the_engine_kind_comes_from_its_own_description(recorded, kind, label):
    described = describe(info(recorded))
    assert (described.kind, described.label) == (kind, label)
    assert described.host_network_is_users_machine is (kind != DOCKER_DESKTOP)
    assert described.networks_reachable_from_host is (kind in (DOCKER, PODMAN))
    assert (PODMAN_RESTART_NOTE in described.notes) is (kind in (PODMAN, ROOTLESS_PODMAN))


def tunnel(write_manifest, body: str):
    loaded = manifest.load(write_manifest(textwrap.dedent("""
        version: 1
        project: figma
        tunnels:
    """) + textwrap.indent(textwrap.dedent(body), "  ")), {})
    return loaded.tunnels[0]


FIGMA = """
- name: figma
  port: 3845
  debugger_port: 4300
  token: tok
  access_keys: [0123456789abcdef0123456789abcdef]
"""


LINUX_KINDS = ["linux-dockerd", "docker-rootless", "podman", "podman-rootless"]
OPENSSH = "  image: tunnelctl-test/pinggy-ssh:latest\n"


@pytest.mark.parametrize("recorded", LINUX_KINDS)
def test_where_the_host_network_is_the_users_machine_an_openssh_tunnel_uses_it_as_before(recorded, write_manifest):
    spec = container_spec("figma", tunnel(write_manifest, FIGMA + OPENSSH), describe(info(recorded)))
    assert spec.network == "host" and spec.published == () and not spec.loopback_relay
    assert spec.command[:4] == ("-p", "443", "-R0:127.0.0.1:3845", "-L4300:localhost:4300")
    assert spec.target == "127.0.0.1:3845 → pro.pinggy.io:443"
    # the same hash as before engine kinds existed: knowing the engine's kind recreates nothing (the hardened
    # container, layouts 2 and 3, and the login file, layout 5, are what changed it)
    assert spec.spec_hash == digest({"name": "figma-figma", "image": "tunnelctl-test/pinggy-ssh:latest",
                                     "command": spec.command, "restart": "unless-stopped", "network_mode": "host",
                                     "log_options": log_driver_options(spec.log_bounds),
                                     "hardening": hardening_arguments(HARDENED),
                                     "environment": CLIENT_ENVIRONMENT,
                                     "login_file": [login_file.CONFIG, login_file.config_text("tok")]})


@pytest.mark.parametrize("recorded", LINUX_KINDS)
def test_pinggy_cli_gets_a_network_namespace_of_its_own_with_a_relay_to_the_local_server(recorded, write_manifest):
    """Its daemon's control port (no authentication) must not be on the machine's loopback (engine/loopback.py)."""
    spec = container_spec("figma", tunnel(write_manifest, FIGMA), describe(info(recorded)))
    assert spec.network == "bridge" and spec.loopback_relay
    assert spec.command[:4] == ("-p", "443", "-R0:127.0.0.1:3845", "-L0.0.0.0:4300:localhost:4300")
    assert spec.published == (("127.0.0.1", 4300, 4300),)  # the debugger, on the machine's loopback as before
    assert (spec.local_host, spec.local_port) == ("127.0.0.1", 3845)  # still checked here, where the server is
    # host networking where the user asks for it, or the server is not on loopback (nothing to relay)
    for chosen in ("  network: host\n", "  host: 192.0.2.10\n"):
        other = container_spec("figma", tunnel(write_manifest, FIGMA + chosen), describe(info(recorded)))
        assert other.network == "host" and not other.loopback_relay


@pytest.mark.parametrize("recorded", ["docker-desktop-macos", "docker-desktop-windows"])
def test_on_docker_desktop_the_tunnel_reaches_the_users_machine_through_host_docker_internal(recorded,
                                                                                           write_manifest):
    spec = container_spec("figma", tunnel(write_manifest, FIGMA), describe(info(recorded)))
    assert spec.network == "bridge"
    assert spec.command[:4] == ("-p", "443", "-R0:host.docker.internal:3845", "-L0.0.0.0:4300:localhost:4300")
    assert spec.published == (("127.0.0.1", 4300, 4300),)  # the debugger, on the user's loopback only
    assert spec.target == "127.0.0.1:3845 via host.docker.internal → pro.pinggy.io:443"
    assert (spec.local_host, spec.local_port) == ("127.0.0.1", 3845)  # checked where the server is: here


def test_on_docker_desktop_a_tunnel_can_ask_for_host_networking_or_a_network_of_its_own(write_manifest):
    desktop = describe(info("docker-desktop-macos"))
    forced = container_spec("figma", tunnel(write_manifest, FIGMA + "  network: host\n"), desktop)
    assert forced.network == "host" and forced.command[2:4] == ("-R0:127.0.0.1:3845", "-L4300:localhost:4300")
    lan = container_spec("figma", tunnel(write_manifest, FIGMA + "  host: 192.0.2.10\n"), desktop)
    assert lan.network == "bridge" and lan.command[2] == "-R0:192.0.2.10:3845"  # only loopback is rewritten
    service = container_spec("figma", tunnel(write_manifest, FIGMA + "  network: mcp\n  host: figma-mcp\n"), desktop)
    assert service.network == "mcp" and service.command[2] == "-R0:figma-mcp:3845"
    assert service.target == "figma-mcp:3845 in network mcp → pro.pinggy.io:443"


def test_the_network_a_tunnel_gets_is_part_of_its_identity(write_manifest):
    linux, desktop = describe(info("linux-dockerd")), describe(info("docker-desktop-macos"))
    figma = tunnel(write_manifest, FIGMA)
    assert container_spec("figma", figma, linux).spec_hash != container_spec("figma", figma, desktop).spec_hash


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.docker
def test_a_container_off_the_host_network_is_one_a_real_engine_creates_as_planned(docker_api, project,
                                                                                   write_manifest):
    """Docker Desktop cannot run here: its kind of container (a bridge network, the debugger published on loopback
    with the four-part -L) is created on dockerd, on a network of the test's own."""
    from provisioner.engine.docker_engine import DockerEngine

    port, network = free_port(), f"{project}-net"
    create_network(docker_api, network)
    try:
        body = FIGMA.replace("debugger_port: 4300", f"debugger_port: {port}") + (
            f"  image: {SLEEPER_IMAGE}\n  container_name: {project}-figma\n  network: {network}\n  host: figma-mcp\n")
        spec = container_spec(project, tunnel(write_manifest, body), describe(info("docker-desktop-windows")))
        created = DockerEngine().create(spec)
        inspected = docker_api.inspect_container(created)
        assert inspected["HostConfig"]["NetworkMode"] == network
        assert inspected["HostConfig"]["PortBindings"] == {
            f"{port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert f"-L0.0.0.0:{port}:localhost:4300" in inspected["Config"]["Cmd"]
        assert inspected["State"]["Running"]
    finally:
        remove_project(docker_api, project)
        docker_api.remove_network(network)


@pytest.mark.docker
def test_the_engine_reports_its_kind_from_one_request(docker_api):
    from provisioner.engine.docker_engine import DockerEngine

    assert DockerEngine().kind.kind == DOCKER  # this machine's dockerd (rootful, Linux)


class _EngineOf:
    """What `conditions.local_side` asks of an engine, for kinds that cannot run here."""

    def __init__(self, recorded: str, local: bool = True):
        self.kind, self.is_local = describe(info(recorded)), local

    def address_in_network(self, network: str, name: str) -> str | None:
        raise AssertionError("a network this machine cannot reach must not be looked into")


def local_side(engine: _EngineOf, network: str, host: str, port: int) -> tuple[bool | None, str]:
    from provisioner.observe import conditions

    return conditions.local_side(cast(Any, engine), network, host, port)


@pytest.mark.parametrize("recorded", ["docker-desktop-macos", "docker-rootless", "podman-rootless"])
def test_status_says_it_cannot_check_a_service_inside_a_network_this_machine_cannot_reach(recorded):
    engine = _EngineOf(recorded)
    assert local_side(engine, "app", "web", 80) == (
        None, f"web:80 cannot be checked from here: network 'app' is inside {engine.kind.label}")


def test_on_docker_desktop_the_local_server_is_checked_here_where_it_runs():
    desktop = _EngineOf("docker-desktop-windows")
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert local_side(desktop, "bridge", "127.0.0.1", port) == (True, "")
    assert local_side(desktop, "bridge", "127.0.0.1", port) == (False, "")
    assert local_side(_EngineOf("docker-desktop-windows", local=False), "bridge", "127.0.0.1", port) == (None, "")
