"""A tunnel that is not up because another container of ours holds its token, or because Pinggy's CLI lost its
daemon, says so in status and while apply waits, against the in-memory engine. Pinggy's CLI may print neither: with
libpinggy 0.1.7 its daemon dies right after a refused login, and the CLI then only redraws its spinner.
(test_pinggy_real.py: the same with the real CLI.)"""

from __future__ import annotations

import json
import time

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.engine.fake import FakeContainer, FakeEngine
from provisioner.observe.conditions import DAEMON_LOG
from provisioner.observe.status import gather_manifest
from provisioner.observe.token_holders import token_digest
from provisioner.run.readiness import FAILED, Target, wait_until_up

TOKEN = "tok0123456789"
URLS = ("http://x-p4000.a.pinggy.link", "https://x-p4000.a.pinggy.link")
BANNER = "You can access local server via following URL(s):"
SPINNER = ["\u2714 Initialized", "\u2819 Tunnel 9b318a6a \u2014 waiting for connection..."]
DAEMON_STARTED = '2026-12-06T05:32:57.758Z [info] Daemon starting {"pid":14,"inProcess":false}'
DAEMON_READY = '2026-12-06T05:32:57.795Z [info] Daemon ready {"pid":14,"port":41683}'
STARTING_TUNNEL = "2026-12-06T05:32:58.036Z [tunnel:7db5743c] [info] Starting tunnel"
SHUTTING_DOWN = "2026-12-06T05:40:00.000Z [info] Daemon shutting down"


def load(tmp_path, project: str, token: str = TOKEN, force: bool = False, environ: dict | None = None):
    folder = tmp_path / project
    folder.mkdir(exist_ok=True)
    (folder / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: "pinggy/pinggy:latest", allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: web, port: 1, token: "{{ env.PINGGY_TOKEN }}", force: $force}
    """, project=project, force=str(force).lower()))
    return manifest.load(folder / "tunnels.yaml", {"PINGGY_TOKEN": token, **(environ or {})})


def run(engine: FakeEngine, loaded, *lines: str) -> FakeContainer:
    [spec] = desired_specs(loaded)
    container = engine.run(spec)
    container.print(*lines)
    return container


def status_of(engine: FakeEngine, loaded):
    [item], failures = gather_manifest(loaded, [], lambda configs, names: {"default": engine})
    assert failures == []
    return item


@pytest.fixture
def engine():
    return FakeEngine(images={"pinggy/pinggy:latest": "sha256:1"})


def test_status_names_the_tunnel_of_another_project_that_holds_the_session(tmp_path, engine):
    run(engine, load(tmp_path, "other"), BANNER, *URLS)
    mine = load(tmp_path, "mine")
    run(engine, mine, *SPINNER)
    item = status_of(engine, mine)
    assert (item.condition, item.urls) == ("connecting", ())
    assert item.problem.startswith("its token is also used by tunnel 'web' of project 'other' (container other-web), "
                                   "which holds the session: Pinggy keeps one session per token")
    assert TOKEN not in item.problem and _digests(engine.named("mine-web"))["token"] not in item.problem


def _digests(container: FakeContainer) -> dict[str, str]:
    from provisioner.desired.labels import SETTING_DIGESTS, decode_digests

    return decode_digests(container.labels[SETTING_DIGESTS])


def test_a_holder_with_another_token_a_stopped_one_or_force_explain_nothing(tmp_path, engine):
    run(engine, load(tmp_path, "other", token="another0123456"), BANNER, *URLS)
    run(engine, load(tmp_path, "stopped"), BANNER, *URLS).exit(143)
    mine = load(tmp_path, "mine")
    run(engine, mine, *SPINNER)
    assert "token" not in status_of(engine, mine).problem
    taking_over = load(tmp_path, "forced", force=True)
    run(engine, load(tmp_path, "other2"), BANNER, *URLS)
    run(engine, taking_over, *SPINNER)
    assert "token" not in status_of(engine, taking_over).problem  # force takes the session, it does not wait


def test_an_untrusted_manifest_is_told_nothing_computed_from_its_token(tmp_path, engine):
    """A pull request's manifest could otherwise learn whether a token it guessed is another project's."""
    run(engine, load(tmp_path, "other"), BANNER, *URLS)
    guess = load(tmp_path, "mine", environ={"TUNNELCTL_ENV_ALLOW": "PINGGY_TOKEN"})  # the other project's token
    assert not guess.trusted
    run(engine, guess, *SPINNER)
    assert "token" not in status_of(engine, guess).problem


def cli_with_daemon(engine: FakeEngine, loaded, daemon_log: list[str], daemon_alive: bool) -> FakeContainer:
    container = run(engine, loaded, *SPINNER)
    container.files[DAEMON_LOG] = "".join(line + "\n" for line in daemon_log)
    if daemon_alive:
        container.files["/proc/14/stat"] = ""  # node reads a /proc file as empty: the kernel gives it no size
    return container


def test_status_says_the_clis_daemon_died_and_the_client_is_stuck(tmp_path, engine):
    mine = load(tmp_path, "mine")
    cli_with_daemon(engine, mine, [DAEMON_STARTED, DAEMON_READY, STARTING_TUNNEL], daemon_alive=False)
    item = status_of(engine, mine)
    assert (item.condition, item.healthy) == ("stuck", False)
    assert item.problem.startswith("the tunnel client's daemon died without shutting down")
    assert "`tunnelctl apply --replace TUNNEL`" in item.problem


def test_a_live_daemon_or_one_that_shut_down_the_proper_way_is_not_a_death(tmp_path, engine):
    mine = load(tmp_path, "mine")
    cli_with_daemon(engine, mine, [DAEMON_STARTED, DAEMON_READY, STARTING_TUNNEL], daemon_alive=True)
    assert status_of(engine, mine).condition == "connecting"
    engine.remove(engine.named("mine-web").id)
    cli_with_daemon(engine, mine, [DAEMON_STARTED, DAEMON_READY, SHUTTING_DOWN], daemon_alive=False)
    assert status_of(engine, mine).condition == "connecting"


def test_a_refusal_then_the_daemons_death_says_both_and_names_the_holder(tmp_path, engine):
    run(engine, load(tmp_path, "other"), BANNER, *URLS)
    mine = load(tmp_path, "mine")
    refused = ('2026-12-06T05:32:58.043Z [tunnel:7db5743c] [info] Tunnel will reconnect {"error":"Login is not '
               'allowed: A tunnel with the same token is already active.","messages":["Reconnecting"]}')
    cli_with_daemon(engine, mine, [DAEMON_STARTED, STARTING_TUNNEL, refused], daemon_alive=False)
    item = status_of(engine, mine)
    assert item.condition == "stuck"
    assert item.problem.startswith("its token is also used by tunnel 'web' of project 'other'")
    assert "; Login is not allowed: A tunnel with the same token is already active.; then the tunnel client's " \
           "daemon died" in item.problem


def test_a_client_that_printed_urls_before_it_lost_the_session_names_the_holder_too(tmp_path, engine):
    """Status lists every project's containers while it looks at the tunnels when a live one printed no URL; one
    that printed its URLs, then lost its session, is explained all the same (that list is made after)."""
    run(engine, load(tmp_path, "other"), BANNER, *URLS)
    mine = load(tmp_path, "mine")
    dropped = ('2026-12-06T05:32:58.043Z [tunnel:7db5743c] [info] Tunnel will reconnect {"error":"Login is not '
               'allowed: A tunnel with the same token is already active.","messages":["Reconnecting"]}')
    cli_with_daemon(engine, mine, [DAEMON_STARTED, STARTING_TUNNEL, dropped], daemon_alive=True).print(BANNER, *URLS)
    item = status_of(engine, mine)
    assert (item.condition, item.urls) == ("connecting", ())
    assert item.problem.startswith("its token is also used by tunnel 'web' of project 'other'")


def wait(engine: FakeEngine, loaded, timeout: float = 10.0, compare: bool = True):
    [spec] = desired_specs(loaded)
    container = engine.named(spec.container_name)
    target = Target("web", container.id, "127.0.0.1", 1,
                    token=token_digest(spec.setting_digests, spec.settings.force) if compare else "")
    began = time.monotonic()
    [result] = wait_until_up(engine, loaded.project, [target], timeout, lambda results: None, poll_interval=0.01)
    return result, time.monotonic() - began


def test_apply_fails_at_once_naming_the_holder_of_the_session(tmp_path, engine):
    run(engine, load(tmp_path, "other"), BANNER, *URLS)
    mine = load(tmp_path, "mine")
    run(engine, mine, *SPINNER)
    result, waited = wait(engine, mine)
    assert result.state == FAILED and waited < 5
    assert result.problem.startswith("its token is also used by tunnel 'web' of project 'other' (container "
                                     "other-web), which holds the session")
    _, waited = wait(engine, mine, timeout=0.5, compare=False)  # without the comparison: the timeout, as before
    assert waited >= 0.5


def test_a_holder_still_logging_in_leaves_it_to_the_timeout_and_then_says_so(tmp_path, engine):
    run(engine, load(tmp_path, "other"), *SPINNER)
    mine = load(tmp_path, "mine")
    run(engine, mine, *SPINNER)
    result, waited = wait(engine, mine, timeout=0.5)
    assert result.state == FAILED and waited >= 0.5
    assert result.problem.startswith("its token is also used by tunnel 'web' of project 'other' (container "
                                     "other-web), which is logging in with it too")
    assert result.problem.endswith("(still not up after 0.5s)")


def test_apply_fails_at_once_when_the_clis_daemon_died(tmp_path, engine):
    mine = load(tmp_path, "mine")
    cli_with_daemon(engine, mine, [DAEMON_STARTED, DAEMON_READY, STARTING_TUNNEL], daemon_alive=False)
    result, waited = wait(engine, mine)
    assert result.state == FAILED and waited < 5
    assert result.problem.startswith("the tunnel client's daemon died without shutting down")
    engine.named("mine-web").files["/proc/14/stat"] = ""
    result, waited = wait(engine, mine, timeout=0.5)
    assert result.state == FAILED and result.problem.startswith("no public URL within 0.5s")


def test_the_daemon_log_names_the_newest_daemon_until_it_shuts_down():
    from provisioner.observe.pinggy_output import read_daemon_log

    assert read_daemon_log("\n".join([DAEMON_STARTED, STARTING_TUNNEL])).daemon_pid == 14
    assert read_daemon_log("\n".join([DAEMON_STARTED, SHUTTING_DOWN])).daemon_pid is None
    restarted = DAEMON_STARTED.replace('"pid":14', '"pid":31')
    assert read_daemon_log("\n".join([DAEMON_STARTED, SHUTTING_DOWN, restarted])).daemon_pid == 31
    assert read_daemon_log(json.dumps({"pid": 14})).daemon_pid is None
