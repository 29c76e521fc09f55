"""Each judgement `apply` makes while it waits for new tunnels, against the in-memory engine: up, up with nothing
listening locally, refused, exited, gone, and out of time. (test_readiness.py: how retries are judged;
test_tunnels_e2e.py: the same judgements on real clients.)"""

from __future__ import annotations

import socket
import threading

from test_status import BANNER, URLS, WILL_RECONNECT

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.engine.fake import FakeContainer, FakeEngine
from provisioner.observe.conditions import DAEMON_LOG, UP, UP_LOCAL_DOWN
from provisioner.run.readiness import FAILED, STARTING, Readiness, Target, wait_until_up

REFUSAL = "Login is not allowed: A tunnel with the same token tok1 is already active."


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens there once the socket is closed


def started(tmp_path, port: int, behave, is_local: bool = True) -> tuple[FakeEngine, Target]:
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: p
        tunnels: [{name: a, port: $port, image: "img:1", allow_cidrs: [127.0.0.0/8]}]
    """, port=port))
    [spec] = desired_specs(manifest.load(tmp_path / "tunnels.yaml", {}))
    engine = FakeEngine(images={"img:1": "sha256:1"}, is_local=is_local)
    engine.on_create = behave
    return engine, Target("a", engine.create(spec), "127.0.0.1", port)


def judged(engine: FakeEngine, target: Target, timeout: float = 5) -> tuple[Readiness, list[list[str]]]:
    seen: list[list[str]] = []
    [result] = wait_until_up(engine, "p", [target], timeout, lambda results: seen.append([r.state for r in results]),
                             poll_interval=0.01)
    return result, seen


def prints_urls(container: FakeContainer) -> None:
    container.print("Pseudo-terminal will not be allocated", BANNER, *URLS)


def test_up_when_the_client_prints_its_urls_and_the_local_server_listens(tmp_path, listening_port):
    engine, target = started(tmp_path, listening_port, prints_urls)
    result, seen = judged(engine, target)
    assert (result.state, result.urls, result.problem) == (UP, URLS, "")
    assert seen == [[STARTING], [UP]]  # the view is told at the start and at each change


def test_up_at_pinggy_with_nothing_listening_locally_is_up_and_says_so(tmp_path):
    port = closed_port()
    engine, target = started(tmp_path, port, prints_urls)
    result, _ = judged(engine, target)
    assert (result.state, result.urls) == (UP_LOCAL_DOWN, URLS)
    assert f"127.0.0.1:{port}" in result.problem


def test_a_remote_engines_local_port_is_not_probed_from_here(tmp_path):
    engine, target = started(tmp_path, closed_port(), prints_urls, is_local=False)
    assert judged(engine, target)[0].state == UP


def test_a_refusal_that_lasts_until_docker_gives_up_is_a_failure_in_pinggys_words(tmp_path, listening_port):
    engine, target = started(tmp_path, listening_port, lambda container: container.exit(1, REFUSAL))
    result, _ = judged(engine, target)
    assert result.state == FAILED and result.problem.startswith(f"Pinggy refused the login: {REFUSAL}")


def test_a_client_that_gives_up_after_refusals_only_its_daemon_log_told_fails_in_pinggys_words(tmp_path,
                                                                                              listening_port):
    """A CLI whose container does not restart (a takeover's, before its commit) gives up after Pinggy refused it;
    the refusal was only in its daemon log, gone with the container: the refusal read while it ran is the cause."""
    refusal = "Login is not allowed: the domain x.example.com is not associated with this token"

    def refused_then_gives_up(container: FakeContainer) -> None:
        container.print("\u2714 Initialized", "\u2819 Tunnel 9b318a6a \u2014 waiting for connection...")
        container.files[DAEMON_LOG] = WILL_RECONNECT % refusal + "\n"
        threading.Timer(0.3, container.exit, (1, "\u2716 Error: Failed to start tunnel: Maximum reconnection "
                                                 "attempts reached. Exiting.")).start()

    engine, target = started(tmp_path, listening_port, refused_then_gives_up)
    result, _ = judged(engine, target)
    assert result.state == FAILED and result.problem.startswith(f"Pinggy refused the login: {refusal}; then "), result
    assert "gave up reconnecting" in result.problem


def test_a_client_that_exits_is_a_failure_with_its_last_words(tmp_path, listening_port):
    engine, target = started(tmp_path, listening_port, lambda container: container.exit(
        255, "ssh: Could not resolve hostname pro.pinggy.io: Temporary failure in name resolution"))
    result, _ = judged(engine, target)
    assert result.state == FAILED
    assert result.problem == ("the tunnel client exited: ssh: Could not resolve hostname pro.pinggy.io: Temporary "
                              "failure in name resolution")


def test_an_image_without_the_client_fails_at_once_in_the_init_process_words(tmp_path, listening_port):
    def no_client(container: FakeContainer) -> None:  # docker-init (tini) is PID 1 and finds no program to run
        container.restart_count += 1
        container.print("[FATAL tini (7)] exec -p failed: No such file or directory")
        container.state = "restarting"

    engine, target = started(tmp_path, listening_port, no_client)
    result, _ = judged(engine, target, timeout=30)
    assert result.state == FAILED
    assert result.problem.startswith("the container's init process could not start the tunnel client (exec -p "
                                     "failed: No such file or directory)")


def test_a_client_given_the_other_clients_arguments_fails_at_once_saying_which_client_to_set(tmp_path,
                                                                                            listening_port):
    """Pinggy's CLI under a name tunnelctl does not know gets OpenSSH's -F; an OpenSSH image set to `client:
    pinggy-cli` gets the CLI's --conf. Each refuses the other's option and exits, as the real clients print it."""
    def said(*lines: str) -> tuple[str, str]:
        engine, target = started(tmp_path, listening_port, lambda container: container.exit(1, *lines))
        result, _ = judged(engine, target, timeout=30)
        return result.state, result.problem

    assert said("\u2716 Fatal Error: Unknown option '-F'. Please check your command or use pinggy -h for "
                "guidance.") == (FAILED, "the image runs Pinggy's CLI, not OpenSSH (it refuses OpenSSH's -F): set "
                                         "`client: pinggy-cli` on this tunnel")
    assert said("unknown option -- -", "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface]") == (
        FAILED, "the image runs OpenSSH, not Pinggy's CLI (it refuses the CLI's --conf): set `client: openssh` on "
                "this tunnel")


def test_while_it_starts_the_newest_words_are_said_to_be_whoever_said_them(tmp_path, listening_port):
    from provisioner.cli.render import progress_line

    def said(*lines: str) -> str:
        engine, target = started(tmp_path, listening_port, lambda container: container.print(*lines))
        seen: list[Readiness] = []
        wait_until_up(engine, "p", [target], 0.3, lambda results: seen.extend(results), poll_interval=0.01)
        starting = [result for result in seen if result.state == STARTING and result.problem][-1]
        return progress_line(starting, 3)

    assert said(REFUSAL).endswith(f"[3s elapsed] Pinggy: {REFUSAL}")
    assert said("ssh: connect to host 127.0.0.1 port 2222: Connection refused").endswith(
        "[3s elapsed] client: ssh: connect to host 127.0.0.1 port 2222: Connection refused")
    assert said("[WARN  tini (7)] Tini is not running as PID 1").endswith(
        "[3s elapsed] init process: [WARN  tini (7)] Tini is not running as PID 1")
    # tunnelctl's own account of the client names whose it is: no label before it
    assert said("\u2716 Error: Failed to start tunnel: Maximum reconnection attempts reached. Exiting.").endswith(
        "[3s elapsed] the tunnel client gave up reconnecting (its own words, not Pinggy's: Maximum reconnection "
        "attempts reached. Exiting.)")


def test_a_container_that_disappears_is_a_failure(tmp_path, listening_port):
    engine, target = started(tmp_path, listening_port, lambda container: None)
    engine.remove(target.container_id)
    assert judged(engine, target)[0].problem == "the container disappeared"


def test_out_of_time_says_so_with_the_last_output(tmp_path, listening_port):
    engine, target = started(tmp_path, listening_port, lambda container: container.print("connecting to Pinggy"))
    result, seen = judged(engine, target, timeout=0.05)
    assert (result.state, result.problem) == (FAILED, "no public URL within 0.05s; last output: connecting to Pinggy")
    assert seen[0] == [STARTING] and seen[-1] == [FAILED]


def test_several_tunnels_are_judged_each_on_its_own(tmp_path, listening_port):
    engine, up = started(tmp_path, listening_port, prints_urls)
    [spec] = desired_specs(manifest.load(tmp_path / "tunnels.yaml", {}))
    exited = engine.run(spec)
    exited.name = "p-b"
    exited.exit(1, "gone")
    results = wait_until_up(engine, "p", [up, Target("b", exited.id, "127.0.0.1", listening_port)], 5,
                            lambda results: None, poll_interval=0.01)
    assert [(result.tunnel, result.state) for result in results] == [("a", UP), ("b", FAILED)]
