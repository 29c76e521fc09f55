"""Servers inside containers: a tunnel joins a user-defined Docker network and forwards to a service by name.

Real engine, real stand-in: a web server container on a bridge network this test creates (explicit subnet), and the
private stand-in reached from that network through a relay on the network's gateway address.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import textwrap
import threading
import urllib.request
import uuid

import pytest

from conftest import create_network, manifest_text, project_containers, run_tunnelctl
from standin import fixture

pytestmark = pytest.mark.docker

PINGGY_IMAGE = "tunnelctl-test/pinggy-ssh:latest"
WEB_IMAGE = "tunnelctl-test/web:latest"


@contextlib.contextmanager
def relay(listen_host: str, target_port: int):
    """A TCP relay on `listen_host` to the stand-in on 127.0.0.1: the stand-in's sshd listens on loopback only."""
    listener = socket.create_server((listen_host, 0))
    stop = threading.Event()

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", target_port))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()


@pytest.fixture
def network(docker_api, project):
    """A user-defined bridge network of this test, with the web service `web` on it and the stand-in reachable from
    it; yields (network name, gateway, relay port). Everything is removed afterwards."""
    name = f"{project}-net"
    gateway = create_network(docker_api, name)
    web = docker_api.create_container(
        WEB_IMAGE, command=["8080"], name=f"{project}-web", labels={"io.tunnelctl.test": "issue15"},
        host_config=docker_api.create_host_config(network_mode=name),
        networking_config=docker_api.create_networking_config({name: docker_api.create_endpoint_config(
            aliases=["web"])}))
    docker_api.start(web["Id"])
    try:
        with relay(gateway, fixture.DEFAULT_PORT) as relay_port:
            yield name, gateway, relay_port, web["Id"]
    finally:
        docker_api.remove_container(web["Id"], force=True)
        for row in docker_api.containers(all=True, filters={"network": name}):
            docker_api.remove_container(row["Id"], force=True)
        docker_api.remove_network(name)


def manifest(project: str, network: str, gateway: str, relay_port: int, extra: str = "",
             image: str = PINGGY_IMAGE) -> str:
    return manifest_text("""
        version: 1
        project: $project
        tunnels:
          - name: site
            image: $image
            server: "$gateway"
            server_port: $relay_port
            token: "{{ env.NET_TOKEN }}"
            force: true
            network: $network
            host: web
            port: 8080
    """, project=project, image=image, gateway=gateway, relay_port=relay_port, network=network) + textwrap.indent(
        textwrap.dedent(extra), "    ")


def status_of(tmp_path, env) -> dict:
    result = run_tunnelctl("status", "--json", cwd=tmp_path, env=env)
    return {item["tunnel"]: item for item in json.loads(result.stdout)["tunnels"]} | {"_exit": result.returncode}


def test_a_tunnel_on_a_user_defined_network_reaches_the_service_by_name(pinggy, project, network, docker_api,
                                                                       tunnel_client, tmp_path):
    name, gateway, relay_port, web_id = network
    token = "net" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    env = {"NET_TOKEN": token}
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        debugger_port = free.getsockname()[1]
    (tmp_path / "tunnels.yaml").write_text(manifest(project, name, gateway, relay_port, image=tunnel_client.image,
                                                    extra=f"debugger_port: {debugger_port}\n"))

    planned = run_tunnelctl("plan", cwd=tmp_path, env=env)
    assert planned.returncode == 0, planned.stderr
    assert f"web:8080 in network {name} → {gateway}:{relay_port}" in planned.stdout

    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert re.search(r"^site\s+up\s+http://\S+", applied.stdout, re.MULTILINE), applied.stdout

    info = project_containers(docker_api, project)["site"]
    assert info["HostConfig"]["NetworkMode"] == name  # joined the network: no host networking
    assert "-R0:web:8080" in info["Config"]["Cmd"]
    # off the host network the debugger listens on the container's every address, published on loopback only
    assert f"-L0.0.0.0:{debugger_port}:localhost:4300" in info["Config"]["Cmd"]
    assert info["HostConfig"]["PortBindings"] == {
        f"{debugger_port}/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(debugger_port)}]}
    address = info["NetworkSettings"]["Networks"][name]["IPAddress"]
    socket.create_connection((address, debugger_port), timeout=5).close()  # OpenSSH bound it beyond loopback

    status = status_of(tmp_path, env)
    site = status["site"]
    assert site["ok"] is True and status["_exit"] == 0
    assert site["local"] == {"host": "web", "port": 8080, "network": name, "listening": True}
    found = re.search(r"-p(\d+)\.", site["urls"][0])  # the stand-in names its forward's port in the URL
    assert found, site["urls"]
    port = int(found.group(1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.read().startswith(b"hello from web ")  # visitor → stand-in → ssh → web, by its name

    text = run_tunnelctl("status", "--wide", cwd=tmp_path, env=env).stdout
    assert re.search(rf"^site\s+up\s+\S+\s+0\s+web:8080 on {re.escape(name)} listening\s", text, re.MULTILINE)

    docker_api.stop(web_id, timeout=1)  # the service goes away: status judges it from inside the network
    site = status_of(tmp_path, env)["site"]
    assert site["local"]["listening"] is False
    assert site["condition"] == "up, local server not listening"  # still up at Pinggy: a warning, not a failure
    assert site["problem"].startswith("nothing listens on web:8080 yet")
    assert site["problem"].endswith(f"(no running container on network '{name}' answers to 'web')")

    assert run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env).stdout.startswith("No changes.")


def test_changing_the_network_recreates_and_a_missing_one_is_an_error_at_plan_time(pinggy, project, network,
                                                                                  docker_api, tmp_path):
    name, gateway, relay_port, _ = network
    token = "net" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    env = {"NET_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(manifest(project, name, gateway, relay_port))
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env).returncode == 0
    before = project_containers(docker_api, project)["site"]["Id"]

    (tmp_path / "tunnels.yaml").write_text(manifest(project, "nowhere-" + project, gateway, relay_port))
    planned = run_tunnelctl("plan", cwd=tmp_path, env=env)
    assert planned.returncode == 1
    assert (f"  ! site  conflict  network 'nowhere-{project}' does not exist on this engine: create it "
            f"(docker network create nowhere-{project}), start the project that defines it, or change the tunnel's "
            "network") in planned.stdout
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 1
    assert project_containers(docker_api, project)["site"]["Id"] == before  # nothing was touched

    second = f"{project}-net2"
    second_gateway = create_network(docker_api, second)
    try:
        docker_api.connect_container_to_network(f"{project}-web", second, aliases=["web"])
        with relay(second_gateway, fixture.DEFAULT_PORT) as second_relay:
            (tmp_path / "tunnels.yaml").write_text(manifest(project, second, second_gateway, second_relay))
            planned = run_tunnelctl("plan", cwd=tmp_path, env=env)
            # the stand-in is reached through the new network's gateway, so the server changes too
            assert f"-/+ site  recreate  {project}-site: network, server, server_port changed" in planned.stdout
            applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
            assert applied.returncode == 0, applied.stdout + applied.stderr
            info = project_containers(docker_api, project)["site"]
            assert info["HostConfig"]["NetworkMode"] == second and info["Id"] != before
    finally:
        for row in docker_api.containers(all=True, filters={"network": second}):
            if row["Labels"].get("io.tunnelctl.project") == project:
                docker_api.remove_container(row["Id"], force=True)
        docker_api.disconnect_container_from_network(f"{project}-web", second, force=True)
        docker_api.remove_network(second)


def test_a_service_name_on_the_default_bridge_is_warned_about_it_resolves_no_names(tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\ntunnels:\n  - {name: a, port: 80, network: bridge, host: web,"
                                           " allow_cidrs: [10.0.0.0/8]}\n"
                                           "  - {name: b, port: 81, network: bridge, host: 172.17.0.5,"
                                           " allow_cidrs: [10.0.0.0/8]}\n")
    result = run_tunnelctl("validate", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nowhere"})
    assert result.returncode == 0
    assert result.stderr == (
        "tunnels.yaml:3:42: warning: tunnels[0].host (tunnel 'a'): Docker's default bridge network resolves no "
        "container names, so 'web' will not be found there: put the service and the tunnel on a user-defined network "
        "(docker network create)\n")


def test_a_loopback_host_on_a_network_is_refused_before_docker(tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\ntunnels:\n  - {name: a, port: 80, network: web-net}\n"
                                           "  - {name: b, port: 80, network: none, host: web}\n")
    result = run_tunnelctl("validate", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nowhere"})
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if "warning" not in line][:2] == [
        "tunnels.yaml:3:5: tunnels[0] (tunnel 'a'): host '127.0.0.1' on network 'web-net' is the tunnel container "
        "itself: set host to the name of the container or Compose service to expose (use network: host for a server "
        "on this machine)",
        "tunnels.yaml:4:25: tunnels[1].network (tunnel 'b'): network 'none' has no network at all: the tunnel could "
        "not reach Pinggy",
    ]
