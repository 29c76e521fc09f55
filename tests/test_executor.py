"""The executor against the in-memory engine: the order of the steps, rollback, moves and leftovers, in milliseconds.
(The same paths run on a real engine in test_safe_apply.py and test_many_engines.py.)"""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired.model import ContainerSpec
from provisioner.desired.specs import desired_specs, engine_specs
from provisioner.engine.fake import FakeEngine
from provisioner.engine.loopback import TAKEOVER_VARIABLE
from provisioner.plan.fleet import plan_fleet
from provisioner.plan.kinds import CONFLICT, CREATE, MOVE, RECREATE, REMOVE
from provisioner.plan.planner import plan
from provisioner.run.executor import Outcome, execute, execute_fleet
from provisioner.run.readiness import Deadline

URLS = ("http://t-p4000.a.pinggy.link", "https://t-p4000.a.pinggy.link")


def specs(tmp_path, tunnels: dict[str, int], project: str = "p") -> dict[str, ContainerSpec]:
    lines = "".join(manifest_text("- {name: $name, port: $port}\n", name=name, port=port)
                    for name, port in tunnels.items())
    path = tmp_path / "tunnels.yaml"
    path.write_text(manifest_text("""
        version: 1
        project: $project
        defaults: {image: "img:1", allow_cidrs: [127.0.0.0/8]}
        tunnels:
    """, project=project) + textwrap.indent(lines, "  "))
    return {spec.tunnel: spec for spec in desired_specs(manifest.load(path, {}))}


def engine_with(*running: ContainerSpec, name: str = "default") -> FakeEngine:
    engine = FakeEngine(name, endpoint=f"fake://{name}", images={"img:1": "sha256:1"})
    for spec in running:
        engine.run(spec)
    engine.calls.clear()
    return engine


def carry_out(engine: FakeEngine, wanted: list[ContainerSpec], wait_timeout: float | None = None) -> list[Outcome]:
    reported: list[Outcome] = []
    outcomes = execute(plan("p", wanted, engine.observe("p", [s.container_name for s in wanted])), engine,
                       reported.append, parallelism=1, wait_timeout=wait_timeout)
    assert reported == outcomes  # every outcome is reported as it ends
    return outcomes


def names(engine: FakeEngine) -> dict[str, str]:
    return {container.name: container.state for container in engine.containers.values()}


def test_removals_finish_before_any_creation(tmp_path):
    old, new = specs(tmp_path, {"old": 1}), specs(tmp_path, {"new": 2})
    engine = engine_with(old["old"])
    outcomes = carry_out(engine, [new["new"]])
    # a running client is stopped first, so that the server frees its token before a new client logs in with it
    assert engine.calls == [("stop", "p-old"), ("remove", "p-old"), ("create", "p-new"), ("start", "p-new")]
    assert [(outcome.action.kind, outcome.failed) for outcome in outcomes] == [(REMOVE, False), (CREATE, False)]
    assert names(engine) == {"p-new": "running"}


def test_while_apply_waits_a_first_wave_of_new_tunnels_starts_as_it_is_created_and_the_rest_waits_its_turn(tmp_path):
    wanted = specs(tmp_path, {f"t{index:02d}": 4000 + index for index in range(12)})
    engine = engine_with()
    carry_out(engine, list(wanted.values()), wait_timeout=30)
    states = names(engine)
    assert [states[f"p-t{index:02d}"] for index in range(12)] == ["running"] * 10 + ["created"] * 2
    without_waiting = engine_with()
    carry_out(without_waiting, list(wanted.values()))
    assert set(names(without_waiting).values()) == {"running"}


def test_a_replacement_makes_the_new_while_the_old_still_serves_then_stops_the_old_and_starts_the_new(tmp_path):
    before, after = specs(tmp_path, {"a": 1}), specs(tmp_path, {"a": 2})
    engine = engine_with(before["a"])
    old_id = engine.named("p-a").id
    [outcome] = carry_out(engine, [after["a"]])
    assert outcome.action.kind == RECREATE and not outcome.failed
    assert engine.calls == [("rename", f"p-a->p-a-replaced-{old_id[:12]}"), ("create", "p-a"),
                            ("stop", f"p-a-replaced-{old_id[:12]}"), ("start", "p-a"),
                            ("remove", f"p-a-replaced-{old_id[:12]}")]
    assert names(engine) == {"p-a": "running"} and engine.named("p-a").id == outcome.container_id != old_id


def test_a_replacement_that_cannot_be_created_gives_the_old_container_back(tmp_path):
    before, after = specs(tmp_path, {"a": 1}), specs(tmp_path, {"a": 2})
    engine = engine_with(before["a"])
    old_id = engine.named("p-a").id
    engine.fail("create", "p-a", "the engine refused creating container 'p-a': no space left on device")
    [outcome] = carry_out(engine, [after["a"]])
    assert outcome.error == ("the engine refused creating container 'p-a': no space left on device; "
                             "the previous container was restored and runs again")
    assert engine.calls[-2:] == [("rename", f"p-a-replaced-{old_id[:12]}->p-a"), ("start", "p-a")]
    assert names(engine) == {"p-a": "running"} and engine.named("p-a").id == old_id


def test_on_an_engine_that_cannot_rename_the_old_container_goes_first_and_a_failure_says_the_tunnel_is_down(
        tmp_path):
    before, after = specs(tmp_path, {"a": 1, "b": 1}), specs(tmp_path, {"a": 2, "b": 2})
    engine = FakeEngine(images={"img:1": "sha256:1"}, renames=False)
    for spec in before.values():
        engine.run(spec)
    engine.fail("create", "p-b", "the engine refused creating container 'p-b': no space left on device")
    engine.calls.clear()
    a, b = carry_out(engine, list(after.values()))
    assert engine.calls[:4] == [("stop", "p-a"), ("remove", "p-a"), ("create", "p-a"), ("start", "p-a")]
    assert not a.failed and engine.named("p-a").id == a.container_id
    assert b.error == ("the engine refused creating container 'p-b': no space left on device; the previous container "
                       "was removed first (engine 'default' cannot rename containers), so the tunnel is down: fix "
                       "the cause and apply again")
    assert names(engine) == {"p-a": "running"}


def test_a_replacement_that_does_not_come_up_is_removed_and_the_old_one_restored(tmp_path):
    before, after = specs(tmp_path, {"a": 1}), specs(tmp_path, {"a": 2})
    engine = engine_with(before["a"])
    old_id = engine.named("p-a").id
    engine.on_create = lambda container: container.exit(255, "ssh: connect to host pro.pinggy.io port 443: refused")
    [outcome] = carry_out(engine, [after["a"]], wait_timeout=5)
    assert outcome.error == ("the new container did not come up: the tunnel client exited: ssh: connect to host "
                             "pro.pinggy.io port 443: refused; the previous container was restored and runs again")
    assert names(engine) == {"p-a": "running"} and engine.named("p-a").id == old_id


def test_when_restoring_fails_too_the_outcome_says_so_and_the_next_apply_cleans_up(tmp_path):
    before, after = specs(tmp_path, {"a": 1}), specs(tmp_path, {"a": 2})
    engine = engine_with(before["a"])
    engine.fail("create", "p-a", "refused")
    engine.fail("start", "p-a", "the engine went away")  # after it got its name back
    [outcome] = carry_out(engine, [after["a"]])
    assert outcome.error == ("refused; restoring the previous container failed too (the engine went away); "
                             "the next apply will clean up")
    engine.failures.clear()
    again = plan("p", [after["a"]], engine.observe("p", ["p-a"]))
    assert [action.kind for action in again.actions] == [RECREATE]  # the renamed, stopped one is recognised
    carry_out(engine, [after["a"]])
    assert names(engine) == {"p-a": "running"}


def test_leftovers_of_an_interrupted_apply_are_all_removed(tmp_path):
    wanted = specs(tmp_path, {"a": 1})["a"]
    engine = engine_with(wanted)
    engine.run(wanted, state="exited").name = "p-a-replaced-0123456789ab"
    engine.run(wanted, state="created").name = "p-a-replaced-ba9876543210"
    engine.calls.clear()
    [outcome] = carry_out(engine, [wanted])
    assert outcome.action.kind == REMOVE and "leftover of an interrupted apply" in outcome.action.reasons[0]
    assert sorted(engine.calls) == [("remove", "p-a-replaced-0123456789ab"), ("remove", "p-a-replaced-ba9876543210")]
    assert names(engine) == {"p-a": "running"}


def test_a_blocked_tunnel_is_reported_and_the_others_go_ahead(tmp_path):
    wanted = specs(tmp_path, {"a": 1, "b": 2})
    engine = engine_with()
    squatter = engine.run(wanted["a"])
    squatter.labels = {}  # a container of someone else's that holds the name
    engine.calls.clear()
    outcomes = carry_out(engine, list(wanted.values()))
    assert [(outcome.action.kind, outcome.action.tunnel, outcome.failed) for outcome in outcomes] == [
        (CONFLICT, "a", True), (CREATE, "b", False)]
    assert engine.calls == [("create", "p-b"), ("start", "p-b")]


def test_one_failure_does_not_hide_the_other_results(tmp_path):
    wanted = specs(tmp_path, {"a": 1, "b": 2, "c": 3})
    engine = engine_with()
    engine.fail("start", "p-b", "the Docker engine refused starting container 'p-b': port is already allocated")
    outcomes = {outcome.action.tunnel: outcome for outcome in carry_out(engine, list(wanted.values()))}
    assert not outcomes["a"].failed and not outcomes["c"].failed
    assert outcomes["b"].error == "the Docker engine refused starting container 'p-b': port is already allocated"


def test_a_missing_image_is_pulled_once_and_an_unknown_one_fails_that_tunnel_only(tmp_path):
    wanted = specs(tmp_path, {"a": 1, "b": 2})
    engine = engine_with()
    engine.images.clear()
    outcomes = carry_out(engine, list(wanted.values()))
    assert {outcome.action.tunnel: outcome.error for outcome in outcomes} == {
        "a": "cannot pull image 'img:1': the fake registry does not have it",
        "b": "cannot pull image 'img:1': the fake registry does not have it"}
    engine.registry.add("img:1")
    carry_out(engine, list(wanted.values()))
    assert engine.calls.count(("pull", "img:1")) == 3 and set(names(engine)) == {"p-a", "p-b"}


def fleet_specs(tmp_path, placement: dict[str, str]):
    lines = "".join(manifest_text("- {name: $name, port: 1, engine: $engine}\n", name=name, engine=where)
                    for name, where in placement.items())
    path = tmp_path / "tunnels.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        project: p
        engines: {laptop: {docker: "unix:///laptop.sock"}, server: {docker: "unix:///server.sock"}}
        defaults: {image: "img:1", allow_cidrs: [127.0.0.0/8]}
        tunnels:
    """) + textwrap.indent(lines, "  "))
    return engine_specs(manifest.load(path, {}))


@pytest.mark.parametrize("destination_works", [True, False])
def test_a_move_comes_up_on_its_new_engine_before_it_leaves_the_old_one(tmp_path, destination_works):
    laptop, server = engine_with(name="laptop"), engine_with(name="server")
    before = fleet_specs(tmp_path, {"a": "server"})("server", lambda: server.kind)
    server.run(before[0])
    server.calls.clear()
    if not destination_works:
        laptop.fail("create", "p-a", "the laptop's engine refused creating container 'p-a'")
    fleet = plan_fleet("p", {"laptop": laptop, "server": server}, fleet_specs(tmp_path, {"a": "laptop"}))
    assert [(move.tunnel, move.source, move.destination) for move in fleet.moves] == [("a", "server", "laptop")]
    [outcome] = execute_fleet(fleet, lambda outcome: None, wait_timeout=None)
    assert outcome.action.kind == MOVE and outcome.engine == "laptop"
    if destination_works:
        assert not outcome.failed
        assert server.calls == [("stop", "p-a"), ("remove", "p-a")] and names(server) == {}
        assert names(laptop) == {"p-a": "running"}
    else:
        assert outcome.error == ("the laptop's engine refused creating container 'p-a'; "
                                 "the previous container was restored and runs again")
        assert names(server) == {"p-a": "running"} and names(laptop) == {}


def test_every_engine_is_changed_at_once(tmp_path):
    """Each engine's first creation waits until the other engine has begun too: one after the other, neither would."""
    laptop, server = engine_with(name="laptop"), engine_with(name="server")
    both_started = threading.Barrier(2, timeout=5)

    def wait_for_the_other(container) -> None:
        both_started.wait()

    for engine in (laptop, server):
        engine.on_create = wait_for_the_other
    fleet = plan_fleet("p", {"laptop": laptop, "server": server},
                       fleet_specs(tmp_path, {"a": "laptop", "b": "server"}))
    outcomes = execute_fleet(fleet, lambda outcome: None, parallelism=1)
    assert sorted((outcome.engine, outcome.error) for outcome in outcomes) == [("laptop", None), ("server", None)]


def test_replacements_on_every_engine_share_the_applys_one_deadline(tmp_path):
    """A deadline already passed: each engine's replacement is judged at once and restored, instead of each engine
    getting a fresh timeout of its own."""
    placement = {"a": "laptop", "b": "server"}
    laptop, server = engine_with(name="laptop"), engine_with(name="server")
    before = fleet_specs(tmp_path, placement)
    laptop.run(before("laptop", lambda: laptop.kind)[0])
    server.run(before("server", lambda: server.kind)[0])
    fleet = plan_fleet("p", {"laptop": laptop, "server": server}, fleet_specs(tmp_path, placement),
                       replace=["a", "b"], known_tunnels=["a", "b"])
    spent = Deadline(timeout=60, at=time.monotonic())
    outcomes = execute_fleet(fleet, lambda outcome: None, wait_timeout=spent)
    restored = ("the new container did not come up: no public URL within 60s; last output: starting; the previous "
                "container was restored and runs again")
    assert {outcome.action.tunnel: outcome.error for outcome in outcomes} == dict.fromkeys(placement, restored)


def cli_specs(tmp_path, keepalive: int) -> ContainerSpec:
    """A tunnel of Pinggy's CLI (the default image, under tunnelctl's launcher) with a token of its own."""
    path = tmp_path / "tunnels.yaml"
    path.write_text(manifest_text("""
        version: 1
        project: p
        tunnels: [{name: a, port: 1, token: tokenaaaaaaaaa, image: pinggy/pinggy, keepalive: $keepalive}]
    """, keepalive=keepalive))
    [spec] = desired_specs(manifest.load(path, {}))
    return spec


def cli_engine(old: ContainerSpec, **options) -> FakeEngine:
    """The old container of the tunnel runs and is up at Pinggy; new ones come up as soon as they start."""
    engine = FakeEngine(images={"pinggy/pinggy": "sha256:2"}, **options)
    engine.run(old).print(BANNER, *URLS)
    engine.on_create = lambda container: container.print(BANNER, *URLS)
    engine.calls.clear()
    return engine


BANNER = "You can access local server via following URL(s):"


def test_a_recreate_whose_session_is_ours_takes_it_over_while_the_old_one_serves(tmp_path):
    engine = cli_engine(cli_specs(tmp_path, 30))
    old = engine.named("p-a")
    aside = f"p-a-replaced-{old.id[:12]}"
    [outcome] = carry_out(engine, [cli_specs(tmp_path, 45)], wait_timeout=30)
    assert outcome.action.takes_over and not outcome.failed
    # never stopped before the new one is up: the new one's one forced login ends its session
    assert engine.calls == [("rename", f"p-a->{aside}"), ("update", f"{aside}->restart no"),
                            ("create", "p-a-takeover"), ("start", "p-a-takeover"), ("commit_takeover", "p-a-takeover"),
                            ("stop", aside), ("remove", aside)]
    new = engine.named("p-a")
    assert (new.id, new.restart_policy) == (outcome.container_id, "unless-stopped")
    assert new.environment[TAKEOVER_VARIABLE] == "1" and names(engine) == {"p-a": "running"}


def test_an_old_container_that_is_not_up_is_replaced_as_usual(tmp_path):
    engine = cli_engine(cli_specs(tmp_path, 30))
    old = engine.named("p-a")
    old.output[:] = ["starting"]  # nothing since its latest start says it is up
    aside = f"p-a-replaced-{old.id[:12]}"
    [outcome] = carry_out(engine, [cli_specs(tmp_path, 45)], wait_timeout=30)
    assert not outcome.failed
    assert engine.calls == [("rename", f"p-a->{aside}"), ("update", f"{aside}->restart no"),
                            ("create", "p-a-takeover"), ("remove", "p-a-takeover"),
                            ("update", f"{aside}->restart unless-stopped"),
                            ("create", "p-a"), ("stop", aside), ("start", "p-a"), ("remove", aside)]
    assert TAKEOVER_VARIABLE not in engine.named("p-a").environment


def test_a_takeover_that_does_not_come_up_gives_the_old_container_back_with_its_restart_policy(tmp_path):
    engine = cli_engine(cli_specs(tmp_path, 30))
    old_id = engine.named("p-a").id
    engine.on_create = lambda container: container.exit(1, "✖ Error: Failed to start tunnel: refused")
    [outcome] = carry_out(engine, [cli_specs(tmp_path, 45)], wait_timeout=5)
    assert (outcome.error or "").endswith("; the previous container was restored and runs again"), outcome.error
    old = engine.named("p-a")
    assert (old.id, old.state, old.restart_policy) == (old_id, "running", "unless-stopped")
    assert names(engine) == {"p-a": "running"}


@pytest.mark.parametrize("why", ["--no-wait", "an engine that cannot change a restart policy"])
def test_without_a_wait_or_a_restart_policy_to_change_the_replacement_is_the_usual_one(tmp_path, why):
    from provisioner.engine.platforms import describe

    podman = {"kind": describe({"BuildahVersion": "1.28.0", "ServerVersion": "4.3.1"})} if why != "--no-wait" else {}
    engine = cli_engine(cli_specs(tmp_path, 30), **podman)
    [outcome] = carry_out(engine, [cli_specs(tmp_path, 45)], wait_timeout=None if why == "--no-wait" else 30)
    assert not outcome.failed and outcome.action.takes_over
    assert [call for call, _ in engine.calls] == ["rename", "create", "stop", "start", "remove"]


class Killed(BaseException):
    """The apply's process dying at that step (what test_safe_apply.py does to a real one, with SIGKILL)."""


@pytest.mark.parametrize("step", range(7))
def test_a_takeover_killed_at_any_step_leaves_nothing_that_could_force_again_and_the_next_apply_converges(
        tmp_path, step):
    engine = cli_engine(cli_specs(tmp_path, 30))
    wanted = cli_specs(tmp_path, 45)
    steps, record = [0], engine._step

    def dying(operation: str, target: str, to: str = "") -> None:
        if steps[0] == step:
            raise Killed
        steps[0] += 1
        record(operation, target, to)

    engine._step = dying  # type: ignore[method-assign]
    with pytest.raises(Killed):
        carry_out(engine, [wanted], wait_timeout=30)
    engine._step = record  # type: ignore[method-assign]
    # a takeover container that never ran has not written its marker: it must never be started, only removed
    assert not [container for container in engine.containers.values()
                if TAKEOVER_VARIABLE in container.environment and container.started_at is None
                and container.name == wanted.container_name]
    carry_out(engine, [wanted], wait_timeout=30)
    [survivor] = engine.containers.values()
    assert (survivor.name, survivor.state, survivor.restart_policy) == ("p-a", "running", "unless-stopped")
    again = plan("p", [wanted], engine.observe("p", [wanted.container_name]))
    assert not again.has_changes
