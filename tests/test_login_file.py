"""An OpenSSH-based client's login user in a file of its container (engine/login_file.py), not in its arguments; and
the one-shot forced login through that file (Engine.create_takeover, commit_takeover). The engines' side is in
tests/test_engine_contract.py; here: the specs, the file, what reads the token, and a real client on the stand-in."""

from __future__ import annotations

import textwrap

import pytest

from provisioner import manifest
from provisioner.desired.specs import container_spec, secrets_in_command
from provisioner.engine import login_file
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


def test_pinggys_cli_and_anonymous_tunnels_keep_their_arguments(write_manifest):
    cli = spec_of(write_manifest, "- {name: t, port: 1, token: tok0123456789}")  # pinggy/pinggy: T's launcher
    anonymous = spec_of(write_manifest, f"- {{name: t, port: 1, type: tcp, image: {OPENSSH}}}")
    assert cli.login_user is None and cli.command[-1] == "tok0123456789@pro.pinggy.io"
    assert anonymous.login_user is None and anonymous.command[-1] == "tcp@free.pinggy.io"


def test_a_new_token_still_recreates_the_container(write_manifest):
    """The argv no longer holds the token; the spec hash holds the file instead."""
    first, second = (spec_of(write_manifest, f"- {{name: t, port: 1, token: {token}, image: {OPENSSH}}}")
                     for token in ("tok0123456789", "tok9876543210"))
    assert first.command == second.command and first.spec_hash != second.spec_hash


def test_the_file_names_the_user_first_and_keeps_the_systems_config():
    assert login_file.config_text("tok+tcp") == "User tok+tcp\nInclude /etc/ssh/ssh_config\n"
    assert login_file.forced("tok+tcp") == "tok+tcp+force" and login_file.forced("tok+force") == "tok+force"
    assert login_file.file_in_archive(login_file.archive("tok+tcp", 4321)) == login_file.config_text("tok+tcp")
    assert login_file.user_in(login_file.config_text("tok+tcp")) == "tok+tcp"


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
