"""Podman as the engine: its API service (Debian's podman 4.3, started by the test on a private socket) speaks
Docker's API; the whole lifecycle runs against it with the Pinggy stand-in, and Podman is found without
configuration when no Docker engine answers."""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from conftest import manifest_text, project_rows, run_tunnelctl, wait_until
from provisioner.desired.specs import desired_specs
from provisioner.engine.config import EngineConfig, discover, local_sockets
from provisioner.engine.docker_engine import DockerEngine
from provisioner.engine.loopback import RELAY_FOR
from provisioner.manifest import load
from provisioner.observe.conditions import client_session
from provisioner.observe.pinggy_output import client_problem
from standin import fixture

PINGGY_IMAGE = "tunnelctl-test/pinggy-ssh:latest"


def podman_containers(url: str, project: str) -> list[dict]:
    import docker

    return project_rows(docker.APIClient(base_url=url, version="1.41"), project)


def manifest(project: str, url: str, port: int, keepalive: int = 30, image: str = PINGGY_IMAGE) -> str:
    return manifest_text("""
        version: 1
        project: $project
        engines:
          pod: {docker: "$url"}
        tunnels:
          - name: mcp
            image: $image
            server: 127.0.0.1
            server_port: $server_port
            token: "{{ env.POD_TOKEN }}"
            port: $port
            keepalive: $keepalive
            allow_cidrs: [127.0.0.0/8]
    """, project=project, url=url, image=image, server_port=fixture.DEFAULT_PORT, port=port, keepalive=keepalive)


def test_the_whole_lifecycle_runs_on_podman(podman, pinggy, tunnel_client, local_server, tmp_path):
    """With both tunnel clients: OpenSSH, and the double of Pinggy's CLI (what pinggy/pinggy runs). No `force`: the
    recreate must converge while the stand-in holds the token for a moment after the old client left."""
    port, seen = local_server
    project = f"pod-{uuid.uuid4().hex[:6]}"
    token = "pod" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    env = {"POD_TOKEN": token}
    (tmp_path / "tunnels.yaml").write_text(manifest(project, podman, port, image=tunnel_client.image))
    try:
        applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert re.search(r"^mcp\s+up\s+http://\S+ https://\S+$", applied.stdout, re.MULTILINE), applied.stdout
        assert ("Note: engine 'pod' is Podman 4.3.1: restart: unless-stopped brings tunnels back after a reboot only "
                "when podman-restart.service is enabled") in applied.stdout
        [row] = podman_containers(podman, project)
        assert row["Names"] == [f"/{project}-mcp"] and row["State"] == "running"

        status = run_tunnelctl("status", "--wide", cwd=tmp_path, env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(rf"^mcp\s+up .* 127\.0\.0\.1:{port} listening\s+http://", status.stdout,
                         re.MULTILINE), status.stdout
        url = re.search(r"http://\S+-p(\d+)\.a\.pinggy\.link", status.stdout)
        assert url, status.stdout
        with urllib.request.urlopen(f"http://127.0.0.1:{url.group(1)}/via-podman", timeout=10) as response:
            assert response.read() == b"hello from the local MCP server"
        assert seen[-1]["path"] == "/via-podman"

        logs = run_tunnelctl("logs", "mcp", cwd=tmp_path, env=env)
        assert logs.returncode == 0 and tunnel_client.announcement in logs.stdout
        assert token not in logs.stdout  # masked, as on Docker

        again = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert again.stdout.startswith(f"No changes. Project '{project}': 1 tunnel up to date."), again.stdout
        assert "Note:" not in again.stdout  # said when containers are made, not on every run

        (tmp_path / "tunnels.yaml").write_text(manifest(project, podman, port, keepalive=60,
                                                        image=tunnel_client.image))
        recreated = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert recreated.returncode == 0, recreated.stdout + recreated.stderr
        assert "-/+ mcp  recreate  " in recreated.stdout and "keepalive changed" in recreated.stdout
        assert re.search(r"^mcp\s+up\s+http://", recreated.stdout, re.MULTILINE), recreated.stdout
        [row2] = podman_containers(podman, project)
        assert row2["Id"] != row["Id"] and row2["Names"] == [f"/{project}-mcp"]
    finally:
        destroyed = run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path, env=env)
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "Destroy complete: 1 removed." in destroyed.stdout
    assert podman_containers(podman, project) == []


def test_an_image_podman_lacks_is_named_with_the_localhost_hint(podman, tmp_path):
    project = f"pod-{uuid.uuid4().hex[:6]}"
    (tmp_path / "tunnels.yaml").write_text(manifest(project, podman, 3845).replace(PINGGY_IMAGE,
                                                                                  "example/not-loaded:1"))
    planned = run_tunnelctl("plan", cwd=tmp_path, env={"POD_TOKEN": "tok"})
    assert planned.returncode == 0, planned.stderr
    assert ("Note: engine 'pod' is Podman 4.3.1: images built or loaded locally are named localhost/NAME in Podman "
            "(what `podman images` lists)") in planned.stdout


def test_podman_describes_itself_as_podman(podman):
    from provisioner.engine.docker_engine import DockerEngine

    kind = DockerEngine(EngineConfig("pod", docker=podman)).kind
    assert (kind.kind, kind.label) == ("podman", "Podman 4.3.1")


def test_without_configuration_docker_comes_first_then_rootless_then_rootful_podman():
    assert local_sockets({"XDG_RUNTIME_DIR": "/run/user/1000"}) == [
        "/var/run/docker.sock", "/run/user/1000/podman/podman.sock", "/run/podman/podman.sock"]
    assert local_sockets({}) == ["/var/run/docker.sock", "/run/podman/podman.sock"]


def test_the_first_socket_that_answers_is_used_so_podman_is_found_when_docker_is_not_there(podman, tmp_path):
    stale = tmp_path / "docker.sock"  # a socket file nobody listens on: what a stopped dockerd leaves behind
    with socket.socket(socket.AF_UNIX) as left_behind:
        left_behind.bind(str(stale))
    runtime = tmp_path / "runtime"
    (runtime / "podman").mkdir(parents=True)
    (runtime / "podman" / "podman.sock").symlink_to(podman.removeprefix("unix://"))
    candidates = [str(stale), str(runtime / "podman" / "podman.sock"), str(tmp_path / "absent.sock")]
    assert discover(candidates) == f"unix://{runtime}/podman/podman.sock"
    assert discover([str(stale), str(tmp_path / "absent.sock")]) == f"unix://{stale}"  # none: Docker's, for the error


def test_token_users_get_no_subordinate_ids_so_podmans_uidmap_cannot_exhaust_them(pinggy):
    """With Podman installed, /etc/subuid exists and useradd hands every new user 65536 ids by default: the thousands
    of token users a suite creates ran the range out, and then no token could be added at all."""
    token = "sub" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    for ranges in (Path("/etc/subuid"), Path("/etc/subgid")):
        if ranges.exists():
            assert not any(line.startswith(f"{token}:") or line.startswith(f"{token}+")
                           for line in ranges.read_text().splitlines())


def test_pinggy_clis_own_network_namespace_and_its_relay_work_on_podman(podman, local_server, tmp_path):
    """The default image's layout (engine/loopback.py) on Podman's Docker API: the CLI on Podman's default network,
    its relay on the host network reaching this machine's loopback through the shared volume, the daemon's events in
    the container's logs, a prompt stop, and nothing left after removal. (Engine level: the stand-in cannot be
    reached on port 443 from here, so the client keeps failing to connect, which its daemon log says.)"""
    import docker

    image, why = fixture.ensure_real_image()
    if image is None:
        pytest.skip(f"Pinggy's real CLI could not be built here: {why}")
    api = docker.APIClient(base_url=podman, version="1.41")
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    api.load_image(saved.stdout)
    assert saved.wait() == 0
    port, seen = local_server
    project = f"pod-{uuid.uuid4().hex[:6]}"
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        tunnels: [{name: web, port: $port, token: podman-relay-token, server: 127.0.0.1, allow_cidrs: [127.0.0.0/8]}]
    """, project=project, port=port))
    [spec] = desired_specs(load(tmp_path / "tunnels.yaml", {}))
    assert spec.loopback_relay
    spec = dataclasses.replace(spec, image=f"localhost/{image}")  # the default image's layout, the real CLI in it
    engine = DockerEngine(EngineConfig("pod", docker=podman))
    container = engine.create(spec)
    try:
        [relay] = api.containers(filters={"label": f"{RELAY_FOR}={container}"})
        assert api.inspect_container(relay["Id"])["HostConfig"]["NetworkMode"] == "host"
        assert api.inspect_container(container)["HostConfig"]["NetworkMode"] != "host"

        def through_the_relay() -> str:
            run = api.exec_create(container, ["node", "-e", f"require('http').get('http://127.0.0.1:{port}/pod', "
                                                            "r => r.pipe(process.stdout)).on('error', () => {})"])
            return api.exec_start(run["Id"]).decode()
        assert wait_until(lambda: "hello from the local MCP server" in through_the_relay(), 30, "the relay carried it")
        assert seen[-1]["path"] == "/pod"
        wait_until(lambda: "Could not connect" in client_problem(client_session(engine, container, running=True)),
                   60, "the daemon's reason came through the container's logs")
        stopping = time.monotonic()
        engine.stop(container)
        assert time.monotonic() - stopping < 3
    finally:
        engine.remove(container, stop_first=True)
    assert project_rows(api, project) == []
