"""Commands that never send a secret work in a terminal where the secrets are not exported; those that do say why."""

from __future__ import annotations

import pytest
from test_tunnels_e2e import new_token, status_of, tunnel_manifest

from conftest import project_rows, run_tunnelctl
from provisioner import manifest
from provisioner.errors import ManifestError

TEMPLATED = """
version: 1
project: team
tunnels:
  - name: figma
    port: "{{ env.FIGMA_PORT }}"
    token: "{{ env.PINGGY_TOKEN }}"
    access_keys: ["{{ env.FIGMA_KEY }}"]
"""


def test_a_read_only_load_leaves_unset_secrets_alone_and_names_them(tmp_path):
    path = tmp_path / "tunnels.yaml"
    path.write_text(TEMPLATED)
    loaded = manifest.load(path, {"FIGMA_PORT": "3845"}, need_secrets=False)
    assert loaded.unset_secrets == {"PINGGY_TOKEN", "FIGMA_KEY"}
    assert loaded.tunnels[0].settings.port == 3845


def test_a_read_only_load_still_needs_what_is_not_secret(tmp_path):
    path = tmp_path / "tunnels.yaml"
    path.write_text(TEMPLATED)
    with pytest.raises(ManifestError) as raised:
        manifest.load(path, {}, need_secrets=False)
    [problem] = raised.value.details
    assert problem.startswith(f"{path}:6:5: tunnels[0].port (tunnel 'figma'): variable 'FIGMA_PORT' is not set")


@pytest.mark.docker
def test_status_logs_and_destroy_work_without_the_secrets_and_plan_says_why_it_needs_them(
        docker_api, pinggy, project, local_server, tmp_path):
    port, _ = local_server
    token = new_token(pinggy)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, name in ((first, "first"), (second, "second")):
        folder.mkdir()
        (folder / "tunnels.yaml").write_text(tunnel_manifest(f"{project}-{name}", port, token, name=name))
    try:
        assert run_tunnelctl("apply", "--auto-approve", cwd=first, env={"E2E_TOKEN": token}).returncode == 0
        # The second project's login is refused, and Pinggy's refusal quotes the token: output must still mask it.
        run_tunnelctl("apply", "--auto-approve", "--timeout", "15", cwd=second, env={"E2E_TOKEN": token})

        assert status_of(first, {})["first"]["ok"] is True  # E2E_TOKEN is not set from here on
        refused = run_tunnelctl("status", cwd=second)
        assert refused.returncode == 3
        unwrapped = " ".join(line.strip() for line in refused.stdout.splitlines())  # status wraps its reasons
        assert "A tunnel with the same token (sensitive) is already active" in unwrapped
        logs = run_tunnelctl("logs", "second", cwd=second)
        assert logs.returncode == 0 and "(sensitive)" in logs.stdout
        for result in (refused, logs):
            assert token not in result.stdout + result.stderr

        planned = run_tunnelctl("plan", cwd=first)
        assert planned.returncode == 1
        assert planned.stderr.splitlines()[0] == (
            "tunnels.yaml:11:5: tunnels[0].token (tunnel 'first'): variable 'E2E_TOKEN' is not set (looked in the "
            "environment; there is no ./.env): set it in the environment or a .env file kept out of git (plan "
            "compares a hash of each secret with the running container's and cannot without its value; status, logs "
            "and destroy need no secrets)")
        applied = run_tunnelctl("apply", "--auto-approve", cwd=first)
        assert applied.returncode == 1 and "(apply sends it to Pinggy; " in applied.stderr
    finally:
        for folder in (first, second):
            assert run_tunnelctl("destroy", "--auto-approve", cwd=folder).returncode == 0
    assert project_rows(docker_api, f"{project}-first") == []
