"""What a person sees in a real terminal (tmux, 80 columns): status that fits, --watch redrawn in place until
Ctrl-C, and plain lines when the output is not a terminal."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from terminal import Terminal
from test_tunnels_e2e import new_token, tunnel_manifest

from conftest import project_containers, run_tunnelctl

LONG_NAME = "figma-design-system-mcp"


def up(pinggy, docker_api, project, tmp_path, local_server) -> dict[str, str]:
    port, _ = local_server
    env = {"E2E_TOKEN": new_token(pinggy)}
    (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, "unused", name=LONG_NAME,
                                                           extra="https_only: true\nmcp: true\n"))
    applied = run_tunnelctl("apply", "--auto-approve", cwd=tmp_path, env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return env


def test_status_fits_80_columns_lists_only_the_serving_url_and_says_why_a_stopped_tunnel_is_down(
        pinggy, docker_api, project, tmp_path, local_server):
    env = up(pinggy, docker_api, project, tmp_path, local_server)
    with Terminal("status", cwd=tmp_path, env=env) as terminal:
        assert terminal.exit_code() == 0
        lines = terminal.lines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    urls = [line.strip() for line in lines if "://" in line and not line.strip().startswith("MCP:")]
    assert len(urls) == 1 and urls[0].startswith("https://"), lines  # https_only: the http URL only redirects
    assert any(line.strip().startswith("MCP: https://") and line.endswith("/mcp") for line in lines)

    docker_api.stop(project_containers(docker_api, project)[LONG_NAME]["Id"], timeout=5)
    with Terminal("status", cwd=tmp_path, env=env) as terminal:
        assert terminal.exit_code() == 3
        lines = terminal.lines()
    assert all(len(line) <= 80 for line in lines), "\n".join(lines)
    [why] = [line for line in lines if line.strip().startswith("why:")]
    assert "://" not in why and "exited with code" in why, lines


def test_status_watch_redraws_in_place_until_ctrl_c(pinggy, docker_api, project, tmp_path, local_server):
    env = up(pinggy, docker_api, project, tmp_path, local_server)
    with Terminal("status", "--watch", cwd=tmp_path, env=env) as terminal:
        terminal.wait_for("Ctrl-C to stop")
        assert "up " in terminal.wait_for(LONG_NAME)
        docker_api.stop(project_containers(docker_api, project)[LONG_NAME]["Id"], timeout=5)
        shown = terminal.wait_for("exited", timeout=30)
        assert shown.count("Project '") == 1  # drawn over the last one, not below it
        assert all(len(line) <= 80 for line in shown.splitlines()), shown
        terminal.press("C-c")
        assert terminal.exit_code() == 0
        assert "Traceback" not in terminal.screen()


def test_status_watch_without_a_terminal_prints_plain_status_when_it_changes(pinggy, docker_api, project, tmp_path,
                                                                             local_server):
    import os

    env = up(pinggy, docker_api, project, tmp_path, local_server)
    watching = subprocess.Popen([sys.executable, "-m", "provisioner", "status", "--watch"], cwd=tmp_path,
                                env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)  # a couple of refreshes with nothing changed: printed once
    docker_api.stop(project_containers(docker_api, project)[LONG_NAME]["Id"], timeout=5)
    time.sleep(5)
    watching.send_signal(signal.SIGINT)
    out, err = watching.communicate(timeout=30)
    assert watching.returncode == 0, err
    assert "\x1b" not in out
    assert out.count("Project '") == 2, out  # up, then exited: one block per change
    assert "exited" in out.split("Project '")[-1]


def token_held_elsewhere(pinggy, docker_api, project, tmp_path, local_server, request) -> tuple[dict[str, str], Path]:
    """The project's tunnel is refused for as long as a client elsewhere (not tunnelctl's: another machine, say)
    holds the token, and only Pinggy's words say so: apply waits in vain. (A holder of ours is named at once:
    test_tunnels_e2e.)"""
    from standin.fixture import IMAGE

    port, _ = local_server
    token = new_token(pinggy)
    holder = docker_api.create_container(IMAGE, pinggy.ssh_args(token, f"127.0.0.1:{port}", force=False),
                                         host_config=docker_api.create_host_config(network_mode="host"),
                                         labels={"io.tunnelctl.test": project})
    request.addfinalizer(lambda: docker_api.remove_container(holder, force=True))
    docker_api.start(holder)
    pinggy.wait_for_record(token, status="active")
    second = tmp_path / "second"
    second.mkdir()
    (second / "tunnels.yaml").write_text(tunnel_manifest(project, port, "unused", name="second"))
    return {"E2E_TOKEN": token}, second


def test_apply_shows_progress_with_elapsed_time_and_pinggys_words_then_the_verdicts_then_the_summary(
        pinggy, docker_api, project, tmp_path, local_server, request):
    env, second = token_held_elsewhere(pinggy, docker_api, project, tmp_path, local_server, request)
    try:
        with Terminal("apply", "--auto-approve", "--timeout", "12", cwd=second, env=env) as terminal:
            waiting = terminal.wait_for("elapsed] Pinggy: ", timeout=30)
            [progress] = [line for line in waiting.splitlines() if "elapsed]" in line]
            assert progress.startswith("second: starting [") and "Login is not allowed" in progress
            assert len(progress) <= 80
            assert terminal.exit_code() == 1
            lines = [line for line in terminal.lines() if line.strip()]
            coloured = terminal.screen(colours=True)
        assert not any("elapsed]" in line for line in lines)  # the progress gave way to the verdicts
        assert sum("Pinggy refused the login" in line for line in lines) == 1  # each reason once
        table = lines.index(next(line for line in lines if line.startswith("TUNNEL")))
        assert lines[-1].startswith("Apply failed for 1 of 1 tunnels (second); 1 created") and table < len(lines) - 1
        assert lines[-1].endswith("second did not come up.")
        assert "\x1b[31mfailed" in coloured and "\x1b[32mcreated" in coloured  # colours on a terminal

        piped = run_tunnelctl("apply", "--auto-approve", "--timeout", "12", cwd=second, env=env)  # nothing to do now
        assert piped.returncode == 0
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=second)


def test_apply_without_a_terminal_says_still_starting_every_10_seconds_without_colour(
        pinggy, docker_api, project, tmp_path, local_server, request):
    env, second = token_held_elsewhere(pinggy, docker_api, project, tmp_path, local_server, request)
    try:
        applied = run_tunnelctl("apply", "--auto-approve", "--timeout", "12", cwd=second, env=env)
        assert applied.returncode == 1
        lines = [line for line in applied.stdout.splitlines() if line.strip()]
        waited = [int(found[1]) for line in lines
                  if (found := re.match(r"second: starting \[(\d+)s elapsed\] Pinggy: Login is not allowed", line))]
        assert waited and min(waited) >= 10, applied.stdout  # a line every 10 s, not one per look
        assert sum("Pinggy refused the login" in line for line in lines) == 1
        assert lines[-1].startswith("Apply failed for 1 of 1 tunnels (second)")
        assert "\x1b[" not in applied.stdout + applied.stderr
    finally:
        run_tunnelctl("destroy", "--auto-approve", cwd=second)


def test_colour_follows_no_color_the_flag_and_force_color(pinggy, docker_api, project, tmp_path, local_server):
    env = up(pinggy, docker_api, project, tmp_path, local_server)
    for args, extra, coloured in ((["status"], {}, True), (["status"], {"NO_COLOR": "1"}, False),
                                  (["status", "--no-color"], {}, False),
                                  (["status", "--no-color"], {"FORCE_COLOR": "1"}, False)):
        with Terminal(*args, cwd=tmp_path, env={**env, **extra}) as terminal:
            assert terminal.exit_code() == 0
            assert ("\x1b[32mup" in terminal.screen(colours=True)) is coloured, (args, extra)
    assert "\x1b[" not in run_tunnelctl("status", cwd=tmp_path, env=env).stdout  # a pipe: no colour
    forced = run_tunnelctl("status", cwd=tmp_path, env={**env, "FORCE_COLOR": "1"}).stdout
    assert "\x1b[32mup\x1b[0m" in forced
