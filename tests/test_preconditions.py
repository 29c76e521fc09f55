"""Check before you break: what a change needs is made sure of before the first container is stopped, so a change
that cannot be carried out leaves every running tunnel exactly as it was — same container, same uptime, same URL."""

from __future__ import annotations

import json

from test_engine_errors import registry
from test_tunnels_e2e import PINGGY_IMAGE, STANDIN_PORT, new_token

from conftest import manifest_text, project_containers, run_tunnelctl


def two_tunnels(project: str, image: str) -> str:
    return manifest_text("""
        version: 1
        project: $project
        defaults: {image: "$image", server: 127.0.0.1, server_port: $server_port}
        tunnels:
          - {name: web, port: 18081, token: "{{ env.TOKEN_WEB }}"}
          - {name: api, port: 18082, token: "{{ env.TOKEN_API }}"}
    """, project=project, image=image, server_port=STANDIN_PORT)


def running(docker_api, project: str, tmp_path, env) -> dict[str, tuple[str, str, tuple[str, ...]]]:
    """tunnel → (container id, when it started, its public URLs)."""
    urls = {item["tunnel"]: tuple(item["urls"]) for item in
            json.loads(run_tunnelctl("status", "--json", cwd=tmp_path, env=env).stdout)["tunnels"]}
    return {tunnel: (info["Id"], info["State"]["StartedAt"], urls[tunnel])
            for tunnel, info in project_containers(docker_api, project).items()}


def test_an_image_that_cannot_be_pulled_stops_nothing(pinggy, docker_api, project, tmp_path):
    env = {"TOKEN_WEB": new_token(pinggy), "TOKEN_API": new_token(pinggy)}
    (tmp_path / "tunnels.yaml").write_text(two_tunnels(project, PINGGY_IMAGE))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    before = running(docker_api, project, tmp_path, env)
    assert all(urls for _, _, urls in before.values()), before

    with registry(404) as address:  # a registry that has no such image: the typo the user made
        typo = f"{address}/tunnelctl-test/pinggy-shh:latest"
        (tmp_path / "tunnels.yaml").write_text(two_tunnels(project, typo))
        planned = run_tunnelctl("plan", cwd=tmp_path, env=env)
        failed = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)

    assert "image" in planned.stdout and planned.returncode == 0
    assert failed.returncode == 1
    [error] = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: no image '{typo}' on engine 'default', and the registry {address} has no such "
                            "image, or refuses it without a login (")
    assert error.endswith(f"check the name and tag in `image:`, or log the engine in (docker login {address}); "
                          "nothing was changed")
    assert "failed to" not in failed.stdout and "restored" not in failed.stdout + failed.stderr
    assert running(docker_api, project, tmp_path, env) == before  # same containers, same start, same URLs
