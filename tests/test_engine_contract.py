"""The Engine protocol's contract, held to every kind of engine: the in-memory FakeEngine, Docker (the machine's
engine) and Podman (a service of the session's own). The executor, the planner's observation and doctor rely on
exactly these behaviours; a new kind of engine (engine/registry.py) proves itself by passing this file.

Each case gets an engine and a project of its own; whatever it creates is removed afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from conftest import SLEEPER_IMAGE
from provisioner import manifest
from provisioner.desired.labels import SPEC_FORMAT
from provisioner.desired.model import ContainerSpec
from provisioner.desired.specs import desired_specs
from provisioner.engine import Engine
from provisioner.engine.config import EngineConfig
from provisioner.engine.fake import FakeEngine
from provisioner.errors import EngineError

MISSING_IMAGE = "tunnelctl-test/no-such-image:latest"


@pytest.fixture(params=["fake", "docker", "podman"])
def engine(request) -> Iterator[Engine]:
    if request.param == "fake":
        yield FakeEngine(images={SLEEPER_IMAGE: "sha256:" + "1" * 64})
        return
    from provisioner.engine.docker_engine import DockerEngine

    if request.param == "docker":
        request.getfixturevalue("docker_api")  # the machine's engine, found as tunnelctl finds it
        yield DockerEngine(EngineConfig("default"))
    else:
        yield DockerEngine(EngineConfig("podman", docker=request.getfixturevalue("podman")))


@pytest.fixture
def project(engine) -> Iterator[str]:
    """A project of the case's own on its engine, emptied afterwards."""
    name = f"contract-{uuid.uuid4().hex[:8]}"
    yield name
    for container in engine.observe(name).owned:
        engine.remove(container.id)


def specs(tmp_path, project: str, *tunnels: str, network: str | None = None,
          token: str | None = None) -> dict[str, ContainerSpec]:
    entries = "".join(f"  - {{name: {tunnel}, port: {1000 + index}, image: {SLEEPER_IMAGE}"
                      + (f", network: {network}, host: web" if network else "")
                      + (f", token: {token}, type: tcp" if token else "") + "}\n"
                      for index, tunnel in enumerate(tunnels))
    path = tmp_path / "tunnels.yaml"
    path.write_text(f"version: 1\nproject: {project}\ntunnels:\n{entries}")
    return {spec.tunnel: spec for spec in desired_specs(manifest.load(path, {}))}


def test_a_created_container_is_listed_as_the_projects_with_what_it_was_made_from(engine, project, tmp_path):
    spec = specs(tmp_path, project, "a")["a"]
    container_id = engine.create(spec)
    [seen] = engine.observe(project).owned
    assert (seen.id, seen.name, seen.tunnel, seen.alive) == (container_id, spec.container_name, "a", True)
    assert (seen.spec_hash, seen.spec_version) == (spec.spec_hash, SPEC_FORMAT)
    assert seen.setting_digests == spec.setting_digests
    assert engine.observe(f"other-{project}").owned == ()  # labels select the project's containers only
    every = {container.id: container.project for container in engine.observe(None).owned}  # who else holds a token
    assert every[container_id] == project and seen.project == project
    # the list call made apart (plan/fleet.py makes it while it computes the specs) is what observe would list
    assert engine.observe(project, [spec.container_name], owned=engine.list_owned(project)) == engine.observe(
        project, [spec.container_name])


def test_a_name_is_held_once_and_a_holder_outside_the_project_is_named(engine, project, tmp_path):
    spec = specs(tmp_path, project, "a")["a"]
    engine.create(spec)
    with pytest.raises(EngineError, match="is taken"):
        engine.create(spec)
    stranger = specs(tmp_path, f"x{project}", "a")["a"]
    seen = engine.observe(stranger.project, wanted_names=[spec.container_name])
    assert seen.owned == () and spec.container_name in seen.foreign_names
    assert len(engine.observe(project).owned) == 1


def test_stop_start_and_rename_are_what_the_next_observation_sees(engine, project, tmp_path):
    spec = specs(tmp_path, project, "a")["a"]
    container_id = engine.create(spec)
    engine.stop(container_id)
    [stopped] = engine.observe(project).owned
    assert stopped.state == "exited" and not stopped.alive
    engine.rename(container_id, spec.container_name + "-aside")
    engine.start(container_id)
    [started] = engine.observe(project).owned
    assert (started.name, started.alive) == (spec.container_name + "-aside", True)


def test_removing_is_idempotent_and_gone_containers_are_left_out_of_inspect(engine, project, tmp_path):
    a, b = specs(tmp_path, project, "a", "b").values()
    first, second = engine.create(a), engine.create(b)
    engine.remove(first, stop_first=True)
    engine.remove(first)  # already gone: not an error
    [details] = engine.inspect([first, second])
    assert (details.id, details.tunnel, details.command, details.network) == (second, "b", b.command, "host")
    assert details.state == "running" and details.exit_code is None and details.started_at
    assert [container.tunnel for container in engine.observe(project).owned] == ["b"]


def test_logs_are_text_and_bounded_by_the_tail_even_for_a_gone_container(engine, project, tmp_path):
    container_id = engine.create(specs(tmp_path, project, "a")["a"])
    assert isinstance(engine.logs(container_id, 5), str)
    engine.remove(container_id)
    assert engine.logs(container_id, "all") == ""


def test_images_and_networks_the_specs_need_are_looked_up(engine, project, tmp_path):
    seen = engine.observe(project, images=[SLEEPER_IMAGE], networks=["host", "bridge", f"net-{project}"])
    assert set(seen.image_ids) == {SLEEPER_IMAGE}
    assert seen.missing_networks == {f"net-{project}"}  # the built-in networks are never missing
    assert engine.has_image(SLEEPER_IMAGE) and not engine.has_image(MISSING_IMAGE)


def test_a_container_on_a_missing_network_is_refused_and_leaves_nothing(engine, project, tmp_path):
    spec = specs(tmp_path, project, "a", network=f"net-{project}")["a"]
    with pytest.raises(EngineError):
        engine.create(spec)
    assert engine.observe(project).owned == ()


def test_every_driver_names_the_schema_its_manifest_entries_follow():
    from provisioner.engine.registry import DRIVERS
    from provisioner.manifest.schema import manifest_schema

    schema = manifest_schema()
    for driver in DRIVERS:
        node = schema
        for part in driver.schema.removeprefix("#/").split("/"):
            node = node[part]
        assert node["type"] == "object" and node["properties"], driver.name
    assert schema["properties"]["engines"]["additionalProperties"]["$ref"] in {driver.schema for driver in DRIVERS}


def test_skipping_a_back_off_leaves_a_running_or_gone_container_alone(engine, project, tmp_path):
    container_id = engine.create(specs(tmp_path, project, "a")["a"])
    engine.skip_back_off(container_id)
    [seen] = engine.observe(project).owned
    assert (seen.id, seen.alive) == (container_id, True)
    engine.remove(container_id)
    engine.skip_back_off(container_id)  # gone: not an error
    assert engine.observe(project).owned == ()


def test_a_file_nothing_can_read_is_none_not_an_error(engine, project, tmp_path):
    """The sleeper image holds neither `tail` nor `node`; a stopped container has nothing to run them in."""
    container_id = engine.create(specs(tmp_path, project, "a")["a"])
    assert engine.read_file(container_id, "/tmp/no-such-file.log", 4096) is None
    engine.stop(container_id)
    assert engine.read_file(container_id, "/tmp/no-such-file.log", 4096) is None


def test_a_login_file_is_written_before_the_first_start_and_outlives_a_restart(engine, project, tmp_path):
    """An OpenSSH-based image with a token reads its user from a file (engine/login_file.py), not its arguments."""
    spec = specs(tmp_path, project, "a", token="tok0123456789")["a"]
    assert spec.login_user == "tok0123456789+tcp" and not any("tok0123456789" in word for word in spec.command)
    container_id = engine.create(spec, start=False)
    assert engine.login_user(container_id) == "tok0123456789+tcp"
    engine.start(container_id)
    engine.stop(container_id)
    engine.start(container_id)
    assert engine.login_user(container_id) == "tok0123456789+tcp"
    anonymous = engine.create(specs(tmp_path, project, "b")["b"])
    assert engine.login_user(anonymous) is None  # no token: no file, and its arguments hide nothing
    engine.remove(container_id)
    assert engine.login_user(container_id) is None


def test_a_takeover_forces_once_and_is_known_as_uncommitted_until_committed(engine, project, tmp_path):
    spec = specs(tmp_path, project, "a", token="tok0123456789")["a"]
    if not engine.kind.updates_restart_policy:  # Podman 4's Docker API: no `docker update`
        with pytest.raises(EngineError, match="restart policy"):
            engine.create_takeover(spec)
        assert engine.observe(project).owned == ()
        return
    container_id = engine.create_takeover(spec)
    [made] = engine.observe(project).owned
    assert (made.name, made.takeover_uncommitted) == (spec.container_name + "-takeover", True)
    assert engine.login_user(container_id) == "tok0123456789+tcp+force"
    engine.commit_takeover(container_id, spec)
    [committed] = engine.observe(project).owned
    assert (committed.name, committed.takeover_uncommitted, committed.alive) == (spec.container_name, False, True)
    assert engine.login_user(container_id) == "tok0123456789+tcp"
    engine.rename(container_id, spec.container_name + "-replaced")  # as a later replacement puts it aside
    assert not engine.observe(project).owned[0].takeover_uncommitted


def test_a_running_containers_restart_policy_changes_and_the_one_it_had_is_returned(engine, project, tmp_path):
    """What a takeover does to the old container (run/executor.py): `no` while the new one takes its session over,
    its own back if the new one fails."""
    spec = specs(tmp_path, project, "a")["a"]
    container_id = engine.create(spec)
    if not engine.kind.updates_restart_policy:  # Podman 4's Docker API has no update route: replaced as usual
        with pytest.raises(EngineError, match="refused changing the restart policy of container"):
            engine.set_restart_policy(container_id, "no")
        return
    assert engine.set_restart_policy(container_id, "no") == spec.restart_policy
    assert engine.set_restart_policy(container_id, spec.restart_policy) == "no"
    [seen] = engine.observe(project).owned
    assert seen.alive
