"""The double of Pinggy's CLI itself: it runs where the real CLI runs (a hardened container that may write only its
daemon's folders and /tmp), fails where the real CLI fails, and refuses what the real CLI refuses."""

from __future__ import annotations

import time
import uuid

import pytest

from standin import fixture

# Where Pinggy's CLI 0.5.3 writes (read in its JavaScript): its daemon's state, ~/.config/pinggy (daemon.json), and
# its daemon's log, ~/.local/state/pinggy-cli/logs; a daemon that cannot create both does not start.
WRITABLE = {"/root/.config/pinggy": "size=1m", "/root/.local/state/pinggy-cli": "size=4m", "/tmp": "size=1m"}
HARDENED = {"read_only": True, "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "pids_limit": 16,
            "network_mode": "host"}


def run_double(docker_api, pinggy, arguments: list[str], tmpfs: dict[str, str], wait_for: bytes,
               timeout: float = 20) -> tuple[bytes, dict]:
    """Run the double in a container of its own until its output holds `wait_for` or it exits; (output, state)."""
    name = f"tunnelctl-double-{uuid.uuid4().hex[:8]}"
    container = docker_api.create_container(fixture.CLI_IMAGE, command=arguments, name=name, host_config=(
        docker_api.create_host_config(tmpfs=tmpfs, **HARDENED)))
    try:
        docker_api.start(container)
        deadline = time.monotonic() + timeout
        while True:
            output = docker_api.logs(container)
            state = docker_api.inspect_container(container)["State"]
            if wait_for in output or not state["Running"] or time.monotonic() > deadline:
                return output, state
            time.sleep(0.2)
    finally:
        docker_api.remove_container(container, force=True)


def test_it_comes_up_in_a_hardened_container_writing_only_its_daemons_folders_and_tmp(docker_api, pinggy,
                                                                                       local_server):
    port, _ = local_server
    token = "dbl" + uuid.uuid4().hex[:10]
    pinggy.add_token(token)
    output, state = run_double(docker_api, pinggy, pinggy.ssh_args(token, f"127.0.0.1:{port}"),
                               WRITABLE, b"Remote URLs:")
    assert state["Running"], output.decode()
    assert b"Remote URLs:\n  http://" in output


@pytest.mark.parametrize("missing, failure", [("/root/.config/pinggy", "mkdir '/root/.config'"),
                                              ("/root/.local/state/pinggy-cli", "mkdir '/root/.local'")])
def test_without_its_daemons_folders_it_fails_to_start_as_the_cli_does(docker_api, pinggy, missing, failure):
    writable = {path: options for path, options in WRITABLE.items() if path != missing}
    output, state = run_double(docker_api, pinggy, pinggy.ssh_args("nobody", "127.0.0.1:1"), writable,
                               b"Failed to start daemon")
    assert f"\u2716 Failed to start daemon: Read-only file system, {failure}" in output.decode()
    assert (state["Running"], state["ExitCode"]) == (False, 1)


def test_an_unknown_option_is_the_clis_fatal_error(docker_api, pinggy):
    output, state = run_double(docker_api, pinggy, ["--bogus", "-p", "443", "-R0:127.0.0.1:1", "a.pinggy.io"],
                               WRITABLE, b"Fatal")
    assert output.decode().strip() == ("\u2716 Fatal Error: Unknown option '--bogus'. Please check your command or "
                                       "use pinggy -h for guidance.")
    assert state["ExitCode"] == 1
