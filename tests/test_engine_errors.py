"""Each way the engine or its registry can fail, provoked for real, reads as its own cause with the fix for it."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import tarfile
import time

import pytest

from conftest import (
    WITHOUT_ROOTS_RIGHTS,
    http_server,
    manifest_text,
    project_containers,
    run_tunnelctl,
    socket_of_another_user,
)

pytestmark = pytest.mark.docker

# An image without any program: the engine creates its container, then refuses to start it.


def write_manifest(tmp_path, project: str, image: str = "tunnelctl-test/sleeper:latest") -> None:
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        tunnels:
          - name: figma
            image: $image
            port: 3845
            token: "{{ env.PINGGY_TOKEN }}"
            allow_cidrs: [127.0.0.1/32]
    """, project=project, image=image))


def apply(tmp_path, project: str, image: str):
    write_manifest(tmp_path, project, image)
    return run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env={"PINGGY_TOKEN": "tok"})


def failure(result, start: str = "figma: failed") -> str:
    """The one line that says why the tunnel could not be created."""
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    [line] = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith(start)]
    return line


def image_failure(result) -> str:
    """Why the image a tunnel needs cannot be had: said before anything is created, in one line."""
    return failure(result, "error: no image ").removesuffix("; nothing was changed")


@contextlib.contextmanager
def registry(status: int, headers: dict[str, str] | None = None):
    """A registry on loopback (which dockerd may use over plain HTTP) that answers every image request with `status`."""
    def respond(path, _headers):
        base = {"Docker-Distribution-API-Version": "registry/2.0", "Content-Type": "application/json"}
        if path == "/v2/" and status != 401:
            return 200, b"{}", base
        code = "UNAUTHORIZED" if status == 401 else "MANIFEST_UNKNOWN"
        return status, b'{"errors":[{"code":"%s","message":"%s"}]}' % (code.encode(), code.lower().encode()), \
            {**base, **(headers or {})}

    with http_server(respond) as port:
        yield f"127.0.0.1:{port}"


def test_an_unreachable_registry_says_so_and_how_to_get_the_image_another_way(docker_api, project, tmp_path):
    # .invalid never resolves (RFC 2606): the engine's DNS lookup fails as it does for Docker Hub on an offline machine.
    line = image_failure(apply(tmp_path, project, "registry.invalid/pinggy/pinggy:latest"))
    assert line.startswith("error: no image 'registry.invalid/pinggy/pinggy:latest' on engine 'default', and "
                           "the engine at unix:///var/run/docker.sock cannot reach the registry registry.invalid (")
    assert "no such host" in line
    assert line.endswith("load the image another way (docker save on a machine that has it, docker load here), "
                         "or name a registry mirror it can reach in `image:`")
    assert "cannot reach the Docker engine" not in line
    assert project_containers(docker_api, project) == {}


def test_an_image_the_registry_does_not_have_says_check_the_name(docker_api, project, tmp_path):
    with registry(404) as address:
        line = image_failure(apply(tmp_path, project, f"{address}/pinggy/pinggy:typo"))
    assert line.startswith(f"error: no image '{address}/pinggy/pinggy:typo' on engine 'default', and the registry "
                           f"{address} has no such image, or refuses it without a login (")
    assert "manifest unknown" in line
    assert line.endswith(f"check the name and tag in `image:`, or log the engine in (docker login {address})")


def test_an_image_that_needs_a_login_says_log_in(docker_api, project, tmp_path):
    with registry(401, {"WWW-Authenticate": 'Basic realm="team"'}) as address:
        line = image_failure(apply(tmp_path, project, f"{address}/private/pinggy:1"))
    assert (f"no image '{address}/private/pinggy:1' on engine 'default', and the registry {address} has no such "
            "image, or refuses it without a login (") in line
    assert line.endswith(f"check the name and tag in `image:`, or log the engine in (docker login {address})")


def test_an_image_without_the_client_fails_with_the_runtimes_own_explanation(docker_api, project, tmp_path, request):
    """Containers start under an init process (so a stop is prompt whatever the client does with SIGTERM): Docker no
    longer refuses to start an image that lacks the client; the init's own words say why, named as the init
    process's, and apply fails at once (no restart brings the client into the image)."""
    empty_image = f"tunnelctl-test/empty-{project}:latest"  # each import is a new image: removed after, none left
    request.addfinalizer(lambda: docker_api.remove_image(empty_image, force=True))
    empty = io.BytesIO()
    tarfile.open(fileobj=empty, mode="w").close()
    docker_api.import_image_from_data(empty.getvalue(), repository=empty_image.split(":")[0], tag="latest")
    write_manifest(tmp_path, project, empty_image)
    started = time.monotonic()
    result = run_tunnelctl("apply", "--auto-approve", "--timeout", "40", cwd=tmp_path, env={"PINGGY_TOKEN": "tok"})
    assert time.monotonic() - started < 30
    line = failure(result, "figma: the container's init process")
    assert line == ("figma: the container's init process could not start the tunnel client (exec -p failed: No such "
                    "file or directory): is `image` an image of a Pinggy tunnel client, with the client as its entry "
                    "point?"), line
    assert "Pinggy" not in line.split("(")[0]


def test_an_ssh_engine_nobody_answers_is_one_line_naming_that_engine(tmp_path):
    """paramiko's failures are not docker-py's: they once ended in 'internal error'."""
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        engines: {far: {docker: "ssh://nobody@127.0.0.1:1"}}
        tunnels: [{name: a, port: 3845, engine: far}]
    """))
    result = run_tunnelctl("plan", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: engine 'far': cannot use the Docker engine ssh://nobody@127.0.0.1:1 (engine 'far'): ")


def test_logs_of_a_tunnel_on_an_engine_that_does_not_answer_names_that_engine(tmp_path):
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        engines: {far: {docker: "ssh://nobody@127.0.0.1:1"}}
        tunnels: [{name: a, port: 3845, engine: far}]
    """))
    result = run_tunnelctl("logs", "a", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: tunnel 'a' has no container on the engines that answered; engine 'far': "
                                    "cannot use the Docker engine ssh://nobody@127.0.0.1:1")
    assert "run tunnelctl apply" not in result.stderr  # the container may well be there


def test_a_socket_nobody_serves_means_the_engine_is_stopped(tmp_path):
    stopped = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as bound:  # bound but never listening: what a crashed engine leaves behind
        bound.bind(str(stopped))
        write_manifest(tmp_path, "stopped")
        result = run_tunnelctl("status", cwd=tmp_path, env={"DOCKER_HOST": f"unix://{stopped}"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: cannot reach the Docker engine at unix://{stopped} (DOCKER_HOST=unix://{stopped}) while listing "
        "containers: connection refused; start the engine (dockerd) or point DOCKER_HOST at one"]


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root needs setpriv to lose its rights")
def test_a_socket_the_user_may_not_open_is_a_permission_problem_not_a_stopped_engine(tmp_path):
    write_manifest(tmp_path, "private")
    with socket_of_another_user(tmp_path / "docker.sock") as private:
        result = run_tunnelctl("plan", cwd=tmp_path, env={"DOCKER_HOST": f"unix://{private}", "PINGGY_TOKEN": "t"},
                               wrapper=WITHOUT_ROOTS_RIGHTS)
    assert result.returncode == 1
    line = result.stderr.splitlines()[-1]
    assert line.startswith(f"error: permission denied on the Docker engine's socket at unix://{private} "
                           f"(DOCKER_HOST=unix://{private}) while ")
    assert line.endswith(": add your user to the 'docker' group (sudo usermod -aG docker $USER, then log in again), "
                         "or point DOCKER_HOST at a socket you may open: rootless Docker's "
                         "unix://$XDG_RUNTIME_DIR/docker.sock or Podman's unix://$XDG_RUNTIME_DIR/podman/podman.sock "
                         "(systemctl --user start podman.socket)")


def test_an_api_version_the_engine_does_not_speak_names_the_one_it_does(docker_api, tmp_path):
    maximum = docker_api.version(api_version=False)["ApiVersion"]
    write_manifest(tmp_path, "versions")
    result = run_tunnelctl("status", cwd=tmp_path, env={"DOCKER_API_VERSION": "1.99"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: the Docker engine at unix:///var/run/docker.sock does not speak Docker API 1.99 (it needs at most "
        f"{maximum}): set DOCKER_API_VERSION={maximum}, or unset it"]


# Answers this machine cannot provoke (its engine is Docker 20.10, its registries are stand-ins): the texts newer
# engines and Docker Hub send, as their sources and issue threads quote them.
@pytest.mark.parametrize("explanation, verdict", [
    ("pull access denied for pinggy/pingy, repository does not exist or may require 'docker login': denied: "
     "requested access to the resource is denied", "has no such image, or refuses it without a login"),
    ("Get \"https://registry-1.docker.io/v2/\": net/http: request canceled while waiting for connection "
     "(Client.Timeout exceeded while awaiting headers)", "cannot reach the registry registry-1.docker.io (Docker Hub)"),
    ("Get \"https://registry-1.docker.io/v2/\": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: connection refused",
     "cannot reach the registry"),
])
def test_registry_answers_from_elsewhere_are_told_apart(explanation, verdict):
    from provisioner.engine import errors as engine_errors

    assert verdict in engine_errors.pull_failed("pinggy/pingy", explanation, "unix:///var/run/docker.sock")


def test_an_engine_that_needs_a_newer_api_says_which():
    from provisioner.engine import errors as engine_errors

    message = engine_errors.refused("client version 1.41 is too old. Minimum supported API version is 1.44, please "
                                    "upgrade your client to a newer version", "unix:///var/run/docker.sock",
                                    "listing containers", "1.41", pinned_by_user=False)
    assert message == ("the Docker engine at unix:///var/run/docker.sock does not speak Docker API 1.41 (it needs at "
                       "least 1.44): set DOCKER_API_VERSION=1.44")
