"""Readiness judges each tunnel by its newest attempt: a refusal or a reset while Docker retries is not the verdict,
what lasts until the timeout is, and a tunnel up at Pinggy with its local server down is up. No engine needed: a
scripted stand-in for the engine's two answers (container states, client output)."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.observe.conditions import UP, UP_LOCAL_DOWN
from provisioner.run.readiness import FAILED, Target, wait_until_up

BANNER = "You can access local server via following URL(s):\nhttp://rnabc-p4100.a.pinggy.link\n"
REFUSED = "Login is not allowed: A tunnel with the same token (sensitive) is already active.\n"
RESET = "kex_exchange_identification: read: Connection reset by peer\nConnection reset by 127.0.0.1 port 2322\n"


@dataclass(frozen=True)
class Listed:
    id: str
    state: str


@dataclass(frozen=True)
class Observed:
    owned: tuple[Listed, ...]


class ScriptedEngine:
    """Each poll moves one step along the script of (container state, output so far); the last step then stays."""

    is_local = False  # nothing to probe: the local side is not what these tests are about

    def __init__(self, *steps: tuple[str, str]):
        self.steps, self.polls, self.restarts = steps, 0, 0

    def skip_back_off(self, container_id):
        self.restarts += 1

    def observe(self, project, wanted_names=()):
        self.polls += 1
        return Observed((Listed("c1", self._step()[0]),))

    def logs(self, container_id, tail="all", since=None):
        return self._step()[1]

    def _step(self):
        return self.steps[min(self.polls, len(self.steps)) - 1]


def judge(engine, timeout: float = 5.0):
    [result] = wait_until_up(engine, "p", [Target("mcp", "c1", "127.0.0.1", 1)], timeout, lambda results: None,
                             poll_interval=0.01)
    return result


def test_refusals_while_the_server_still_holds_the_token_are_retried_until_the_login_succeeds():
    engine = ScriptedEngine(("running", REFUSED), ("restarting", REFUSED), ("running", REFUSED + REFUSED),
                            ("running", REFUSED * 2 + BANNER))
    result = judge(engine)
    assert result.state == UP and result.urls == ("http://rnabc-p4100.a.pinggy.link",)


def test_a_login_refused_for_a_held_token_is_retried_at_once_instead_of_after_dockers_growing_back_off():
    engine = ScriptedEngine(("restarting", REFUSED), ("running", REFUSED + BANNER))
    assert judge(engine).state == UP and engine.restarts == 1


def test_connections_reset_by_a_throttling_server_are_retried():
    assert judge(ScriptedEngine(("restarting", RESET), ("running", RESET + BANNER))).state == UP


class Crowd:
    """Many containers at one poll: `logging_in` connecting (running, no URL yet), `reset` backing off after the
    server reset them, `unknown` backing off after the server refused an unknown token, `new` made and not started."""

    is_local = False

    def __init__(self, logging_in: int, reset: int, unknown: int = 0, new: int = 0):
        self.states = {f"l{n}": "running" for n in range(logging_in)} | {f"r{n}": "restarting" for n in range(reset)}
        self.states |= {f"u{n}": "restarting" for n in range(unknown)} | {f"n{n}": "created" for n in range(new)}
        self.restarted: list[str] = []
        self.started: list[str] = []
        self.read: list[str] = []  # whose logs were asked for

    def start(self, container_id):
        self.started.append(container_id)
        self.states[container_id] = "running"

    def observe(self, project, wanted_names=()):
        return Observed(tuple(Listed(name, state) for name, state in self.states.items()))

    def logs(self, container_id, tail="all", since=None):
        self.read.append(container_id)
        return {"r": RESET, "u": "(sensitive)@127.0.0.1: Permission denied (password).\n"}.get(container_id[0], "")

    def skip_back_off(self, container_id):
        self.restarted.append(container_id)



def one_poll(crowd):
    targets = [Target(name, name, "127.0.0.1", 1, server="pinggy:443") for name in crowd.states]
    wait_until_up(crowd, "p", targets, 0.0, lambda results: None)


def test_a_reset_login_waits_while_the_server_has_as_many_logins_as_its_resets_allow():
    crowded = Crowd(logging_in=6, reset=1)  # one reset: five at once from now on, and six are logging in
    one_poll(crowded)
    assert crowded.restarted == []
    quiet = Crowd(logging_in=1, reset=2, unknown=1)  # two resets: two at once; an unknown token is left to Docker
    one_poll(quiet)
    assert quiet.restarted == ["r0"]


def test_new_containers_are_started_as_many_at_a_time_as_a_server_takes_logins():
    """One poll, then the (spent) deadline starts the rest: those started by their turn come first."""
    burst = Crowd(logging_in=7, reset=0, new=5)  # no reset yet: ten at once, as OpenSSH's default MaxStartups
    one_poll(burst)
    assert set(burst.started[:3]) == {"n0", "n1", "n2"} and set(burst.started[3:]) == {"n3", "n4"}
    shedding = Crowd(logging_in=3, reset=1, new=5)  # one reset: five at once
    one_poll(shedding)
    assert shedding.restarted == ["r0"] and shedding.started[0] == "n0" and len(shedding.started) == 5


def test_containers_waiting_for_their_turn_cost_the_engine_no_reads():
    """Fifty made at once, ten logging in: the forty with no output yet are not asked for it at every poll, which took
    the engine's time from the starts and logins that were due."""
    crowded = Crowd(logging_in=10, reset=0, new=40)
    one_poll(crowded)
    assert sorted(set(crowded.read)) == sorted(f"l{n}" for n in range(10))


def test_out_of_time_the_containers_still_waiting_for_their_turn_start_all_the_same():
    crowded = Crowd(logging_in=10, reset=0, new=3)  # no turn for any of the three within this (spent) deadline
    one_poll(crowded)
    assert sorted(crowded.started) == ["n0", "n1", "n2"]


def test_a_refusal_that_lasts_to_the_timeout_fails_with_pinggys_words_and_what_to_do():
    result = judge(ScriptedEngine(("running", REFUSED), ("restarting", REFUSED)), timeout=0.2)
    assert result.state == FAILED
    assert result.problem == ("Pinggy refused the login: " + REFUSED.strip() + "; another machine or project holds "
                              "the token: stop the tunnel there, or set `force: true` to take the token over "
                              "(still refused after 0.2s)")


def test_a_client_docker_will_not_restart_fails_at_once():
    engine = ScriptedEngine(("exited", REFUSED))
    result = judge(engine, timeout=30)
    assert result.state == FAILED and result.problem.startswith("Pinggy refused the login: Login is not allowed")
    assert engine.polls == 1


def test_an_unknown_token_times_out_with_the_servers_words_and_a_hint():
    result = judge(ScriptedEngine(("restarting", "(sensitive)@127.0.0.1: Permission denied (password).\n")),
                   timeout=0.2)
    assert result.state == FAILED and result.problem == (
        "no public URL within 0.2s; last output: (sensitive)@127.0.0.1: Permission denied (password).; "
        "the server does not accept this token: check it")


def test_a_tunnel_up_while_its_local_server_is_down_is_up_and_says_so():
    engine = ScriptedEngine(("running", BANNER))
    engine.is_local = True  # the target, 127.0.0.1:1, has no listener
    result = judge(engine)
    assert result.state == UP_LOCAL_DOWN and result.urls
    assert result.problem.startswith("nothing listens on 127.0.0.1:1 yet; the tunnel is up")


def test_a_first_start_the_engine_refuses_fails_with_its_words_and_leaves_nothing(tmp_path):
    from provisioner.engine.fake import FakeEngine

    engine = FakeEngine(images={"img:1": "sha256:1"})
    spec = next(iter(crowd_specs(tmp_path)))
    container_id = engine.create(spec, start=False)
    engine.fail("start", spec.container_name, "the engine refused starting container 'p-a': no such executable")
    [result] = wait_until_up(engine, "p", [Target("a", container_id, "127.0.0.1", 1, server="s:443")], 5,
                             lambda results: None)
    assert result.state == FAILED and result.problem.endswith("no such executable")
    assert engine.containers == {}


def crowd_specs(tmp_path):
    from conftest import manifest_text
    from provisioner import manifest
    from provisioner.desired.specs import desired_specs

    path = tmp_path / "tunnels.yaml"
    path.write_text(manifest_text("""
        version: 1
        project: p
        tunnels:
          - {name: a, port: 1, image: "img:1"}
    """))
    return desired_specs(manifest.load(path, {}))
