"""The stand-in is as rough as a real Pinggy server when asked: it holds a token after its client left, answers
slowly, drops sessions (the next login gets a new URL) and refuses unknown tokens. Real containers, real sshd."""

from __future__ import annotations

import re
import textwrap
import uuid

import pytest

from conftest import manifest_text, wait_until
from standin import fixture


@pytest.fixture
def client(docker_api, pinggy):
    """Runs tunnel clients like tunnelctl does (restart policy unless-stopped); removes them afterwards."""
    started = []

    def run(token: str, force: bool = False) -> str:
        container = docker_api.create_container(
            fixture.IMAGE, command=pinggy.ssh_args(token, "127.0.0.1:9", force=force),
            host_config=docker_api.create_host_config(network_mode="host",
                                                      restart_policy={"Name": "unless-stopped"}))
        started.append(container["Id"])
        docker_api.start(container["Id"])
        return container["Id"]

    yield run
    for container_id in started:
        docker_api.remove_container(container_id, force=True)


def new_token(pinggy, **roughness) -> str:
    token = "rough" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    if roughness:
        pinggy.configure_token(token, **roughness)
    return token


def test_a_token_is_held_for_the_release_lag_after_its_client_left(docker_api, pinggy, client):
    token = new_token(pinggy, release_lag=2)
    container_id = client(token)
    first = pinggy.wait_for_record(token, status="active")
    docker_api.stop(container_id, timeout=5)
    closed = pinggy.wait_for_status(first, "closed")
    assert closed["token_released"] == pytest.approx(closed["ended"] + 2, abs=0.01)

    client(token)  # refused while the server holds the token; Docker's restart policy tries again
    refused = pinggy.wait_for_record(token, newer_than=first, status="refused")
    assert refused["refused_by"] == first["record"] and refused["time"] < closed["token_released"]
    second = pinggy.wait_for_record(token, newer_than=first, status="active", timeout=30)
    assert second["time"] >= closed["token_released"]


def test_without_a_lag_the_token_is_free_at_once(docker_api, pinggy, client):
    token = new_token(pinggy, release_lag=0)
    container_id = client(token)
    first = pinggy.wait_for_record(token, status="active")
    docker_api.stop(container_id, timeout=5)
    pinggy.wait_for_status(first, "closed")
    client(token)
    second = pinggy.wait_for_record(token, newer_than=first, timeout=30)
    assert second["status"] == "active"  # the very next login


def test_a_dropped_session_comes_back_with_a_new_url(docker_api, pinggy, client):
    token = new_token(pinggy)
    container_id = client(token)
    first = pinggy.wait_for_record(token, status="active")
    pinggy.drop(token)
    assert pinggy.wait_for_status(first, "dropped")["end_reason"] == "dropped"
    second = pinggy.wait_for_record(token, newer_than=first, status="active", timeout=30)
    assert second["urls"] != first["urls"]  # the server freed the token at once: no refusal in between
    assert [r["status"] for r in pinggy.records(token)] == ["dropped", "active"]
    logs = docker_api.logs(container_id).decode()
    assert "Tunnel closed by the server (session dropped)" in logs and second["urls"][0] in logs


def test_a_session_limit_ends_sessions_and_a_slow_banner_comes_late(docker_api, pinggy, client):
    token = new_token(pinggy, session_limit=2, banner_delay=1)
    client(token)
    first = pinggy.wait_for_record(token, status="active")
    ended = pinggy.wait_for_status(first, "dropped", timeout=10)
    assert ended["end_reason"] == "expired" and ended["ended"] - ended["time"] >= 2
    assert ended["settings"] == {"release_lag": fixture.DEFAULT_RELEASE_LAG, "banner_delay": 1.0,
                                 "session_limit": 2.0}
    assert pinggy.wait_for_record(token, newer_than=first, timeout=30)["urls"] != first["urls"]


def test_an_unknown_token_is_refused(docker_api, pinggy, client):
    container_id = client("unknown" + uuid.uuid4().hex[:8])
    wait_until(lambda: b"Permission denied" in docker_api.logs(container_id), 20, "the client was refused",
               interval=0.1)



def test_fifty_tunnels_created_at_once_all_come_up_through_a_throttling_server(docker_api, project, tmp_path):
    """A burst of logins trips the server's throttling (sshd's MaxStartups, low here): some clients' first
    connections are reset. Docker retries them and apply waits for their newest attempt: all 50 end up."""
    from conftest import project_containers, run_tunnelctl

    throttling = fixture.ensure_running(port=fixture.DEFAULT_PORT + 5, max_startups="3:50:10")
    throttling.add_anonymous()
    throttling.clear_records()
    rows = "".join(manifest_text("- {name: t$number, port: $port, type: tcp}\n", number=f"{index:02d}",
                                 port=20000 + index) for index in range(50))
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: $image, server: 127.0.0.1, server_port: $server_port}
        tunnels:
    """, project=project, image=fixture.IMAGE, server_port=throttling.port).lstrip("\n") + textwrap.indent(rows, "  "))
    applied = run_tunnelctl("apply", "--auto-approve", "--timeout", "120", cwd=tmp_path, timeout=300)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Apply complete: 50 created" in applied.stdout
    up = re.findall(r"^t\d\d\s+up, local server not listening\s+tcp://\S+$", applied.stdout, re.MULTILINE)
    assert len(up) == 50, applied.stdout  # the table: every one up (nothing listens on their ports, so says so)
    restarted = sum(info["RestartCount"] for info in project_containers(docker_api, project).values())
    assert restarted >= 1, "the burst did not trip the throttling: the test proves nothing"
