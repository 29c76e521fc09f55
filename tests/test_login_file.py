"""An OpenSSH-based client's login user in a file of its container (engine/login_file.py), not in its arguments; and
the one-shot forced login through that file (Engine.create_takeover, commit_takeover). The engines' side is in
tests/test_engine_contract.py; here: the specs, the file, what reads the token, and a real client on the stand-in."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import pytest

from provisioner import manifest
from provisioner.desired.specs import container_spec, desired_specs, secrets_in_command
from provisioner.engine import login_file
from provisioner.engine.config import EngineConfig
from provisioner.engine.docker_engine import DockerEngine
from provisioner.engine.fake import FakeEngine
from provisioner.observe.status import container_secrets, gather
from provisioner.plan.kinds import RECREATE
from provisioner.plan.planner import plan

OPENSSH = "tunnelctl-test/pinggy-ssh:latest"


def loaded(write_manifest, body: str):
    return manifest.load(write_manifest(textwrap.dedent("""
        version: 1
        project: p
        tunnels:
    """) + textwrap.indent(textwrap.dedent(body), "  ")), {})


def spec_of(write_manifest, body: str):
    return container_spec("p", loaded(write_manifest, body).tunnels[0])


def test_an_openssh_client_with_a_token_names_no_user_in_its_arguments(write_manifest):
    spec = spec_of(write_manifest, f"- {{name: t, port: 5432, token: tok0123456789, type: tcp, image: {OPENSSH}}}")
    assert spec.login_user == "tok0123456789+tcp"
    assert list(spec.command) == ["-p", "443", "-R0:127.0.0.1:5432", "-F", login_file.CONFIG, "-o",
                                  "StrictHostKeyChecking=no", "-o", "ServerAliveInterval=30", "-t", "pro.pinggy.io"]
    forced = spec_of(write_manifest, f"- {{name: t, port: 1, token: tok0123456789, force: true, image: {OPENSSH}}}")
    assert forced.login_user == "tok0123456789+force"  # `force: true` forces at every login, as it always did


def test_pinggys_cli_reads_its_token_from_its_conf_file_and_anonymous_tunnels_keep_their_arguments(write_manifest):
    cli = spec_of(write_manifest, "- {name: t, port: 1, token: tok0123456789, type: tcp, force: true}")
    assert cli.login_user is None and cli.cli_config == '{"token": "tok0123456789", "force": true}\n'
    assert list(cli.command[3:]) == ["--conf", login_file.CLI_CONFIG, "--type", "tcp", "-o", "StrictHostKeyChecking=no",
                                     "-o", "ServerAliveInterval=30", "-t", "pro.pinggy.io"]
    assert not any("tok0123456789" in word for word in cli.command)
    anonymous = spec_of(write_manifest, f"- {{name: t, port: 1, type: tcp, image: {OPENSSH}}}")
    assert (anonymous.login_user, anonymous.cli_config) == (None, None)
    assert anonymous.command[-1] == "tcp@free.pinggy.io"
    assert spec_of(write_manifest, "- {name: t, port: 1, type: tcp}").command[-1] == "tcp@free.pinggy.io"


def test_a_new_token_still_recreates_the_container(write_manifest):
    """The argv no longer holds the token; the spec hash holds the file instead."""
    first, second = (spec_of(write_manifest, f"- {{name: t, port: 1, token: {token}, image: {OPENSSH}}}")
                     for token in ("tok0123456789", "tok9876543210"))
    assert first.command == second.command and first.spec_hash != second.spec_hash


def test_the_file_names_the_user_first_and_keeps_the_systems_config():
    assert login_file.config_text("tok+tcp") == "User tok+tcp\nInclude /etc/ssh/ssh_config\n"
    assert login_file.forced("tok+tcp") == "tok+tcp+force" and login_file.forced("tok+force") == "tok+force"
    assert login_file.file_in_archive(login_file.archive(login_file.contents("tok+tcp", None), 4321)) == \
        login_file.config_text("tok+tcp")
    assert login_file.user_in(login_file.config_text("tok+tcp")) == "tok+tcp"
    assert login_file.user_in(login_file.cli_config_text("tok", force=False)) == "tok"


@pytest.mark.parametrize("image_user, uid", [("", 0), ("4321", 4321), ("4321:99", 4321), ("pinggy", 1000),
                                             ("pinggy:staff", 1000), ("nobody", None)])
def test_the_file_belongs_to_the_user_the_image_runs_as(image_user, uid):
    passwd = "root:x:0:0:root:/root:/bin/sh\npinggy:x:1000:1000::/home/pinggy:/bin/sh\n"
    assert login_file.uid_of(image_user, passwd) == uid


def test_logs_and_status_mask_the_token_of_the_login_file_when_the_manifest_cannot_tell_it(write_manifest):
    manifest_ = loaded(write_manifest, f"- {{name: t, port: 1, token: tok0123456789, image: {OPENSSH}}}")
    spec = container_spec("p", manifest_.tunnels[0])
    engine = FakeEngine(images={OPENSSH: "sha256:1"})
    container = engine.run(spec)
    container.print("Login is not allowed: A tunnel with the same token tok0123456789 is already active.")
    [details] = engine.inspect([container.id])
    assert secrets_in_command(details.command) == set()
    assert container_secrets(engine, details) == {"tok0123456789"}
    [status] = gather(engine, "p", manifest_.tunnels)
    assert "tok0123456789" in status.problem and "tok0123456789" in status.command_secrets


def test_an_uncommitted_takeover_is_never_kept_nor_restored_only_removed(write_manifest):
    """Killed between create_takeover and commit_takeover: its file still says +force."""
    spec = spec_of(write_manifest, f"- {{name: t, port: 1, token: tok0123456789, image: {OPENSSH}}}")
    engine = FakeEngine(images={OPENSSH: "sha256:1"})
    engine.create_takeover(spec)
    [action] = plan("p", [spec], engine.observe("p")).actions
    assert action.kind == RECREATE and action.replaces[0].takeover_uncommitted
    assert any("takeover" in reason and "+force" in reason for reason in action.reasons)
    from provisioner.run.executor import execute

    made = len(engine.calls)
    [outcome] = execute(plan("p", [spec], engine.observe("p")), engine, lambda outcome: None)
    assert not outcome.failed
    [container] = engine.containers.values()
    assert container.name == spec.container_name and engine.login_user(container.id) == "tok0123456789"
    assert engine.calls[made:] == [("stop", "p-t-takeover"), ("remove", "p-t-takeover"), ("create", "p-t"),
                                   ("start", "p-t")]


# On a real engine, against the OpenSSH stand-in (its records say each login's user and whether it forced).

def standin_tunnel(write_manifest, project: str, token: str, port: int, image: str = OPENSSH):
    from standin import fixture

    path = write_manifest(textwrap.dedent(f"""
        version: 1
        project: {project}
        tunnels:
          - {{name: web, port: {port}, image: "{image}", server: 127.0.0.1, server_port: {fixture.DEFAULT_PORT},
             token: "{{{{ env.LOGIN_TOKEN }}}}", allow_cidrs: [127.0.0.0/8]}}
    """))
    [spec] = desired_specs(manifest.load(path, {"LOGIN_TOKEN": token}))
    return path, spec


def new_standin_token(pinggy, release_lag: float) -> str:
    import uuid

    token = "login" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    pinggy.configure_token(token, release_lag=release_lag)
    return token


def logins(pinggy, token: str) -> list[tuple[str, str]]:
    """(user, status) of each of the token's sessions, oldest first."""
    return [(record["user"], record["status"]) for record in pinggy.records(token)]


def test_a_real_client_logs_in_with_the_files_user_and_its_arguments_hold_no_token(
        docker_api, pinggy, project, listening_port, write_manifest):
    token = new_standin_token(pinggy, release_lag=0)
    _, spec = standin_tunnel(write_manifest, project, token, listening_port)
    engine = DockerEngine(EngineConfig("default"))
    container_id = engine.create(spec)
    assert pinggy.wait_for_record(token, status="active")["user"] == token
    info = docker_api.inspect_container(container_id)
    assert token not in json.dumps(info["Args"]) + json.dumps(info["Config"]["Cmd"])
    [volume] = [mount for mount in info["Mounts"] if mount["Destination"] == login_file.FOLDER]
    file = Path(volume["Source"]) / "ssh_config"
    assert (file.stat().st_mode & 0o777, file.stat().st_uid) == (0o400, 0)
    assert "Permanently added" in docker_api.logs(container_id).decode()  # known_hosts in the /root tmpfs, as before
    engine.remove(container_id, stop_first=True)
    assert not Path(volume["Source"]).exists()  # removed with the container


def test_an_image_that_runs_as_another_user_reads_its_login_file(docker_api, pinggy, project, listening_port,
                                                                 write_manifest):
    """The file is the image's user's (0400): ssh runs as that user, and it is no one else's business."""
    import io
    import tarfile
    import uuid

    image = f"tunnelctl-test/ssh-as-user-{uuid.uuid4().hex[:8]}:latest"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in (("Dockerfile", f"FROM {OPENSSH}\nCOPY passwd /etc/passwd\nUSER pinggy\n"),
                           ("passwd", "root:x:0:0:root:/root:/bin/sh\npinggy:x:4321:4321::/root:/bin/sh\n")):
            entry = tarfile.TarInfo(name)
            entry.size = len(text.encode())
            tar.addfile(entry, io.BytesIO(text.encode()))
    for _ in docker_api.build(fileobj=io.BytesIO(context.getvalue()), custom_context=True, tag=image, rm=True,
                              decode=True):
        pass
    try:
        token = new_standin_token(pinggy, release_lag=0)
        _, spec = standin_tunnel(write_manifest, project, token, listening_port, image=image)
        engine = DockerEngine(EngineConfig("default"))
        container_id = engine.create(spec)
        assert pinggy.wait_for_record(token, status="active")["user"] == token
        [volume] = [mount for mount in docker_api.inspect_container(container_id)["Mounts"]
                    if mount["Destination"] == login_file.FOLDER]
        assert (Path(volume["Source"]) / "ssh_config").stat().st_uid == 4321
        engine.remove(container_id, stop_first=True)
    finally:
        docker_api.remove_image(image, force=True)


def test_a_takeover_forces_its_first_login_only(docker_api, pinggy, project, listening_port, write_manifest):
    """The old session is ours; the new client kicks it at once (lag 2 s) and, once committed, logs in without
    +force after a drop and after a restart."""
    token = new_standin_token(pinggy, release_lag=2)
    _, spec = standin_tunnel(write_manifest, project, token, listening_port)
    engine = DockerEngine(EngineConfig("default"))
    old = engine.create(spec)
    first = pinggy.wait_for_record(token, status="active")
    engine.rename(old, spec.container_name + "-replaced")
    new = engine.create_takeover(spec)
    forced = pinggy.wait_for_record(token, newer_than=first, status="active")
    assert forced["user"] == token + "+force"
    pinggy.wait_for_status(first, "kicked")
    assert docker_api.inspect_container(new)["HostConfig"]["RestartPolicy"]["Name"] == "no"
    engine.remove(old, stop_first=True)
    engine.commit_takeover(new, spec)
    info = docker_api.inspect_container(new)
    assert (info["Name"], info["HostConfig"]["RestartPolicy"]["Name"]) == ("/" + spec.container_name, "unless-stopped")
    assert engine.login_user(new) == token

    pinggy.drop(token)  # the server ends the session: Docker runs ssh again, which reads the file again
    after_drop = pinggy.wait_for_record(token, newer_than=forced, status="active")
    docker_api.restart(new, timeout=3)
    after_restart = pinggy.wait_for_record(token, newer_than=after_drop, status="active", timeout=30)
    assert after_drop["user"] == after_restart["user"] == token
    assert [user for user, _ in logins(pinggy, token)].count(token + "+force") == 1
    engine.remove(new, stop_first=True)


def test_killed_between_create_and_commit_it_never_forces_twice(docker_api, pinggy, project, listening_port,
                                                                write_manifest, tmp_path):
    """The process dies in commit_takeover, after the file lost +force but before the restart policy and the name:
    a dropped session leaves the container exited (restart `no`), and the next apply replaces it, never starts it."""
    import signal
    import subprocess
    import sys

    from conftest import REPO, run_tunnelctl, wait_until

    token = new_standin_token(pinggy, release_lag=2)
    path, spec = standin_tunnel(write_manifest, project, token, listening_port)
    engine = DockerEngine(EngineConfig("default"))
    new = engine.create_takeover(spec)
    forced = pinggy.wait_for_record(token, status="active")
    committing = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            from pathlib import Path
            from provisioner import manifest
            from provisioner.desired.specs import desired_specs
            from provisioner.engine.config import EngineConfig
            from provisioner.engine.docker_engine import DockerEngine
            [spec] = desired_specs(manifest.load(Path({str(path)!r}), {{"LOGIN_TOKEN": {token!r}}}))
            DockerEngine(EngineConfig("default")).commit_takeover({new!r}, spec)
        """)], cwd=REPO, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "TUNNELCTL_TEST_PAUSE_AT": "takeover-login-rewritten"})
    assert committing.stderr is not None
    said = committing.stderr.readline()
    assert "paused at takeover-login-rewritten" in said, said + committing.stderr.read()
    committing.send_signal(signal.SIGKILL)
    committing.wait()

    [seen] = engine.observe(project).owned
    assert seen.takeover_uncommitted and seen.name == spec.container_name + "-takeover"
    pinggy.drop(token)
    wait_until(lambda: docker_api.inspect_container(new)["State"]["Status"] == "exited", 15, "the client to exit")
    time.sleep(1)
    assert docker_api.inspect_container(new)["State"]["Status"] == "exited"  # restart `no`: Docker left it

    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env={"LOGIN_TOKEN": token})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "take the token over" in applied.stdout
    pinggy.wait_for_record(token, newer_than=forced, status="active")
    [replacement] = engine.observe(project).owned
    assert (replacement.name, replacement.takeover_uncommitted) == (spec.container_name, False)
    assert [user for user, _ in logins(pinggy, token)].count(token + "+force") == 1


def test_a_recreate_of_an_openssh_tunnel_takes_its_own_session_over_without_an_outage(
        docker_api, pinggy, project, local_server, tmp_path):
    """At a release lag of 2 s visitors through the edge miss no more than the takeover (a stop-then-start would
    make them wait the lag), and the server saw exactly one forced login: the takeover's."""
    from test_pinggy_real import recreated_while_visited

    from standin import fixture

    port, _ = local_server
    token = new_standin_token(pinggy, release_lag=2)
    env = {"TUNNELCTL_EDGE": pinggy.start_edge(), "LOGIN_TOKEN": token}

    def write(keepalive: int) -> None:  # a changed keepalive recreates the tunnel
        (tmp_path / "tunnels.yaml").write_text(textwrap.dedent(f"""
            version: 1
            project: {project}
            tunnels:
              - {{name: web, port: {port}, image: "{OPENSSH}", server: 127.0.0.1, server_port: {fixture.DEFAULT_PORT},
                 token: "{{{{ env.LOGIN_TOKEN }}}}", keepalive: {keepalive}, allow_cidrs: [127.0.0.0/8]}}
        """))

    old, gap = recreated_while_visited(pinggy, token, tmp_path, env, write)
    assert gap < 1.5  # well under the lag plus a login
    assert pinggy.wait_for_status(old, "kicked")["end_reason"] == "kicked"
    assert logins(pinggy, token) == [(token, "kicked"), (token + "+force", "active")]  # no refusal, one force
    [container] = docker_api.containers(filters={"label": f"io.tunnelctl.project={project}"})
    assert container["Names"] == [f"/{project}-web"]
    assert docker_api.inspect_container(container["Id"])["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
