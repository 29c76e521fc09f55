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
