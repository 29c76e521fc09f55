"""A user's day on a real Docker engine: apply, change, remove, repair, destroy."""

from __future__ import annotations

import textwrap

import pytest

from conftest import SLEEPER_IMAGE, manifest_text, project_containers, run_tunnelctl

SECRETS = {"TOKEN_A": "tokAAAA1111", "TOKEN_B": "tokBBBB2222", "TOKEN_C": "tokCCCC3333", "KEY_A": "keyAAAA9999"}


def day_manifest(project: str, keepalive_b: int = 30, with_c: bool = True) -> str:
    text = """
        version: 1
        project: $project
        defaults:
          image: $image
          https_only: true
        tunnels:
          - name: a
            port: 3845
            token: "{{ env.TOKEN_A }}"
            access_keys: ["{{ env.KEY_A }}"]
          - name: b
            port: 8080
            token: "{{ env.TOKEN_B }}"
            keepalive: $keepalive_b
    """
    if with_c:
        text += """
          - name: c
            port: 9090
            token: "{{ env.TOKEN_C }}"
        """
    return manifest_text(text, project=project, image=SLEEPER_IMAGE, keepalive_b=keepalive_b)


@pytest.fixture
def bystanders(docker_api, project, request):
    """A container tunnelctl does not manage and one of another project, both of which must survive everything."""
    names = [f"{project}-unmanaged", f"{project}-other-project"]
    request.addfinalizer(lambda: remove_containers(docker_api, names))  # before they exist: a failure leaks nothing
    unmanaged = docker_api.create_container(SLEEPER_IMAGE, name=names[0], labels={"app": "other"})
    other = docker_api.create_container(SLEEPER_IMAGE, name=names[1], labels={
        "io.tunnelctl.managed-by": "tunnelctl", "io.tunnelctl.project": f"{project}-other",
        "io.tunnelctl.tunnel": "a"})
    ids = [unmanaged["Id"], other["Id"]]
    for container_id in ids:
        docker_api.start(container_id)
    return ids


def remove_image(docker_api, image: str) -> None:
    import docker

    try:
        docker_api.remove_image(image)
    except docker.errors.ImageNotFound:
        pass


def remove_containers(docker_api, names) -> None:
    import docker

    for name in names:
        try:
            docker_api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass


def ids_of(containers: dict[str, dict]) -> dict[str, str]:
    return {tunnel: info["Id"] for tunnel, info in containers.items()}


def test_a_users_day(docker_api, project, bystanders, tmp_path):
    manifest = tmp_path / "tunnels.yaml"
    manifest.write_text(day_manifest(project))

    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=SECRETS)
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 3 created, 0 recreated, 0 removed." in applied.stdout

    containers = project_containers(docker_api, project)
    assert sorted(containers) == ["a", "b", "c"]
    a = containers["a"]
    assert a["Name"] == f"/{project}-a"
    assert a["State"]["Running"] is True
    assert a["HostConfig"]["NetworkMode"] == "host"
    assert a["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert a["HostConfig"]["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}
    assert a["Config"]["Cmd"] == ["-p", "443", "-R0:127.0.0.1:3845", "-F", "/run/tunnelctl-login/ssh_config",
                                  "-o", "StrictHostKeyChecking=no", "-o", "ServerAliveInterval=30",
                                  "-t", "pro.pinggy.io", "k:keyAAAA9999", "x:https"]  # the user: its login file
    assert a["Config"]["Labels"]["io.tunnelctl.managed-by"] == "tunnelctl"
    assert a["Config"]["Labels"]["io.tunnelctl.project"] == project
    first_ids = ids_of(containers)

    converged = run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path, env=SECRETS)
    assert converged.returncode == 0
    assert converged.stdout.startswith("No changes.")
    again = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=SECRETS)
    assert again.returncode == 0 and again.stdout.startswith("No changes.")
    assert ids_of(project_containers(docker_api, project)) == first_ids

    manifest.write_text(day_manifest(project, keepalive_b=45))
    changed = run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path, env=SECRETS)
    assert changed.returncode == 2
    assert "-/+ b" in changed.stdout and "keepalive changed" in changed.stdout
    assert "Plan: 0 to create, 1 to recreate, 0 to remove." in changed.stdout
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=SECRETS).returncode == 0
    containers = project_containers(docker_api, project)
    assert "ServerAliveInterval=45" in containers["b"]["Config"]["Cmd"]
    assert containers["b"]["Id"] != first_ids["b"]
    assert (containers["a"]["Id"], containers["c"]["Id"]) == (first_ids["a"], first_ids["c"])

    manifest.write_text(day_manifest(project, keepalive_b=45, with_c=False))
    removal = run_tunnelctl("plan", cwd=tmp_path, env=SECRETS)
    assert "  - c" in removal.stdout and "Plan: 0 to create, 0 to recreate, 1 to remove." in removal.stdout
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=SECRETS).returncode == 0
    assert sorted(project_containers(docker_api, project)) == ["a", "b"]

    docker_api.stop(first_ids["a"], timeout=5)
    repair = run_tunnelctl("plan", "--detailed-exitcode", cwd=tmp_path, env=SECRETS)
    assert repair.returncode == 2
    assert "-/+ a" in repair.stdout and "container is not running (Exited (0)" in repair.stdout
    assert run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=SECRETS).returncode == 0
    assert project_containers(docker_api, project)["a"]["State"]["Running"] is True

    destroyed = run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path)  # no secrets needed to destroy
    assert destroyed.returncode == 0, destroyed.stderr
    assert "2 removed" in destroyed.stdout
    assert project_containers(docker_api, project) == {}
    for container_id in bystanders:
        assert docker_api.inspect_container(container_id)["State"]["Running"] is True


def test_a_name_held_by_an_unmanaged_container_blocks_that_tunnel_only(docker_api, project, request, tmp_path):
    request.addfinalizer(lambda: remove_containers(docker_api, [f"{project}-a"]))
    squatter = docker_api.create_container(SLEEPER_IMAGE, name=f"{project}-a")
    docker_api.start(squatter["Id"])
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: $image}
        tunnels:
          - {name: a, port: 1}
          - {name: b, port: 2}
    """, project=project, image=SLEEPER_IMAGE))
    planned = run_tunnelctl("plan", cwd=tmp_path)
    assert planned.returncode == 1
    assert "  ! a" in planned.stdout
    assert f"taken by container {squatter['Id'][:12]} (not managed by tunnelctl)" in planned.stdout

    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert applied.returncode == 1
    assert "b: created" in applied.stdout
    assert "Apply failed for 1 of 2 tunnels (a)" in applied.stdout
    assert sorted(project_containers(docker_api, project)) == ["b"]
    assert docker_api.inspect_container(squatter["Id"])["State"]["Running"] is True


def test_figma_container_matches_the_hand_typed_docker_run(docker_api, project, request, tmp_path):
    """Run the brief's `docker run` line and tunnelctl's manifest side by side; the engine must hold the same thing.

    Container and image names are this test's own, so that concurrent runs on one machine cannot collide; the image
    is the sleeper under the name `pinggy/pinggy` plays in the brief's line."""
    import subprocess

    from test_specs import FIGMA_DOCKER_RUN, FIGMA_ENV, FIGMA_MANIFEST, in_login_file_form, shell_words

    image, by_hand, ours = f"tunnelctl-test/pinggy-{project}", f"{project}-by-hand", f"{project}-figma-tunnel"
    request.addfinalizer(lambda: remove_image(docker_api, f"{image}:latest"))
    request.addfinalizer(lambda: remove_containers(docker_api, [by_hand, ours]))
    docker_api.tag(SLEEPER_IMAGE, image, "latest")
    words = shell_words(FIGMA_DOCKER_RUN)
    words[words.index("--name") + 1] = by_hand
    words[words.index("pinggy/pinggy")] = image
    subprocess.run(words, check=True, capture_output=True)
    manifest = textwrap.dedent(FIGMA_MANIFEST).replace("project: figma", f"project: {project}")
    manifest = manifest.replace("container_name: figma-tunnel", f"container_name: {ours}\n    image: {image}")
    (tmp_path / "tunnels.yaml").write_text(manifest)
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path, env=FIGMA_ENV)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    mine, theirs = docker_api.inspect_container(ours), docker_api.inspect_container(by_hand)
    # the token is in the container's login file, not its arguments (an OpenSSH-style image: the sleeper)
    assert mine["Config"]["Cmd"] == in_login_file_form(theirs["Config"]["Cmd"], cli=False)
    for section, key in [("Config", "Entrypoint"), ("HostConfig", "NetworkMode"), ("HostConfig", "RestartPolicy")]:
        assert mine[section][key] == theirs[section][key], key
    assert mine["Image"] == theirs["Image"]  # the same image ID
