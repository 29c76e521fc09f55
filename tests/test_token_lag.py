"""Converging against a server slow to free a token, as a real Pinggy server is. A change to a tunnel that is up
takes its own session over (one forced login, no refusal); a tunnel whose client is down gets a new one that needs the
token the server still holds, and its refused logins are retried. Run with the lag (2 s) and without it."""

from __future__ import annotations

import json
import re
import textwrap
import uuid

import pytest

from conftest import SUPPORT, manifest_text, project_containers, project_rows, remove_project, run_tunnelctl, wait_until
from provisioner.plan.planner import TAKEOVER_REASON

IMAGE = "tunnelctl-test/pinggy-ssh:latest"


def manifest(project: str, port: int, tokens: dict[str, str], server_port: int, keepalive: int = 30,
             engines: str = "", engine: str | None = None) -> str:
    placed = f", engine: {engine}" if engine else ""
    rows = "".join(manifest_text("- {name: $name, port: $port, token: $token, keepalive: $keepalive, "
                                 "allow_cidrs: [127.0.0.0/8]$placed}\n",
                                 name=name, port=port, token=token, keepalive=keepalive, placed=placed)
                   for name, token in tokens.items())
    return manifest_text("""
        version: 1
        project: $project
        defaults: {image: $image, server: 127.0.0.1, server_port: $server_port}
        """, project=project, image=IMAGE, server_port=server_port) + engines + "tunnels:\n" + textwrap.indent(
        rows, "  ")


def lagged_tokens(pinggy, lag: float, *names: str) -> dict[str, str]:
    tokens = {name: f"lag{name}{uuid.uuid4().hex[:8]}" for name in names}
    for token in tokens.values():
        pinggy.add_token(token)
        pinggy.configure_token(token, release_lag=lag)
    return tokens


def apply(tmp_path, *args: str):
    result = run_tunnelctl("apply", "--auto-approve", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def up_in(result, name: str) -> list[str]:
    """The URLs apply's table shows for a tunnel that is up."""
    found = re.search(rf"^{name}\s+up\s+(\S+ \S+)$", result.stdout, re.MULTILINE)
    assert found, result.stdout
    return found.group(1).split()


def refusals(pinggy, token: str) -> int:
    return sum(1 for record in pinggy.records(token) if record["status"] == "refused")


def status(tmp_path) -> dict:
    result = run_tunnelctl("status", "--json", cwd=tmp_path)
    return {item["tunnel"]: item for item in json.loads(result.stdout)["tunnels"]} | {"_exit": result.returncode}


@pytest.mark.parametrize("lag", [2, 0])
def test_changes_to_existing_tunnels_converge_while_the_server_holds_the_token(docker_api, pinggy, project,
                                                                                 local_server, tmp_path, lag):
    port, _ = local_server
    tokens = lagged_tokens(pinggy, lag, "a", "b")
    write = lambda **options: (tmp_path / "tunnels.yaml").write_text(  # noqa: E731
        manifest(project, port, tokens, pinggy.port, **options))
    write()
    first = apply(tmp_path)
    first_urls = up_in(first, "a")

    write(keepalive=45)  # recreate both
    changed = apply(tmp_path)
    assert "a: recreated" in changed.stdout and "b: recreated" in changed.stdout and "restored" not in changed.stdout
    assert up_in(changed, "a") != first_urls  # the new session's URL, not the old one
    # both were up, so each new client took its own session over instead of waiting out the lag
    assert changed.stdout.count(TAKEOVER_REASON) == 2, changed.stdout
    assert refusals(pinggy, tokens["a"]) == 0 and refusals(pinggy, tokens["b"]) == 0

    kept = project_containers(docker_api, project)["a"]["Id"]
    targeted = apply(tmp_path, "--target", "b", "--replace", "b")
    assert "b: recreated" in targeted.stdout and "a:" not in targeted.stdout.replace("PUBLIC", "")
    assert project_containers(docker_api, project)["a"]["Id"] == kept

    write(keepalive=50)  # a saved plan, carried out as reviewed
    assert run_tunnelctl("plan", "--out", str(tmp_path / "saved.plan"), cwd=tmp_path).returncode == 0
    saved = apply(tmp_path, str(tmp_path / "saved.plan"))
    assert "Apply complete: 0 created, 2 recreated, 0 removed." in saved.stdout

    docker_api.stop(project_containers(docker_api, project)["a"]["Id"], timeout=3)  # a crash past the restart policy
    repaired = apply(tmp_path)
    assert "a: recreated" in repaired.stdout and up_in(repaired, "a") and TAKEOVER_REASON not in repaired.stdout
    if lag:  # its client had left: the new one's first logins came while the server still held the token, retried
        assert refusals(pinggy, tokens["a"]) >= 1
    else:
        assert refusals(pinggy, tokens["a"]) == 0

    (tmp_path / "tunnels.yaml").write_text(manifest(project, port, tokens, 1, keepalive=55))  # nothing answers there
    failed = run_tunnelctl("apply", "--auto-approve", "--timeout", "8", "--target", "a", cwd=tmp_path)
    assert failed.returncode == 1
    assert "a: failed to recreate: the new container did not come up" in failed.stdout
    assert "the previous container was restored and runs again" in failed.stdout
    write(keepalive=50)
    def restored_and_healthy():  # the restored client logs in again by itself
        now = status(tmp_path)
        return now if now["a"]["ok"] else None

    now = wait_until(restored_and_healthy, 30, "the restored client logged in again")
    assert now["_exit"] == 0 and now["a"]["ok"] and now["b"]["ok"]
    assert run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


@pytest.fixture
def standin_in_second_engine(second_engine, pinggy, tmp_path):
    """The second engine's host-network containers have a loopback of their own: relay its 127.0.0.1:PORT to the
    stand-in's, so that clients there log in to the same server as clients on the machine's engine."""
    import os
    import signal
    import subprocess

    relay = subprocess.Popen([str(SUPPORT / "netns-relay"), str(second_engine.pid), str(pinggy.port),
                              str(tmp_path / "relay.sock")], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == "ready"
        yield second_engine
    finally:
        os.killpg(relay.pid, signal.SIGKILL)
        relay.wait()


def test_a_move_between_engines_converges_while_the_server_holds_the_token(standin_in_second_engine, pinggy,
                                                                           project, local_server, tmp_path):
    second = standin_in_second_engine
    port, _ = local_server
    tokens = lagged_tokens(pinggy, 2, "m")
    engines = manifest_text("""
        engines:
          laptop: {docker: "unix:///var/run/docker.sock"}
          server: {docker: "$url"}
    """, url=second.url).lstrip("\n")
    try:
        for engine in ("server", "laptop"):
            (tmp_path / "tunnels.yaml").write_text(
                manifest(project, port, tokens, pinggy.port, engines=engines, engine=engine))
            placed = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path)
            assert placed.returncode == 0, placed.stdout + placed.stderr
        assert "laptop/m: moved server → laptop" in placed.stdout and "restored" not in placed.stdout
        assert refusals(pinggy, tokens["m"]) >= 1  # the first login on the laptop came too early, and was retried
        assert status(tmp_path)["m"]["ok"]
        assert project_rows(second.api, project) == []
    finally:
        remove_project(second.api, project)


def test_after_the_server_drops_a_session_status_shows_the_new_url(pinggy, project, local_server, tmp_path):
    port, _ = local_server
    tokens = lagged_tokens(pinggy, 2, "d")
    (tmp_path / "tunnels.yaml").write_text(manifest(project, port, tokens, pinggy.port))
    old = up_in(apply(tmp_path), "d")
    first = pinggy.wait_for_record(tokens["d"], status="active")
    pinggy.drop(tokens["d"])
    new = pinggy.wait_for_record(tokens["d"], newer_than=first, status="active", timeout=30)
    wait_until(lambda: status(tmp_path)["d"]["urls"] == new["urls"], 10, "status showed the new session's URLs")
    assert new["urls"] != old
