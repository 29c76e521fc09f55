"""Shared test helpers: writing manifests and running the real `tunnelctl` command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SLEEPER_IMAGE = "tunnelctl-test/sleeper:latest"


def run_tunnelctl(*args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed command the way a user does, capturing every byte it prints."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("TUNNELCTL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "provisioner", *args], cwd=cwd, env=full_env, input=stdin,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def write_manifest(tmp_path: Path):
    def write(text: str, name: str = "tunnels.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path
    return write


@pytest.fixture(scope="session")
def docker_api():
    """The real engine: tests that touch containers fail, loudly, where there is none (scripts/setup starts one)."""
    import docker

    api = docker.APIClient(version="1.41")
    try:
        api.ping()
    except Exception as error:  # any failure here means the same thing to the person running the tests
        pytest.fail(f"no Docker engine answers ({error}); run scripts/setup first")
    try:
        api.inspect_image(SLEEPER_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"image {SLEEPER_IMAGE} is missing; run scripts/build-test-images")
    return api


@pytest.fixture
def project(docker_api, request):
    """A project name of this test's own; its containers are removed afterwards, whatever the test did."""
    import uuid

    name = f"t-{request.node.name[:20].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    yield name
    for row in docker_api.containers(all=True, filters={"label": f"io.tunnelctl.project={name}"}):
        docker_api.remove_container(row["Id"], force=True)


def project_containers(api, project: str) -> dict[str, dict]:
    """tunnel name → `docker inspect` of its container, for the project's containers."""
    rows = api.containers(all=True, filters={"label": f"io.tunnelctl.project={project}"})
    inspected = [api.inspect_container(row["Id"]) for row in rows]
    return {info["Config"]["Labels"]["io.tunnelctl.tunnel"]: info for info in inspected}
