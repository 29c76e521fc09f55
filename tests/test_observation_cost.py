"""Observing the engine costs the same few API requests whatever the number of tunnels."""

from __future__ import annotations

import textwrap

import pytest

from conftest import SLEEPER_IMAGE, run_tunnelctl


def count_plan_requests(monkeypatch, path) -> int:
    """Run `plan` in this process and count every HTTP request docker-py sends to the engine."""
    import docker

    from provisioner import cli

    sent = []
    original = docker.APIClient.send

    def counting_send(self, request, **kwargs):
        sent.append(request.path_url)
        return original(self, request, **kwargs)

    monkeypatch.setattr(docker.APIClient, "send", counting_send)
    assert cli.main(["plan", "-f", str(path)]) == 0
    return len(sent)


@pytest.mark.parametrize("count", [2, 30])
def test_plan_makes_one_request_for_any_number_of_tunnels(docker_api, project, tmp_path, monkeypatch, count):
    lines = [f"  - {{name: t{index}, port: {1000 + index}}}" for index in range(count)]
    path = tmp_path / "tunnels.yaml"
    path.write_text(textwrap.dedent(f"""
        version: 1
        project: {project}
        defaults: {{image: {SLEEPER_IMAGE}}}
        tunnels:
    """) + "\n".join(lines) + "\n")
    applied = run_tunnelctl("apply", "--auto-approve", "--no-wait", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert count_plan_requests(monkeypatch, path) == 1
