"""The tunnel container as Pinggy's CLI needs it, with the real client (npm `pinggy` 0.5.3, the image
`standin/build-pinggy` makes) and its double: a prompt stop before the client has connected, and a home on the
container's tmpfs whatever user the image runs as."""

from __future__ import annotations

import io
import time
import uuid

import pytest

from conftest import manifest_text, project_containers, run_tunnelctl, wait_until
from standin import fixture

REAL_IMAGE = "tunnelctl-test/pinggy-real:latest"
# Each image, and what its tunnel says of its client: the real CLI under its own name says it is the CLI (the name
# alone gets OpenSSH's -F, which the CLI refuses), on the host network, without tunnelctl's launcher (the CLI's own
# layout, tests/test_pinggy_real.py); the double passes OpenSSH's arguments on to ssh, as an OpenSSH image.
CLIENTS = {"real": (REAL_IMAGE, "client: pinggy-cli, network: host"), "double": (fixture.CLI_IMAGE, "")}


@pytest.fixture(params=sorted(CLIENTS))
def cli_image(request, docker_api) -> tuple[str, str]:
    """The image, and its tunnel's client settings (CLIENTS)."""
    image, client = CLIENTS[request.param]
    try:
        docker_api.inspect_image(image)
    except Exception:
        pytest.fail(f"image {image} is missing; run scripts/setup")
    return image, client


def unconnected_tunnel(project: str, image: str, client: str) -> str:
    """A tunnel whose server refuses every connection (nothing listens on this machine's port 443, nor on port 1),
    so the client keeps trying to connect."""
    return manifest_text("""
        version: 1
        project: $project
        tunnels:
          - {name: web, port: 8080, image: "$image", server: 127.0.0.1, server_port: 1, token: "{{ env.TOKEN }}",
             allow_cidrs: [127.0.0.0/8] $client}
    """, project=project, image=image, client=client and ", " + client)


def started(tmp_path, project: str, image: str, client: str, docker_api) -> str:
    (tmp_path / "tunnels.yaml").write_text(unconnected_tunnel(project, image, client))
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path,
                            env={"TOKEN": "tok" + uuid.uuid4().hex[:12]})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    container = project_containers(docker_api, project)["web"]["Id"]
    wait_until(lambda: "Initialized" in docker_api.logs(container).decode(errors="replace"), 30,
               "the client to start its daemon")
    return container


def test_a_client_that_has_not_connected_yet_stops_at_once(docker_api, project, cli_image, tmp_path):
    """The CLI sets no SIGTERM handler until it connects, and an unhandled SIGTERM sent to PID 1 is ignored: without
    an init process, `docker stop` waited out the grace and killed it (exit 137)."""
    image, client = cli_image
    container = started(tmp_path, project, image, client, docker_api)
    began = time.monotonic()
    docker_api.stop(container, timeout=10)
    took = time.monotonic() - began
    state = docker_api.inspect_container(container)["State"]
    assert took < 3 and state["ExitCode"] != 137, (took, state)


def test_an_image_that_runs_as_another_user_has_its_home_on_the_tmpfs(docker_api, project, cli_image, tmp_path):
    """As a non-root user with HOME=/root the CLI failed with EACCES on ~/.config/pinggy; with a home on the
    read-only root (/home/pinggy), with ENOENT. HOME and the XDG folders are the container's tmpfs, writable by any
    user."""
    image = f"tunnelctl-test/nonroot-{uuid.uuid4().hex[:8]}:latest"
    base, client = cli_image
    dockerfile = f"FROM {base}\nUSER 4321:4321\nENV HOME=/home/pinggy\n".encode()
    for _ in docker_api.build(fileobj=io.BytesIO(dockerfile), tag=image, rm=True, decode=True):
        pass
    try:
        container = started(tmp_path, project, image, client, docker_api)
        output = docker_api.logs(container).decode(errors="replace")
        assert "Failed to start daemon" not in output and "EACCES" not in output
        assert docker_api.inspect_container(container)["State"]["Running"] is True
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path)
        docker_api.remove_image(image, force=True)
