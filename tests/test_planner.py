"""The planner alone: pure data in, actions out, no Docker anywhere."""

from __future__ import annotations

import subprocess
import sys

from provisioner.labels import encode_digests
from provisioner.model import ContainerSpec, Observation, ObservedContainer
from provisioner.planner import CONFLICT, CREATE, RECREATE, REMOVE, UNCHANGED, plan


def spec(tunnel: str, digest: str = "d1", **settings: str) -> ContainerSpec:
    settings = {"port": digest, **settings}
    return ContainerSpec(tunnel=tunnel, project="p", container_name=f"p-{tunnel}", image="img",
                         command=("-p", "443"), restart_policy="unless-stopped",
                         spec_hash="hash-" + "-".join(settings.values()), local_host="127.0.0.1", local_port=1,
                         target="127.0.0.1:1 → free.pinggy.io:443", settings=settings)


def running(desired: ContainerSpec, state: str = "running", status: str = "Up 3 minutes",
            **override) -> ObservedContainer:
    fields = {"id": f"id-{desired.tunnel}-0123456789", "name": desired.container_name, "tunnel": desired.tunnel,
                  "state": state, "status": status, "spec_hash": desired.spec_hash,
                  "digest_label": encode_digests(desired.setting_digests)}
    return ObservedContainer(**{**fields, **override})


def kinds(result) -> dict[str, str]:
    return {action.tunnel: action.kind for action in result.actions}


def test_nothing_running_means_create_everything():
    result = plan("p", [spec("a"), spec("b")], Observation(()))
    assert kinds(result) == {"a": CREATE, "b": CREATE}
    assert result.has_changes and result.count(CREATE) == 2


def test_converged_state_is_unchanged_and_has_no_changes():
    a, b = spec("a"), spec("b")
    result = plan("p", [a, b], Observation((running(a), running(b))))
    assert kinds(result) == {"a": UNCHANGED, "b": UNCHANGED}
    assert not result.has_changes


def test_changed_setting_recreates_and_names_the_setting():
    old, new = spec("a", "d1", token="t1"), spec("a", "d1", token="t2")
    [action] = plan("p", [new], Observation((running(old),))).actions
    assert action.kind == RECREATE
    assert action.reasons == ("token changed",)
    assert action.replaces[0].id.startswith("id-a")


def test_stopped_container_is_recreated_with_its_status_as_reason():
    a = spec("a")
    [action] = plan("p", [a], Observation((running(a, state="exited", status="Exited (137) 5 seconds ago"),))).actions
    assert action.kind == RECREATE
    assert action.reasons == ("container is not running (Exited (137) 5 seconds ago)",)


def test_hash_change_without_setting_change_still_recreates():
    a = spec("a")
    [action] = plan("p", [a], Observation((running(a, spec_hash="from-an-older-tunnelctl"),))).actions
    assert action.kind == RECREATE and action.reasons == ("container configuration changed",)


def test_a_container_of_an_earlier_layout_is_recreated_once_and_says_why():
    a = spec("a")
    unhardened = running(a, spec_hash="hash-without-hardening", spec_version="1")
    [action] = plan("p", [a], Observation((unhardened,))).actions
    assert action.kind == RECREATE
    assert action.reasons == (
        "made by another tunnelctl version (container layout 1, this one's is 2): recreated once",)
    [again] = plan("p", [a], Observation((running(a),))).actions  # the new container has the new layout
    assert again.kind == UNCHANGED


def test_tunnel_gone_from_manifest_is_removed():
    a, gone = spec("a"), spec("gone")
    result = plan("p", [a], Observation((running(a), running(gone))))
    assert kinds(result) == {"a": UNCHANGED, "gone": REMOVE}
    assert result.actions[-1].replaces[0].name == "p-gone"


def test_leftovers_beside_a_healthy_container_are_removed_and_it_is_kept():
    a = spec("a")
    aside = running(a, id="id-aside-0123456789", name="p-a-old", state="exited", status="Exited (0)")
    result = plan("p", [a], Observation((running(a), aside)))
    assert [(action.kind, action.tunnel) for action in result.actions] == [(UNCHANGED, "a"), (REMOVE, "a")]
    assert result.actions[1].replaces == (aside,)
    assert "leftover of an interrupted apply: p-a-old" in result.actions[1].reasons[0]


def test_several_containers_and_none_healthy_are_replaced_by_one():
    a = spec("a")
    twins = (running(a, state="created", status="Created"), running(a, id="id-twin-0123456789", name="p-a-old",
                                                                   state="exited", status="Exited (0)"))
    [action] = plan("p", [a], Observation(twins)).actions
    assert action.kind == RECREATE and len(action.replaces) == 2
    assert "2 containers run this tunnel" in action.reasons[0]


def test_a_container_renamed_aside_by_an_interrupted_apply_is_replaced():
    a = spec("a")
    [action] = plan("p", [a], Observation((running(a, name="p-a-replaced-0123"),))).actions
    assert action.kind == RECREATE
    assert action.reasons == ("container is named 'p-a-replaced-0123' (left by an interrupted apply)",)


def test_replace_forces_a_recreate_of_a_matching_container():
    a, b = spec("a"), spec("b")
    result = plan("p", [a, b], Observation((running(a), running(b))), replace={"b"})
    assert kinds(result) == {"a": UNCHANGED, "b": RECREATE}
    assert result.actions[1].reasons == ("replacement requested (--replace)",)


def test_a_tag_that_now_names_another_image_is_drift():
    a = spec("a")
    observed = Observation((running(a, image_id="sha256:old"),), image_ids={"img": "sha256:new"})
    [action] = plan("p", [a], observed).actions
    assert action.kind == RECREATE and action.reasons == (
        "image img now points to sha256:new (the container runs sha256:old)",)
    same = Observation((running(a, image_id="sha256:new"),), image_ids={"img": "sha256:new"})
    assert kinds(plan("p", [a], same)) == {"a": UNCHANGED}


def test_a_container_restarting_in_a_loop_is_reported_not_recreated():
    a = spec("a")
    result = plan("p", [a], Observation((running(a, state="restarting", status="Restarting (255) 2 seconds ago"),)))
    assert kinds(result) == {"a": UNCHANGED} and not result.has_changes
    assert result.health_notes == ("a: keeps restarting (Restarting (255) 2 seconds ago): see tunnelctl logs a",)


def test_name_held_by_a_foreign_container_blocks_only_that_tunnel():
    a, b = spec("a"), spec("b")
    result = plan("p", [a, b], Observation((), {"p-a": "container abc (not managed by tunnelctl)"}))
    assert kinds(result) == {"a": CONFLICT, "b": CREATE}
    assert result.conflicts[0].replaces == ()  # the foreign container is never scheduled for removal
    assert "container abc (not managed by tunnelctl)" in result.conflicts[0].reasons[0]


def test_destroy_is_a_plan_with_nothing_desired():
    a, b = spec("a"), spec("b")
    result = plan("p", [], Observation((running(a), running(b))))
    assert kinds(result) == {"a": REMOVE, "b": REMOVE}


def test_planner_does_not_import_docker():
    code = "import sys, provisioner.planner, provisioner.specs; print('docker' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_a_tunnel_created_on_one_engine_and_removed_from_another_is_a_move():
    from provisioner.planner import find_moves

    a, b = spec("a"), spec("b")
    plans = {"laptop": plan("p", [a, b], Observation((running(b),))),  # a is new here
             "server": plan("p", [], Observation((running(a),)))}  # and leaves here
    remaining, moves = find_moves(plans)
    [move] = moves
    assert (move.tunnel, move.source, move.destination) == ("a", "server", "laptop")
    assert move.remove.replaces[0].id.startswith("id-a")
    assert kinds(remaining["laptop"]) == {"b": UNCHANGED} and remaining["server"].actions == ()
