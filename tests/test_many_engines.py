"""One manifest across several real Docker engines: a second dockerd, an ssh:// way to it, and a CLI context."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from conftest import SLEEPER_IMAGE, SUPPORT, manifest_text, remove_project, run_tunnelctl, tunnel_names


@pytest.fixture
def on_both(second_engine, project):
    """The project's containers on the second engine go too, whatever the test did."""
    yield second_engine.api
    remove_project(second_engine.api, project)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def ssh_engine(second_engine, tmp_path_factory):
    """(ssh:// URL of the second engine, a HOME whose ~/.ssh reaches it with its key and host key known): an sshd of
    this session's own on a free port."""
    import os

    port = free_port()
    state = tmp_path_factory.mktemp("docker-over-ssh")
    env = {**os.environ, "TUNNELCTL_DOCKER_SSH_DIR": str(state), "TUNNELCTL_DOCKER_SSH_PORT": str(port)}
    try:  # stopped whatever happens, even when it fails half-way through starting
        started = subprocess.run([str(SUPPORT / "docker-over-ssh"), "start", second_engine.url], capture_output=True,
                                 text=True, env=env)
        if started.returncode != 0:
            pytest.fail(f"the ssh endpoint did not start: {started.stderr}")
        home = tmp_path_factory.mktemp("ssh-home")
        (home / ".ssh").mkdir(mode=0o700)
        (home / ".ssh" / "config").write_text(f"Host 127.0.0.1\n  IdentityFile {state}/client_key\n")
        (home / ".ssh" / "known_hosts").write_text((state / "known_hosts").read_text())
        yield f"ssh://tunnelctl-remote@127.0.0.1:{port}", home
    finally:
        subprocess.run([str(SUPPORT / "docker-over-ssh"), "stop"], env=env, capture_output=True)


def fleet_manifest(project: str, second_url: str, placement: dict[str, str], second: str | None = None) -> str:
    lines = "".join(manifest_text("- {name: $name, port: $port, engine: $engine}\n",
                                  name=name, port=1000 + index, engine=engine)
                    for index, (name, engine) in enumerate(placement.items()))
    return manifest_text("""
        version: 1
        project: $project
        engines:
          laptop: {docker: "unix:///var/run/docker.sock"}
          server: {docker: "$server"}
        defaults: {image: $image, allow_cidrs: [127.0.0.0/8]}
        tunnels:
    """, project=project, server=second or second_url, image=SLEEPER_IMAGE) + textwrap.indent(lines, "  ")


def test_apply_across_two_engines_then_move_a_tunnel_and_destroy(docker_api, second_engine, on_both, project,
                                                                 tmp_path):
    url, api2 = second_engine.url, second_engine.api
    manifest = tmp_path / "tunnels.yaml"
    manifest.write_text(fleet_manifest(project, url, {"a": "laptop", "b": "server", "c": "server"}))

    planned = run_tunnelctl("plan", cwd=tmp_path)
    assert planned.returncode == 0
    assert "Engine 'laptop' (unix:///var/run/docker.sock):\n  + a" in planned.stdout
    assert f"Engine 'server' ({url}):\n  + b" in planned.stdout
    document = json.loads(run_tunnelctl("plan", "--json", cwd=tmp_path).stdout)
    assert {(action["engine"], action["tunnel"]) for action in document["actions"]} == {
        ("laptop", "a"), ("server", "b"), ("server", "c")}

    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "server/b: created" in applied.stdout
    assert tunnel_names(docker_api, project) == ["a"] and tunnel_names(api2, project) == ["b", "c"]
    assert run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0

    manifest.write_text(fleet_manifest(project, url, {"a": "laptop", "b": "server", "c": "laptop"}))
    moving = run_tunnelctl("plan", cwd=tmp_path)
    assert "→ c  move      server → laptop" in moving.stdout
    assert "Plan: 0 to create, 0 to recreate, 1 to move, 0 to remove." in moving.stdout
    moved = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "laptop/c: moved server → laptop" in moved.stdout
    assert tunnel_names(docker_api, project) == ["a", "c"] and tunnel_names(api2, project) == ["b"]

    only_server = run_tunnelctl("destroy", "--auto-approve", "--engine", "server", cwd=tmp_path)
    assert only_server.returncode == 0
    assert tunnel_names(api2, project) == [] and tunnel_names(docker_api, project) == ["a", "c"]
    assert run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path).returncode == 0
    assert tunnel_names(docker_api, project) == [] and tunnel_names(api2, project) == []


def test_an_unreachable_engine_is_reported_once_and_the_others_proceed(docker_api, second_engine, on_both, project,
                                                                       tmp_path):
    url = second_engine.url
    (tmp_path / "tunnels.yaml").write_text(fleet_manifest(project, url, {"a": "laptop", "b": "server"},
                                                          second="unix:///tmp/tunnelctl-no-engine.sock"))
    planned = run_tunnelctl("plan", cwd=tmp_path)
    assert planned.returncode == 1
    assert "+ a" in planned.stdout and "could not be reached" in planned.stdout
    [error] = [line for line in planned.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: engine 'server': cannot reach the Docker engine at "
                            "unix:///tmp/tunnelctl-no-engine.sock (engine 'server')")
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert applied.returncode == 1 and tunnel_names(docker_api, project) == ["a"]
    status = run_tunnelctl("status", cwd=tmp_path)
    assert status.returncode == 1 and "error: engine 'server'" in status.stderr


def test_an_engine_stopped_between_plans_does_not_stop_the_others(docker_api, second_engine, on_both, project,
                                                                   tmp_path):
    url = second_engine.url
    (tmp_path / "tunnels.yaml").write_text(fleet_manifest(project, url, {"a": "laptop", "b": "server"}))
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0
    second_engine.stop()
    try:
        planned = run_tunnelctl("plan", cwd=tmp_path)
        assert planned.returncode == 1
        assert planned.stdout.startswith("No changes.") and "engine 'server' could not be reached" in planned.stdout
        assert "error: engine 'server': cannot reach the Docker engine" in planned.stderr
    finally:
        second_engine.start()
    back = run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path)
    assert back.returncode == 0, back.stdout + back.stderr  # its container was not ours to change: still there


def test_an_ssh_engine_runs_tunnels_on_the_far_side(second_engine, on_both, ssh_engine, project, tmp_path):
    url, api2 = second_engine.url, second_engine.api
    ssh_url, ssh_home = ssh_engine
    (tmp_path / "tunnels.yaml").write_text(fleet_manifest(project, url, {"far": "server"}, second=ssh_url))
    env = {"HOME": str(ssh_home)}
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", "--engine", "server", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert tunnel_names(api2, project) == ["far"]
    assert run_tunnelctl("plan", "--detailed-exitcode", "--engine", "server", cwd=tmp_path, env=env).returncode == 0


def test_a_docker_cli_context_names_an_engine(second_engine, on_both, project, tmp_path):
    url, api2 = second_engine.url, second_engine.api
    config = tmp_path / "docker-config"
    config.mkdir()
    (config / "config.json").write_text("{}")
    env = {"DOCKER_CONFIG": str(config)}
    subprocess.run(["docker", "context", "create", "engine-two", "--docker", f"host={url}"], check=True,
                   capture_output=True, env={**__import__("os").environ, **env})
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        engines:
          two: {context: engine-two}
        tunnels:
          - {name: ctx, port: 1001, image: $image, allow_cidrs: [127.0.0.0/8]}
    """, project=project, image=SLEEPER_IMAGE))
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert tunnel_names(api2, project) == ["ctx"]
