"""`tunnelctl doctor` against the real engine and the Pinggy stand-in: all clear when all is well, and each failure
named with what to do about it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import textwrap
import threading

import pytest
from test_engine_errors import registry

from conftest import WITHOUT_ROOTS_RIGHTS, manifest_text, run_tunnelctl, socket_of_another_user, wait_until
from standin import fixture

pytestmark = pytest.mark.docker


def write(tmp_path, text: str) -> None:
    (tmp_path / "tunnels.yaml").write_text(textwrap.dedent(text))


def doctor(tmp_path, env: dict | None = None, wrapper: tuple[str, ...] = ()):
    """(exit code, findings by section as 'STATUS subject: message' lines, the plain text)."""
    text = run_tunnelctl("doctor", cwd=tmp_path, env=env, wrapper=wrapper)
    as_json = run_tunnelctl("doctor", "--json", cwd=tmp_path, env=env, wrapper=wrapper)
    document = json.loads(as_json.stdout)
    assert document["format_version"] == 2 and document["manifest"] == "tunnels.yaml"
    assert document["ok"] is (text.returncode == 0) and as_json.returncode == text.returncode
    assert "Traceback" not in text.stdout + text.stderr
    sections: dict[str, list[str]] = {}
    for check in document["checks"]:
        subject = f"{check['subject']}: " if check["subject"] else ""
        sections.setdefault(check["section"], []).append(f"{check['status'].upper()} {subject}{check['message']}")
    return text.returncode, sections, text.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_all_clear_against_the_stand_in(pinggy, local_server, tmp_path):
    port, _ = local_server
    token = "doctor-ok-token"
    write(tmp_path, manifest_text("""
        version: 1
        project: doctor-ok
        defaults: {image: $image, server: 127.0.0.1, server_port: $server_port}
        tunnels:
          - name: mcp
            port: $port
            token: "{{ env.PINGGY_TOKEN }}"
            access_keys: ["{{ env.MCP_KEY }}"]
    """, image=fixture.IMAGE, server_port=fixture.DEFAULT_PORT, port=port))
    (tmp_path / ".env").write_text(f"PINGGY_TOKEN={token}\nMCP_KEY={'ab12' * 16}\n")
    code, sections, text = doctor(tmp_path)
    assert code == 0, text
    assert sections["Manifest"] == [
        "OK tunnels.yaml: valid, every variable set; project 'doctor-ok', 1 tunnel",
        f"OK .env: read {tmp_path.resolve() / '.env'} (the process environment wins over it)"]
    [engine] = sections["Engines"]
    assert engine.startswith("OK default: Docker 2") and "tunnelctl uses 1.41" in engine
    assert sections["Images"] == [f"OK {fixture.IMAGE} on default: present"]
    [server] = sections["Pinggy servers"]
    assert server.startswith(f"OK 127.0.0.1:{fixture.DEFAULT_PORT}: an SSH server answers (SSH-2.0-OpenSSH")
    assert sections["Local ports"] == [f"OK mcp → 127.0.0.1:{port}: something listens there"]
    assert text.rstrip().endswith("All 6 checks passed.")
    assert token not in text and "ab12ab12" not in text
    assert pinggy.records(token) == []  # the server was asked for its banner, never logged into


@contextlib.contextmanager
def speaker(first_line: bytes):
    """A loopback TCP server that greets every connection with `first_line`: what a proxy in the way looks like."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(first_line)

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_each_broken_part_is_named_with_its_fix(docker_api, tmp_path):
    closed = free_port()
    with registry(404) as missing, registry(401, {"WWW-Authenticate": 'Basic realm="team"'}) as private, \
            speaker(b"HTTP/1.1 400 Bad Request\r\n\r\n") as proxy:
        write(tmp_path, manifest_text("""
            version: 1
            project: doctor-broken
            defaults: {token: t0ken, force: true, allow_cidrs: [127.0.0.1/32]}
            tunnels:
              - {name: typo, port: $closed, image: "$missing/pinggy/pinggy:typo", server: 127.0.0.1,
                 server_port: $closed}
              - {name: offline, port: $closed, image: registry.invalid/pinggy/pinggy, server: pinggy.invalid}
              - {name: private, port: $closed, image: "$private/team/pinggy:1", server: 127.0.0.1,
                 server_port: $proxy}
        """, closed=closed, missing=missing, private=private, proxy=proxy))
        code, sections, text = doctor(tmp_path)
    assert code == 1
    assert sections["Manifest"][0] == "OK tunnels.yaml: valid, every variable set; project 'doctor-broken', 3 tunnels"
    images = sections["Images"]
    assert len(images) == 3 and all(line.startswith("FAIL ") for line in images)
    [typo] = [line for line in images if line.startswith(f"FAIL {missing}/")]
    assert f"not present, and cannot pull image '{missing}/pinggy/pinggy:typo': the registry {missing} has no such " \
           "image, or refuses it without a login" in typo and typo.endswith(f"(docker login {missing})")
    [offline] = [line for line in images if "registry.invalid" in line]
    assert "cannot reach the registry registry.invalid" in offline and "load the image another way" in offline
    [login] = [line for line in images if line.startswith(f"FAIL {private}/")]
    assert f"or log the engine in (docker login {private})" in login
    assert sorted(sections["Pinggy servers"]) == sorted([
        f"FAIL 127.0.0.1:{closed}: 127.0.0.1 refuses connections on port {closed}: check `server_port:`",
        f"FAIL 127.0.0.1:{proxy}: something that is not an SSH server answered ('HTTP/1.1 400 Bad Request'): a proxy "
        f"or captive portal may intercept port {proxy}",
        "FAIL pinggy.invalid:443: this machine cannot resolve pinggy.invalid: check `server:`/`region:` in the "
        "manifest, or the network (offline, VPN, DNS)"])
    assert sections["Local ports"][0] == (
        f"FAIL typo → 127.0.0.1:{closed}: nothing listens there: start the local server (apply still creates the "
        "tunnel; it serves once the server is up)")
    assert text.rstrip().endswith(" checks failed.") and "\n9 of " in text


def test_an_unset_variable_is_named_and_the_other_checks_still_run(tmp_path):
    write(tmp_path, manifest_text("""
        version: 1
        tunnels:
          - name: figma
            port: 3845
            image: $image
            token: "{{ env.DOCTOR_NEVER_SET_TOKEN }}"
            allow_cidrs: [127.0.0.1/32]
    """, image=fixture.IMAGE))
    code, sections, _ = doctor(tmp_path)
    assert code == 1
    assert sections["Manifest"][0].startswith("FAIL tunnels.yaml:7:5: tunnels[0].token (tunnel 'figma'): variable "
                                              "'DOCTOR_NEVER_SET_TOKEN' is not set (looked in the environment; there "
                                              "is no ./.env): set it in the environment or a .env file kept out of git")
    assert sections["Images"] == [f"OK {fixture.IMAGE} on default: present"]


def test_a_manifest_that_cannot_load_stops_there(tmp_path):
    write(tmp_path, "version: 1\ntunnels:\n  - {name: a, port: 70000}\n")
    code, sections, _ = doctor(tmp_path)
    assert code == 1
    assert sections["Manifest"][0] == "FAIL tunnels.yaml:3:15: tunnels[0].port (tunnel 'a'): 70000 is greater than " \
                                      "the maximum of 65535"
    assert sections["Engines"] == sections["Local ports"] == ["SKIP not checked: the manifest must load first"]


def engine_failure(tmp_path, env: dict, wrapper: tuple[str, ...] = ()) -> str:
    write(tmp_path, "version: 1\ntunnels:\n  - {name: a, port: 3845, allow_cidrs: [127.0.0.1/32]}\n")
    code, sections, _ = doctor(tmp_path, env=env, wrapper=wrapper)
    assert code == 1
    assert sections["Images"] == ["SKIP pinggy/pinggy:latest on default: engine 'default' could not be checked"]
    assert sections["Local ports"] == ["SKIP a → 127.0.0.1:3845: engine 'default' could not be checked"]
    [engine] = sections["Engines"]
    return engine


def test_a_stopped_engine(tmp_path):
    stopped = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(stopped))
        line = engine_failure(tmp_path, {"DOCKER_HOST": f"unix://{stopped}"})
    assert line == (f"FAIL default: cannot reach the Docker engine at unix://{stopped} (DOCKER_HOST=unix://{stopped}) "
                    "while asking for its version: connection refused; start the engine (dockerd) or point "
                    "DOCKER_HOST at one")


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root needs setpriv to lose its rights")
def test_an_engine_socket_the_user_may_not_open(tmp_path):
    with socket_of_another_user(tmp_path / "docker.sock") as private:
        line = engine_failure(tmp_path, {"DOCKER_HOST": f"unix://{private}"}, WITHOUT_ROOTS_RIGHTS)
    assert line.startswith(f"FAIL default: permission denied on the Docker engine's socket at unix://{private}")
    assert "add your user to the 'docker' group" in line


def test_an_api_version_the_engine_does_not_speak(docker_api, tmp_path):
    maximum = docker_api.version(api_version=False)["ApiVersion"]
    line = engine_failure(tmp_path, {"DOCKER_API_VERSION": "1.99"})
    assert line == (f"FAIL default: the Docker engine at unix:///var/run/docker.sock does not speak Docker API 1.99 "
                    f"(it needs at most {maximum}): set DOCKER_API_VERSION={maximum}, or unset it")


@pytest.fixture
def podman_socket(tmp_path):
    """A Podman API service of this test's own, on a socket in its folder."""
    if not shutil.which("podman"):
        pytest.fail("podman is missing; run scripts/setup")
    path = tmp_path / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{path}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: path.exists() or service.poll() is not None, 30, "podman system service ended or opened "
                   "its socket", interval=0.1)
        assert path.exists(), "podman system service did not open its socket"
        yield path
    finally:
        service.terminate()
        service.wait(timeout=30)


def test_an_engine_that_cannot_ask_a_registry_without_pulling_says_apply_will_pull(podman_socket, tmp_path):
    write(tmp_path, "version: 1\ntunnels:\n  - {name: a, port: 3845, image: registry.invalid/pinggy/pinggy, "
                    "allow_cidrs: [127.0.0.1/32]}\n")
    _, sections, _ = doctor(tmp_path, env={"DOCKER_HOST": f"unix://{podman_socket}"})
    engine, *notes = sections["Engines"]
    assert engine.startswith("OK default: Podman ") and f"at unix://{podman_socket}" in engine
    assert any("podman-restart.service" in note for note in notes)
    assert sections["Images"] == [
        "WARN registry.invalid/pinggy/pinggy on default: not present, and this engine cannot ask a registry without "
        "pulling: apply pulls it (to check now: docker pull registry.invalid/pinggy/pinggy)"]
