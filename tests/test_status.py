"""`status` against the in-memory engine: what it says of a healthy, exited, refused, missing and unmanaged tunnel.
(test_tunnels_e2e.py says the same of real tunnels.)"""

from __future__ import annotations

import json

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.engine.fake import FakeEngine
from provisioner.engine.loopback import DAEMON_LOG_LINE
from provisioner.observe.conditions import DAEMON_LOG
from provisioner.observe.status import gather

BANNER = "You can access local server via following URL(s):"
URLS = ("http://a-p4000.a.pinggy.link", "https://a-p4000.a.pinggy.link")


@pytest.fixture
def loaded(tmp_path, listening_port):
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: p
        defaults: {image: "img:1", allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: a, port: $port, token: tok0123456789}
          - {name: b, port: 1}
    """, port=listening_port))
    return manifest.load(tmp_path / "tunnels.yaml", {})


def engine_for(loaded) -> tuple[FakeEngine, dict]:
    engine = FakeEngine(images={"img:1": "sha256:1"})
    return engine, {spec.tunnel: spec for spec in desired_specs(loaded)}


def by_tunnel(engine: FakeEngine, loaded) -> dict:
    return {item.tunnel: item for item in gather(engine, "p", loaded.tunnels)}


def test_a_running_tunnel_with_urls_is_healthy_and_its_local_server_listening(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).print(BANNER, *URLS)
    a = by_tunnel(engine, loaded)["a"]
    assert (a.state, a.urls, a.healthy, a.listening, a.problem) == ("running", URLS, True, True, "")
    assert a.container == "p-a" and a.uptime_seconds is not None and a.restarts == 0


def test_a_tunnel_without_a_container_is_missing_and_not_healthy(loaded):
    engine, _ = engine_for(loaded)
    b = by_tunnel(engine, loaded)["b"]
    assert (b.state, b.container, b.healthy, b.listening) == ("missing", None, False, False)


def test_an_exited_client_shows_its_exit_code_and_last_words(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).exit(255, "ssh: connect to host pro.pinggy.io port 443: Connection refused")
    a = by_tunnel(engine, loaded)["a"]
    assert (a.state, a.exit_code, a.urls, a.healthy) == ("exited", 255, (), False)
    assert a.problem == "ssh: connect to host pro.pinggy.io port 443: Connection refused"


def test_a_refused_login_that_the_client_retries_says_so(loaded):
    engine, specs = engine_for(loaded)
    refusal = "Login is not allowed: A tunnel with the same token tok0123456789 is already active."
    engine.run(specs["a"]).print(f"\u26a0 Warning: {refusal}", "Reconnecting in 5 seconds")
    a = by_tunnel(engine, loaded)["a"]
    assert a.state == "running" and not a.healthy
    assert a.problem.startswith("Login is not allowed: A tunnel with the same token")
    assert "tok0123456789" in a.command_secrets  # so that the view masks the token even when it is not set here


def test_an_image_without_the_client_says_the_init_process_could_not_start_it(loaded):
    engine, specs = engine_for(loaded)
    container = engine.run(specs["a"], state="restarting")
    container.restart_count = 4
    container.print("[FATAL tini (7)] exec -p failed: No such file or directory")
    a = by_tunnel(engine, loaded)["a"]
    assert a.problem.startswith("the container's init process could not start the tunnel client (exec -p failed: "
                                "No such file or directory)")


def test_a_container_of_the_project_that_left_the_manifest_is_listed_as_such(loaded):
    engine, specs = engine_for(loaded)
    leftover = engine.run(specs["a"])
    leftover.labels["io.tunnelctl.tunnel"] = "old"
    old = by_tunnel(engine, loaded)["old"]
    assert (old.in_manifest, old.healthy, old.local_port) == (False, False, specs["a"].local_port)


def test_containers_of_other_projects_and_unmanaged_ones_are_not_shown(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).labels["io.tunnelctl.project"] = "someone-else"
    engine.run(specs["b"]).labels.clear()
    assert {item.tunnel: item.state for item in gather(engine, "p", loaded.tunnels)} == {"a": "missing",
                                                                                        "b": "missing"}


# What Pinggy's real CLI prints and writes to its daemon log (standin/README.md, "What Pinggy's real CLI says and
# does"): a dropped session, a refused login and an unreachable server print nothing on stdout.
CLI_UP = ["\u280b Initializing...\r\u2714 Initialized", "\u2714  Connected to Pinggy",
          " \u2714 Success: Tunnel established!", "Remote URLs:", *(f"  {url}" for url in URLS)]
STARTED = '2026-12-06T03:08:30.100Z [tunnel:9b318a6a] [info] Tunnel started {"urls":' + json.dumps(list(URLS)) + "}"
WILL_RECONNECT = '2026-12-06T03:08:33.885Z [tunnel:9b318a6a] [info] Tunnel will reconnect {"error":"%s",' \
                 '"messages":["Reconnecting"]}'
RECONNECTING = '2026-12-06T03:08:39.003Z [tunnel:9b318a6a] [info] Tunnel reconnecting {"retryCnt":1}'
SDK_LINE = "[2026-12-06 08:38:39] [INFO] [/opt/pinggy/index.cjs:1929:12] Handled worker callback: tunnelReconnecting"


def cli_tunnel(loaded, stdout: list[str], daemon_log: list[str]):
    engine, specs = engine_for(loaded)
    container = engine.run(specs["a"])
    container.print(*stdout)
    container.files[DAEMON_LOG] = "".join(line + "\n" for line in daemon_log)
    return by_tunnel(engine, loaded)["a"]


def test_a_cli_session_the_server_dropped_is_not_up_though_its_urls_are_the_last_it_printed(loaded):
    a = cli_tunnel(loaded, CLI_UP, [STARTED, WILL_RECONNECT % "Connection reset by peer", SDK_LINE, RECONNECTING])
    assert (a.condition, a.urls, a.healthy) == ("connecting", (), False)
    assert a.problem == ("the session ended (Connection reset by peer); the client is reconnecting, and the next "
                         "login gets a new URL")
    back = cli_tunnel(loaded, CLI_UP, [STARTED, WILL_RECONNECT % "Connection reset by peer", RECONNECTING,
                                       '2026-12-06T03:08:40Z [tunnel:9b318a6a] [info] Tunnel reconnection completed '
                                       '{"urls":["https://new.a.pinggy.link"]}'])
    assert back.condition == "up"


def test_a_login_the_cli_never_said_was_refused_is_pinggys_refusal(loaded):
    refusal = "Login is not allowed: A tunnel with the same token tok0123456789 is already active."
    a = cli_tunnel(loaded, ["\u2714 Initialized", "\u2819 Tunnel 9b318a6a \u2014 waiting for connection..."],
                   [WILL_RECONNECT % refusal, RECONNECTING])
    assert a.condition == "connecting" and a.problem == refusal + " (the client keeps retrying)"


def test_a_server_the_cli_cannot_reach_is_named_with_the_cause_from_its_daemon_log(loaded):
    a = cli_tunnel(loaded, ["\u2714 Initialized", "\u2819 Tunnel 9b318a6a \u2014 waiting for connection..."],
                   [WILL_RECONNECT % "Could not connect: Connection refused", SDK_LINE, RECONNECTING])
    assert a.condition == "connecting"
    assert a.problem == ("the client cannot connect to Pinggy's server: Could not connect: Connection refused (it "
                         "keeps retrying)")


def test_the_daemon_log_a_launcher_copied_into_the_containers_logs_is_read_there_without_exec(loaded):
    """Layout 4 (engine/loopback.py): the launcher copies the daemon log's tunnel events, prefixed, to its stderr;
    status reads them in the logs it reads anyway, instead of a `docker exec` per tunnel, and never shows them as
    the client's own words."""
    engine, specs = engine_for(loaded)
    container = engine.run(specs["a"])
    container.print(DAEMON_LOG_LINE + "(the events of /tmp/home/.local/state/pinggy-cli/logs/daemon.log "
                    "follow, as the daemon logs them)", *CLI_UP,
                    *(DAEMON_LOG_LINE + line for line in (STARTED, WILL_RECONNECT % "Connection reset by peer")))
    container.files[DAEMON_LOG] = STARTED + "\n"  # what an exec would read: not asked for
    engine.read_file = lambda *arguments: pytest.fail("read the daemon log by exec")  # type: ignore[method-assign]
    a = by_tunnel(engine, loaded)["a"]
    assert (a.condition, a.urls) == ("connecting", ())
    assert a.problem.startswith("the session ended (Connection reset by peer)")
    starting = engine_for(loaded)[0]
    starting.run(specs["a"]).print(DAEMON_LOG_LINE + "(the events … follow)", "\u2714 Initialized")
    starting.read_file = lambda *arguments: pytest.fail("read the daemon log by exec")  # type: ignore[method-assign]
    assert by_tunnel(starting, loaded)["a"].problem == "\u2714 Initialized"  # the client's words, not the launcher's


def test_a_cli_that_gave_up_says_why_its_last_attempt_failed_from_the_copied_daemon_log(loaded):
    """The copied lines outlive the container's tmpfs: after the CLI gave up and exited, status still names the
    cause, which no exec could read any more."""
    engine, specs = engine_for(loaded)
    container = engine.run(specs["a"])
    container.print("\u2714 Initialized", *(DAEMON_LOG_LINE + line for line in (
        WILL_RECONNECT % "Could not connect: Connection refused", RECONNECTING)))
    container.exit(1, "\u2716 Error: Failed to start tunnel: Maximum reconnection attempts reached. Exiting.")
    a = by_tunnel(engine, loaded)["a"]
    assert (a.state, a.urls) == ("exited", ())
    assert a.problem == ("the tunnel client gave up reconnecting (its own words, not Pinggy's: Maximum reconnection "
                         "attempts reached. Exiting.); the last attempt failed with: Could not connect: Connection "
                         "refused")


def test_a_cli_that_is_up_by_its_daemon_log_stays_up(loaded):
    a = cli_tunnel(loaded, CLI_UP, [SDK_LINE, STARTED, SDK_LINE])
    assert (a.condition, a.urls) == ("up", URLS)


def test_a_stopped_tunnel_says_why_in_words_not_with_its_old_url(loaded):
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).print(BANNER, *URLS)
    engine.named("p-a").exit(143)  # docker stop: the client's last words were its URLs
    a = by_tunnel(engine, loaded)["a"]
    assert "://" not in a.problem
    assert a.problem == ("the tunnel client exited with code 143 (stopped from outside, e.g. docker stop); "
                         "tunnelctl apply starts it again")


def test_https_only_lists_only_the_https_url(tmp_path):
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: p
        defaults: {image: "img:1", allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: a, port: 1, https_only: true}
    """))
    loaded = manifest.load(tmp_path / "tunnels.yaml", {})
    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).print(BANNER, *URLS)
    assert by_tunnel(engine, loaded)["a"].urls == ("https://a-p4000.a.pinggy.link",)


def test_status_fits_80_columns_with_urls_and_reasons_beneath_each_row(loaded):
    from provisioner.cli.render import status_text

    engine, specs = engine_for(loaded)
    engine.run(specs["a"]).print(BANNER, *URLS)
    engine.run(specs["b"]).exit(255, "ssh: connect to host pro.pinggy.io port 443: Connection refused; and a long "
                                      "explanation that goes well past the eightieth column of any terminal")
    items = gather(engine, "p", loaded.tunnels)
    text = status_text("p", items)
    assert max(len(line) for line in text.splitlines()) <= 80, text
    lines = text.splitlines()
    assert lines[2].split() == ["TUNNEL", "STATE", "UPTIME", "RESTARTS", "LOCAL"]
    a_row = next(index for index, line in enumerate(lines) if line.startswith("a "))
    assert lines[a_row + 1:a_row + 3] == ["    " + url for url in URLS]
    assert "    why: ssh: connect to host pro.pinggy.io port 443: Connection refused;" in text
    wide = status_text("p", items, wide=True)
    assert max(len(line) for line in wide.splitlines()) > 80 and "PUBLIC URLS" in wide


def test_a_tunnel_whose_relay_stopped_is_shown_red_as_relay_down_and_not_healthy(tmp_path, listening_port):
    """The default image's layout (engine/loopback.py): the CLI is up at Pinggy, but with its relay to the local
    server stopped visitors get an error, which status must not call up."""
    from provisioner.cli.render import status_text

    port = listening_port
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: p
        tunnels: [{name: a, port: $port, image: "pinggy/pinggy:1", token: tok0123456789}]
    """, port=port))
    loaded = manifest.load(tmp_path / "tunnels.yaml", {})
    [spec] = desired_specs(loaded)
    assert spec.loopback_relay
    engine = FakeEngine(images={"pinggy/pinggy:1": "sha256:1"})
    container = engine.run(spec)
    container.print(BANNER, *URLS)
    healthy = by_tunnel(engine, loaded)["a"]
    assert (healthy.condition, healthy.healthy, healthy.relay) == ("up", True, "running")
    container.relay_state = "exited"  # docker stop p-a-loopback-…
    a = by_tunnel(engine, loaded)["a"]
    assert (a.condition, a.healthy, a.urls) == ("relay down", False, URLS)
    assert a.problem == (f"its relay to the local server is exited, so visitors cannot reach 127.0.0.1:{port}; "
                         "tunnelctl apply recreates the tunnel with its relay")
    text = status_text("p", [a])
    assert "relay down" in text and f"127.0.0.1:{port} unreachable (relay exited)" in text, text
