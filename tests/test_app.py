"""The commands in-process: each app function runs against a FakeEngine (handed to it as the engine opener) with the
CLI's own views writing to strings, and the tests read what a user would see, and the exit code. Milliseconds each;
the subprocess tests (run_tunnelctl) remain for the end-to-end claims, the Docker tier for the engine's."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.app import changes, mcp_tools, running
from provisioner.cli.console import Console
from provisioner.cli.views import HumanView, JsonView
from provisioner.constants import EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from provisioner.engine.fake import FakeContainer, FakeEngine
from provisioner.errors import UserError
from provisioner.mcp.url_memory import note_urls

IMAGE = "pinggy/pinggy:latest"
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"
MANIFEST = f"""\
version: 1
project: demo
tunnels:
  - {{name: web, port: 8080, access_keys: [{KEY}]}}
  - {{name: mcp, port: 3845, mcp: true, access_keys: [{KEY}], headers: {{update: {{Host: "localhost:3845"}}}}}}
"""
APPROVED = changes.ExecuteOptions(auto_approve=True, wait_timeout=5)


def comes_up(container: FakeContainer) -> None:
    container.print("You can access local server via following URL(s):", f"https://{container.name}.a.pinggy.link")


def refused(container: FakeContainer) -> None:
    container.exit(1, "Login is not allowed: A tunnel with the same token x is already active.")


@dataclass
class Shown:
    code: int
    out: str
    err: str


@pytest.fixture
def engine(monkeypatch, tmp_path) -> FakeEngine:
    monkeypatch.setenv("TUNNELCTL_LOCK_DIR", str(tmp_path / "locks"))
    fake = FakeEngine(images={IMAGE: "sha256:" + "1" * 64}, registry=[IMAGE], is_local=False)
    fake.on_create = comes_up
    return fake


@pytest.fixture
def path(tmp_path) -> Path:
    written = tmp_path / "tunnels.yaml"
    written.write_text(MANIFEST)
    return written


@pytest.fixture
def run(engine) -> Callable[..., Shown]:
    """Run one app function as the CLI would (its options, a view on a console), with the fake as every engine."""
    def run_one(function, options, json_output: bool = False) -> Shown:
        out, err = io.StringIO(), io.StringIO()
        view = (JsonView if json_output else HumanView)(Console(out, err))
        code = function(options, view, lambda configs, selected: dict.fromkeys(configs, engine))
        view.finish(code)  # as the CLI does: a JSON view prints its document then
        return Shown(code, out.getvalue(), err.getvalue())
    return run_one


def test_plan_lists_what_apply_would_create_and_changes_nothing(run, engine, path):
    shown = run(changes.plan, changes.PlanOptions(changes.Scope(path)))
    assert shown.code == EXIT_OK and shown.err == ""
    assert "  + web  create    demo-web (127.0.0.1:8080 → free.pinggy.io:443)" in shown.out
    assert shown.out.rstrip().endswith("Plan: 2 to create, 0 to recreate, 0 to remove.")
    assert engine.calls == []
    assert run(changes.plan, changes.PlanOptions(changes.Scope(path), detailed_exitcode=True)).code == EXIT_CHANGES


def test_apply_creates_waits_and_shows_the_urls_then_a_second_apply_changes_nothing(run, engine, path):
    shown = run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    assert shown.code == EXIT_OK
    assert "Apply complete: 2 created, 0 recreated, 0 removed." in shown.out
    assert "web     up     https://demo-web.a.pinggy.link" in shown.out
    again = run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    assert again.out.strip() == "No changes. Project 'demo': 2 tunnels up to date."
    assert [call for call in engine.calls if call[0] == "create"] == [("create", "demo-web"), ("create", "demo-mcp")]


def test_a_replacement_that_does_not_come_up_is_rolled_back_and_said(run, engine, path):
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    old = engine.named("demo-web").id
    path.write_text(MANIFEST.replace("8080", "8081"))
    engine.on_create = refused
    shown = run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    assert shown.code == EXIT_ERROR
    assert "-/+ web  recreate  demo-web: port changed" in shown.out
    assert "web: failed to recreate: the new container did not come up: Pinggy refused the login" in shown.out
    assert "the previous container was restored and runs again" in shown.out
    restored = engine.named("demo-web")
    assert (restored.id, restored.state) == (old, "running")


def test_a_saved_plan_applies_as_reviewed_and_is_refused_once_the_manifest_changed(run, engine, path, tmp_path):
    saved = tmp_path / "reviewed.plan"
    shown = run(changes.plan, changes.PlanOptions(changes.Scope(path), out=saved))
    assert f"Saved the plan to {saved}; carry it out with: tunnelctl apply {saved}" in shown.out
    applied = run(changes.apply_saved_plan, changes.SavedPlanOptions(saved, execute=APPROVED))
    assert applied.code == EXIT_OK and "Apply complete: 2 created" in applied.out
    run(changes.plan, changes.PlanOptions(changes.Scope(path), out=saved))
    path.write_text(MANIFEST.replace("8080", "8082"))
    with pytest.raises(UserError, match=r"is stale: the manifest .* changed since"):
        run(changes.apply_saved_plan, changes.SavedPlanOptions(saved, execute=APPROVED))
    assert engine.named("demo-web").state == "running"


def test_destroy_removes_the_projects_containers_and_says_so(run, engine, path):
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    shown = run(changes.destroy, changes.DestroyOptions(changes.Scope(path), APPROVED))
    assert shown.code == EXIT_OK
    assert "  - web  remove    demo-web: destroy" in shown.out and "Destroy complete: 2 removed." in shown.out
    assert engine.containers == {}


def test_status_shows_each_tunnel_its_urls_and_the_mcp_url_in_text_and_json(run, engine, path):
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    shown = run(running.status, running.StatusOptions(path))
    assert shown.code == EXIT_OK
    rows = [line.split() for line in shown.out.splitlines()[2:] if line and not line.startswith(" ")]
    [header, web, mcp] = rows  # a row per tunnel; its URLs beneath it
    assert header[:2] == ["TUNNEL", "STATE"] and web[:2] == ["web", "up"] and mcp[:2] == ["mcp", "up"]
    assert "    MCP: https://demo-mcp.a.pinggy.link/mcp" in shown.out.splitlines()
    document = json.loads(run(running.status, running.StatusOptions(path), json_output=True).out)
    assert [(item["tunnel"], item["ok"]) for item in document["tunnels"]] == [("web", True), ("mcp", True)]


def test_status_of_a_stopped_tunnel_is_degraded_and_names_it(run, engine, path):
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    engine.stop(engine.named("demo-web").id)
    shown = run(running.status, running.StatusOptions(path))
    assert shown.code != EXIT_OK
    assert any(line.split()[:2] == ["web", "exited"] for line in shown.out.splitlines())


def test_connect_prints_the_clients_command_for_the_running_url_without_the_key(run, engine, path):
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    shown = run(mcp_tools.connect, mcp_tools.ConnectOptions(path, "mcp", "claude-code"))
    assert shown.code == EXIT_OK
    assert shown.out.startswith("claude mcp add --transport http mcp https://demo-mcp.a.pinggy.link/mcp")
    assert KEY not in shown.out + shown.err


def test_apply_says_a_moved_url_and_brings_the_written_file_along_and_connect_keeps_its_stdout_clean(
        run, engine, path, tmp_path):
    """In process against the fake engine, through the CLI's own views: what a user reads."""
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    cursor = tmp_path / ".cursor" / "mcp.json"
    wrote = run(mcp_tools.connect, mcp_tools.ConnectOptions(path, "mcp", "cursor", write=True, file=cursor))
    assert wrote.code == 0 and f"{cursor}: wrote 'mcp' at https://demo-mcp.a.pinggy.link/mcp" in wrote.out
    engine.on_create = lambda container: container.print("You can access local server via following URL(s):",
                                                         "https://moved.a.pinggy.link")
    replaced = run(changes.apply, changes.ApplyOptions(changes.Scope(path, replace=("mcp",)), APPROVED))
    assert ("mcp: URL changed: https://demo-mcp.a.pinggy.link/mcp → https://moved.a.pinggy.link/mcp\n"
            f"mcp: updated {cursor} to the new URL\n") in replaced.out
    assert json.loads(cursor.read_text())["mcpServers"]["mcp"]["url"] == "https://moved.a.pinggy.link/mcp"
    assert "URL changed" not in run(running.status, running.StatusOptions(path)).out  # news once

    note_urls("demo", {"mcp": "https://older.a.pinggy.link/mcp"})  # as if another tunnelctl had reported another
    pasted = run(mcp_tools.connect, mcp_tools.ConnectOptions(path, "mcp", "claude-code"))
    assert pasted.out.splitlines()[0].startswith("claude mcp add") and len(pasted.out.splitlines()) == 1
    assert "mcp: URL changed: https://older.a.pinggy.link/mcp → https://moved.a.pinggy.link/mcp" in pasted.err


def test_connect_gives_no_client_a_key_for_a_plain_http_url(run, engine, path):
    engine.on_create = lambda container: container.print("You can access local server via following URL(s):",
                                                         f"http://{container.name}.a.pinggy.link")
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    with pytest.raises(UserError, match=r"has no https URL \(http://demo-mcp.a.pinggy.link/mcp\): an MCP client would"):
        run(mcp_tools.connect, mcp_tools.ConnectOptions(path, "mcp", "claude-code"))


def test_check_says_what_it_could_not_check_from_here(run, engine, path, monkeypatch):
    """The public side goes to the edge TUNNELCTL_EDGE names: a closed loopback port, so nothing leaves the machine."""
    monkeypatch.setenv("TUNNELCTL_EDGE", "http=127.0.0.1:9,https=127.0.0.1:9")
    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    shown = run(mcp_tools.check, mcp_tools.CheckOptions(path, targets=("mcp",), timeout=2))
    assert shown.code == EXIT_ERROR
    assert "SKIP  local" in shown.out and "is on the tunnel's own engine, not this machine" in shown.out
    assert "FAIL  public" in shown.out and shown.out.rstrip().endswith("(1 part skipped).")


def test_an_apply_that_cleans_up_leftovers_waits_for_the_tunnel_it_kept(run, engine, path):
    """After an apply killed mid-recreate, the next one removes the leftover; the kept container was refused while
    the leftover held the token and keeps restarting: apply waits for it as for a new one, and does not exit 0."""
    from provisioner import manifest
    from provisioner.desired.specs import desired_specs

    run(changes.apply, changes.ApplyOptions(changes.Scope(path), APPROVED))
    [web] = [spec for spec in desired_specs(manifest.load(path, {})) if spec.tunnel == "web"]
    engine.run(web).name = "demo-web-replaced-0123456789ab"  # the renamed old container, running
    kept = engine.named("demo-web")
    kept.state, kept.exit_code = "restarting", 1
    kept.print("Login is not allowed: A tunnel with the same token x is already active.")
    briefly = changes.ExecuteOptions(auto_approve=True, wait_timeout=0.5)
    shown = run(changes.apply, changes.ApplyOptions(changes.Scope(path), briefly))
    assert "- web  remove" in shown.out and "leftover of an interrupted apply" in shown.out
    assert shown.code == EXIT_ERROR, shown.out
    assert "web: Pinggy refused the login: Login is not allowed" in shown.out and "still refused after" in shown.out
    kept.state = "running"  # Docker's next restart logs in, the token now free
    comes_up(kept)
    again = run(changes.apply, changes.ApplyOptions(changes.Scope(path), briefly))
    assert again.code == EXIT_OK


def test_doctor_checks_the_engine_the_image_and_the_server_in_order_and_says_what_failed(run, engine, path):
    """The server is a closed loopback port: nothing leaves the machine."""
    path.write_text(MANIFEST.replace("port: 8080,", "port: 8080, server: 127.0.0.1, server_port: 9,")
                    .replace("port: 3845,", "port: 3845, server: 127.0.0.1, server_port: 9,"))
    shown = run(running.doctor, running.DoctorOptions(path))
    assert shown.code == EXIT_ERROR
    sections = [line for line in shown.out.splitlines() if line and not line.startswith(" ")]
    assert sections[1:6] == ["Manifest", "Engines", "Images", "Pinggy servers", "Local ports"]
    assert "  OK    default: Docker at fake://engine; it speaks API 1.24 to 1.47, tunnelctl uses 1.41" in shown.out
    assert "  OK    pinggy/pinggy:latest on default: present" in shown.out
    assert "  FAIL  127.0.0.1:9: 127.0.0.1 refuses connections on port 9: check `server_port:`" in shown.out
    assert shown.out.rstrip().endswith("checks failed.")


def test_a_saved_plan_lets_no_one_test_guesses_of_a_value_made_from_the_environment(run, path, tmp_path,
                                                                                      monkeypatch):
    """`token: "{{ env.S[0] }}"` has 62 possible values: hashed plainly, the desired digest of a plan file (a CI
    artifact) would tell which, tried offline. Salted with the whole variable, it does not."""
    path.write_text(MANIFEST.replace("{name: web, port: 8080,", '{name: web, port: 8080, token: "{{ env.S[0] }}",'))
    saved = tmp_path / "saved.plan"

    def desired_digest(secret: str) -> str:
        monkeypatch.setenv("S", secret)
        run(changes.plan, changes.PlanOptions(changes.Scope(path), out=saved))
        return json.loads(saved.read_text())["engines"]["default"]["desired_digest"]

    ci = desired_digest("Qz7Cn4ryS3ceatWv")
    guesses = {desired_digest(guess) for guess in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    assert ci not in guesses and len(guesses) == 62
    assert desired_digest("Qz7Cn4ryS3ceatWv") == ci  # the same variables, the same digest: apply PLAN still works
