"""Observing the engine costs the same few API requests whatever the number of tunnels."""

from __future__ import annotations

import textwrap

from conftest import SLEEPER_IMAGE, manifest_text, run_tunnelctl


def count_plan_requests(monkeypatch, path) -> int:
    """Run `plan` in this process and count every HTTP request sent to the engine (a plan reads without docker-py:
    it must not send any request through it either)."""
    import docker

    from provisioner import cli
    from provisioner.engine.raw_api import RawReads

    sent, through_docker_py = [], []
    original_get, original_send = RawReads._get, docker.APIClient.send

    def counting_get(self, path, query=None):
        sent.append(path)
        return original_get(self, path, query)

    def counting_send(self, request, **kwargs):
        through_docker_py.append(request.path_url)
        return original_send(self, request, **kwargs)

    monkeypatch.setattr(RawReads, "_get", counting_get)
    monkeypatch.setattr(docker.APIClient, "send", counting_send)
    assert cli.main(["plan", "-f", str(path)]) == 0
    assert through_docker_py == []
    return len(sent)


def converged_manifest(project: str, directory, count: int):
    lines = "".join(manifest_text("- {name: t$index, port: $port}\n", index=index, port=1000 + index)
                    for index in range(count))
    path = directory / "tunnels.yaml"
    path.write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: $image, allow_cidrs: [127.0.0.0/8]}
        tunnels:
    """, project=project, image=SLEEPER_IMAGE) + textwrap.indent(lines, "  "))
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=directory)
    assert applied.returncode == 0, applied.stderr
    return path


def test_plan_requests_do_not_grow_with_the_number_of_tunnels(docker_api, project, tmp_path, monkeypatch, request):
    """One list call for the containers, one look at the (single) image, one look at what the engine is (Docker
    Desktop needs other networking); 2 tunnels or 30 alike."""
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    request.addfinalizer(lambda: run_tunnelctl("destroy", "--auto-approve", cwd=large))  # before it has containers
    few = count_plan_requests(monkeypatch, converged_manifest(project, small, 2))
    many = count_plan_requests(monkeypatch, converged_manifest(project + "-large", large, 30))
    assert few == many == 3
