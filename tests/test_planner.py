"""The planner alone: pure data in, actions out, no Docker anywhere."""

from __future__ import annotations

import subprocess
import sys

from conftest import settings_of
from provisioner.desired.labels import encode_digests
from provisioner.desired.model import ContainerSpec, Observation, ObservedContainer
from provisioner.plan.planner import CONFLICT, CREATE, REMOVE, UNCHANGED, plan


def spec(tunnel: str, digest: str = "d1", **settings: str) -> ContainerSpec:
    settings = {"port": digest, **settings}
    return ContainerSpec(tunnel=tunnel, project="p", container_name=f"p-{tunnel}", image="img",
                         command=("-p", "443"), restart_policy="unless-stopped",
                         spec_hash="hash-" + "-".join(settings.values()), local_host="127.0.0.1", local_port=1,
                         target="127.0.0.1:1 → free.pinggy.io:443", settings=settings_of(**settings))


def running(desired: ContainerSpec, state: str = "running", status: str = "Up 3 minutes",
            **override) -> ObservedContainer:
    fields = {"id": f"id-{desired.tunnel}-0123456789", "name": desired.container_name, "tunnel": desired.tunnel,
                  "state": state, "status": status, "spec_hash": desired.spec_hash,
                  "digest_label": encode_digests(desired.setting_digests)}
    return ObservedContainer(**{**fields, **override})


def kinds(result) -> dict[str, str]:
    return {action.tunnel: action.kind for action in result.actions}


# What each situation plans is a table: planner_cases/ (test_planner_cases.py). Here: the plan's summary properties,
# destroy, moves between engines, and the planner's purity.
def test_a_plans_counts_conflicts_and_health_notes_are_what_its_actions_say():
    a, b, c, d = spec("a"), spec("b"), spec("c"), spec("d")
    result = plan("p", [a, b, c, d], Observation(
        (running(b), running(c, state="restarting", status="Restarting (255) 2 seconds ago")),
        {"p-d": "container abc (not managed by tunnelctl)"}))
    assert kinds(result) == {"a": CREATE, "b": UNCHANGED, "c": UNCHANGED, "d": CONFLICT}
    assert result.has_changes and (result.count(CREATE), result.count(UNCHANGED)) == (1, 2)
    assert [action.tunnel for action in result.conflicts] == ["d"]
    assert result.conflicts[0].replaces == ()  # the foreign container is never scheduled for removal
    assert result.health_notes == ("c: keeps restarting (Restarting (255) 2 seconds ago): see tunnelctl logs c",)
    converged = plan("p", [b], Observation((running(b),)))
    assert not converged.has_changes and converged.health_notes == ()


def test_destroy_is_a_plan_with_nothing_desired():
    a, b = spec("a"), spec("b")
    result = plan("p", [], Observation((running(a), running(b))))
    assert kinds(result) == {"a": REMOVE, "b": REMOVE}


def test_planner_does_not_import_docker():
    code = "import sys, provisioner.plan.planner, provisioner.desired.specs; print('docker' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_tunnel_created_on_one_engine_and_removed_from_another_is_a_move():
    from provisioner.plan.planner import find_moves

    a, b = spec("a"), spec("b")
    plans = {"laptop": plan("p", [a, b], Observation((running(b),))),  # a is new here
             "server": plan("p", [], Observation((running(a),)))}  # and leaves here
    remaining, moves = find_moves(plans)
    [move] = moves
    assert (move.tunnel, move.source, move.destination) == ("a", "server", "laptop")
    assert move.remove.replaces[0].id.startswith("id-a")
    assert kinds(remaining["laptop"]) == {"b": UNCHANGED} and remaining["server"].actions == ()


def test_a_recreate_takes_the_session_over_only_while_no_other_container_of_ours_runs_with_its_token(tmp_path):
    from dataclasses import replace

    from test_planner_cases import specs_of

    from provisioner.plan.planner import TAKEOVER_REASON

    def cli_tunnel(keepalive: int) -> ContainerSpec:
        return specs_of(f"""
            version: 1
            project: p
            tunnels: [{{name: a, port: 1, token: tokenaaaaaaaaa, image: pinggy/pinggy, keepalive: {keepalive}}}]
        """.replace("\n            ", "\n"), tmp_path)["a"]

    old, new = cli_tunnel(30), cli_tunnel(45)
    alone = plan("p", [new], Observation((running(old),)))
    assert alone.actions[0].takes_over and alone.actions[0].reasons[-1] == TAKEOVER_REASON
    # a tunnel gone from the manifest whose container still runs with the same token
    other = replace(running(old), id="id-gone-0123456789", name="p-gone", tunnel="gone")
    shared = plan("p", [new], Observation((running(old), other)))
    assert not shared.actions[0].takes_over and TAKEOVER_REASON not in shared.actions[0].reasons
