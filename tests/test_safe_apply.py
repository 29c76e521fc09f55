"""Apply that never leaves a mess: killed at any step, racing itself, losing the engine, or given a stale plan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import SLEEPER_IMAGE, manifest_text, project_containers, project_containers_all, run_tunnelctl, wait_until

PAUSE = "TUNNELCTL_TEST_PAUSE_AT"


def write(directory, project: str, tunnels: dict[str, int], image: str = SLEEPER_IMAGE, extra: str = "") -> None:
    lines = "".join(manifest_text("- {name: $name, port: $port}\n", name=name, port=port)
                    for name, port in tunnels.items())
    (directory / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: $image, allow_cidrs: [127.0.0.0/8]$extra}
        tunnels:
    """, project=project, image=image, extra=extra) + textwrap.indent(lines, "  "))


def start_paused(directory, step: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start `apply` and return once it has frozen itself at `step`."""
    process = subprocess.Popen([sys.executable, "-m", "provisioner", "apply", "--auto-approve", "--no-wait",
                                "--parallelism", "1", *args], cwd=directory,
                               env={**os.environ, **(env or {}), PAUSE: step},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    marker = f"tunnelctl: paused at {step}"
    seen = ""
    deadline = time.monotonic() + 60
    while marker not in seen:
        line = process.stderr.readline()
        if (not line and process.poll() is not None) or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"apply never reached {step}: {seen}{process.communicate()[0]}")
        seen += line
    return process


def assert_converged(docker_api, directory, project: str, expected: dict[str, int],
                     env: dict[str, str] | None = None) -> None:
    containers = project_containers_all(docker_api, project)
    assert sorted(containers) == sorted(expected), containers
    for tunnel, port in expected.items():
        [info] = containers[tunnel]
        assert info["Name"] == f"/{project}-{tunnel}"
        assert info["State"]["Running"] is True
        assert f"-R0:127.0.0.1:{port}" in info["Config"]["Cmd"]
    plan = run_tunnelctl("plan", "--detailed-exitcode", cwd=directory, env=env)
    assert plan.returncode == 0 and plan.stdout.startswith("No changes."), plan.stdout


BEFORE = {"a": 1001, "b": 1002, "c": 1003}
AFTER = {"a": 2001, "b": 1002, "d": 1004}  # a recreated, b unchanged, c removed, d created


@pytest.mark.parametrize("step", ["removed-one", "renamed-aside", "stopped-old", "created-not-started",
                                  "started-new", "removed-old"])
def test_killed_at_any_step_the_next_apply_converges(docker_api, project, tmp_path, step):
    write(tmp_path, project, BEFORE)
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0
    write(tmp_path, project, AFTER)

    process = start_paused(tmp_path, step)
    process.kill()
    process.wait(timeout=10)
    leftovers = run_tunnelctl("plan", cwd=tmp_path)
    assert leftovers.returncode == 0 and "Plan:" in leftovers.stdout  # the interrupted run is visible

    again = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_converged(docker_api, tmp_path, project, AFTER)


def test_a_replacement_that_fails_gives_the_old_tunnel_back(docker_api, pinggy, project, local_server, tmp_path):
    port, _ = local_server
    token = "safe" + os.urandom(5).hex()
    pinggy.add_token(token)
    def manifest(server_port: int) -> str:
        return manifest_text("""
            version: 1
            project: $project
            tunnels:
              - {name: mcp, port: $port, token: $token, image: tunnelctl-test/pinggy-ssh:latest, server: 127.0.0.1,
                 server_port: $server_port, allow_cidrs: [127.0.0.0/8]}
        """, project=project, port=port, token=token, server_port=server_port)
    (tmp_path / "tunnels.yaml").write_text(manifest(pinggy.port))
    assert run_tunnelctl("apply", "--auto-approve", cwd=tmp_path).returncode == 0
    before = project_containers(docker_api, project)["mcp"]["Id"]

    (tmp_path / "tunnels.yaml").write_text(manifest(1))  # nothing answers there
    failed = run_tunnelctl("apply", "--auto-approve", "--timeout", "15", cwd=tmp_path)
    assert failed.returncode == 1
    assert "mcp: failed to recreate: the new container did not come up" in failed.stdout
    assert "the previous container was restored and runs again" in failed.stdout
    containers = project_containers_all(docker_api, project)["mcp"]
    assert [info["Id"] for info in containers] == [before]
    assert containers[0]["Name"] == f"/{project}-mcp" and containers[0]["State"]["Running"] is True

    (tmp_path / "tunnels.yaml").write_text(manifest(pinggy.port))

    def restored_client_healthy():  # it logs in again by itself
        return json.loads(run_tunnelctl("status", "--json", cwd=tmp_path).stdout)["tunnels"][0]["ok"]

    wait_until(restored_client_healthy, 20, "the restored tunnel became healthy")


def test_concurrent_applies_serialise_and_a_held_lock_names_its_holder(docker_api, project, tmp_path):
    write(tmp_path, project, BEFORE)
    holder = start_paused(tmp_path, "created-not-started")
    try:
        refused = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
        assert refused.returncode == 4
        assert f"is being changed by pid {holder.pid} on " in refused.stderr
        assert "--lock-timeout" in refused.stderr
        assert run_tunnelctl("plan", cwd=tmp_path).returncode == 0  # plan takes no lock
    finally:
        holder.kill()
        holder.wait(timeout=10)
    racers = [subprocess.Popen([sys.executable, "-m", "provisioner", "apply", "--auto-approve", "--no-wait",
                                "--lock-timeout", "60"], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(racer.returncode, out, err) for racer in racers for out, err in [racer.communicate(timeout=120)]]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    assert sum("taking over the lock left by pid" in err for _, _, err in results) == 1
    assert sum("Apply complete" in out for _, out, _ in results) == 1  # the others found nothing left to do
    assert_converged(docker_api, tmp_path, project, BEFORE)


def process_alive(pid: int) -> bool:
    try:
        return "zombie" not in open(f"/proc/{pid}/status").read()
    except FileNotFoundError:
        return False


def test_an_engine_restart_mid_apply_is_a_clear_error_and_the_next_apply_converges(fault_engine, project, tmp_path):
    """On an engine of the test's own: the machine's engine is never stopped by a test."""
    env = {"DOCKER_HOST": fault_engine.url}
    write(tmp_path, project, BEFORE)
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env).returncode == 0
    write(tmp_path, project, AFTER)
    process = start_paused(tmp_path, "stopped-old", env=env)
    try:
        pid = fault_engine.pid
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not process_alive(pid), 30, "the engine did not stop")
        process.send_signal(signal.SIGCONT)
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1
        assert f"cannot reach the Docker engine at {fault_engine.url}" in out + err
        assert "Traceback" not in out + err
    finally:
        if process.poll() is None:
            process.kill()
        fault_engine.start()
    # The engine restarts its containers by their restart policy meanwhile: apply converges anyway.
    again = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert_converged(fault_engine.api, tmp_path, project, AFTER, env=env)


def test_a_saved_plan_applies_exactly_and_refuses_when_stale(docker_api, project, tmp_path):
    env = {"SAVED_TOKEN": "tokSaved" + "5" * 30}
    write(tmp_path, project, BEFORE, extra=", token: '{{ env.SAVED_TOKEN }}', force: true")
    saved = run_tunnelctl("plan", "--out", "changes.plan", cwd=tmp_path, env=env)
    assert saved.returncode == 0 and "Saved the plan to changes.plan" in saved.stdout
    text = (tmp_path / "changes.plan").read_text()
    assert env["SAVED_TOKEN"] not in text and json.loads(text)["plan"]["summary"]["create"] == 3

    write(tmp_path, project, {**BEFORE, "a": 9999}, extra=", token: '{{ env.SAVED_TOKEN }}', force: true")
    stale = run_tunnelctl("apply", "changes.plan", "--no-wait", cwd=tmp_path, env=env)
    assert stale.returncode == 1 and "changes.plan is stale: the manifest" in stale.stderr
    assert project_containers(docker_api, project) == {}

    write(tmp_path, project, BEFORE, extra=", token: '{{ env.SAVED_TOKEN }}', force: true")
    (tmp_path / "saved.env").write_text(f"SAVED_TOKEN={env['SAVED_TOKEN']}\n")  # the variables may come from a file
    applied = run_tunnelctl("apply", "changes.plan", "--no-wait", "--env-file", "saved.env", cwd=tmp_path)  # no prompt
    assert applied.returncode == 0, applied.stderr
    assert sorted(project_containers(docker_api, project)) == ["a", "b", "c"]

    run_tunnelctl("plan", "--out", "noop.plan", cwd=tmp_path, env=env)
    docker_api.stop(project_containers(docker_api, project)["b"]["Id"], timeout=1)
    stale = run_tunnelctl("apply", "noop.plan", "--no-wait", cwd=tmp_path, env=env)
    assert stale.returncode == 1 and "noop.plan is stale: the project's containers changed" in stale.stderr


def test_target_and_replace_limit_and_force_changes(docker_api, project, tmp_path):
    write(tmp_path, project, BEFORE)
    only_a = run_tunnelctl("apply", "--auto-approve", "--no-wait", "--target", "a", cwd=tmp_path)
    assert only_a.returncode == 0 and sorted(project_containers(docker_api, project)) == ["a"]
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0
    first = {tunnel: info["Id"] for tunnel, info in project_containers(docker_api, project).items()}

    replaced = run_tunnelctl("apply", "--auto-approve", "--no-wait", "--replace", "b", cwd=tmp_path)
    assert "-/+ b" in replaced.stdout and "replacement requested (--replace)" in replaced.stdout
    now = {tunnel: info["Id"] for tunnel, info in project_containers(docker_api, project).items()}
    assert now["b"] != first["b"] and (now["a"], now["c"]) == (first["a"], first["c"])

    unknown = run_tunnelctl("plan", "--target", "zzz", cwd=tmp_path)
    assert unknown.returncode == 1 and "--target names no tunnel of the manifest or the project: zzz" in unknown.stderr
    gone = run_tunnelctl("destroy", "--auto-approve", "--target", "c", cwd=tmp_path)
    assert gone.returncode == 0 and sorted(project_containers(docker_api, project)) == ["a", "b"]


def test_image_drift_and_pull_failures(docker_api, project, tmp_path):
    moving = f"tunnelctl-test/drift-{project}:latest"
    docker_api.tag(SLEEPER_IMAGE, moving.split(":")[0], "latest")
    try:
        write(tmp_path, project, {"a": 1001}, image=moving)
        assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0
        container = project_containers(docker_api, project)["a"]["Id"]
        docker_api.commit(container, repository=moving.split(":")[0], tag="latest")  # the tag now names a new image
        drift = run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path)
        assert drift.returncode == 2 and f"image {moving} now points to sha256:" in drift.stdout
        assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0
        assert run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0

        unreachable = "127.0.0.1:1/nowhere/client:latest"
        write(tmp_path, project, {"a": 1001}, image=moving)
        unpullable = manifest_text("- {name: b, port: 1002, image: '$image'}\n", image=unreachable)
        (tmp_path / "tunnels.yaml").write_text((tmp_path / "tunnels.yaml").read_text()
                                               + textwrap.indent(unpullable, "  "))
        pulled = run_tunnelctl("plan", "--pull", cwd=tmp_path)
        assert pulled.returncode == 1
        # The engine answered; only the registry did not: not to be reported as an unreachable engine.
        assert (f"error: cannot pull image '{unreachable}': the engine at unix:///var/run/docker.sock cannot reach "
                "the registry 127.0.0.1:1") in pulled.stderr, pulled.stderr
        assert "tunnels using it (b) are left as they are" in pulled.stderr
        assert project_containers(docker_api, project)["a"]["State"]["Running"] is True
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path)
        docker_api.remove_image(moving, force=True)


def test_a_tunnel_restarting_in_a_loop_is_reported_by_plan(docker_api, project, tmp_path):
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        tunnels:
          - {name: loop, port: 1001, image: tunnelctl-test/pinggy-ssh:latest, server: 127.0.0.1, server_port: 1,
             restart: always, allow_cidrs: [127.0.0.0/8]}
    """, project=project))
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path).returncode == 0

    def plan_text():
        text = run_tunnelctl("plan", cwd=tmp_path).stdout
        return text if "Warning: loop: keeps restarting" in text else ""

    plan = wait_until(plan_text, 30, "plan warned of the restart loop")
    assert "Warning: loop: keeps restarting (Restarting (255)" in plan, plan
    assert "see tunnelctl logs loop" in plan
