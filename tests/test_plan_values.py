"""plan shows settings Terraform's way: `old → new` for every changed setting that holds no secret, every attribute of
a create, and `(sensitive)` for the rest; the values a container records for this never include a secret."""

from __future__ import annotations

import json

from conftest import manifest_text
from provisioner.cli.render import plan_text
from provisioner.desired.labels import SETTING_VALUES
from provisioner.desired.model import Observation, ObservedContainer
from provisioner.desired.specs import desired_specs
from provisioner.manifest import load
from provisioner.plan.fleet import EnginePlan, FleetPlan, plan_document
from provisioner.plan.planner import plan

KEY = "k3yFromTheEnvironment0123456789abcdef"
TOKEN = "tokenFromTheEnv42"


def spec_for(tmp_path, monkeypatch, port: int, header: str = "plain"):
    monkeypatch.setenv("KEY", KEY)
    monkeypatch.setenv("TOKEN", TOKEN)
    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: p
        tunnels:
          - name: web
            port: $port
            token: "{{ env.TOKEN }}"
            access_keys: ["{{ env.KEY }}"]
            headers: {add: {X-Plain: $header, X-Auth: "{{ env.KEY }}"}}
            keepalive: 30
    """, port=port, header=header))
    [spec] = desired_specs(load(tmp_path / "tunnels.yaml"))
    return spec


def running(spec) -> ObservedContainer:
    labels = {**spec.labels, **spec.annotations}  # as Docker stores them
    return ObservedContainer(id="c0ffee" * 4, name=spec.container_name, tunnel=spec.tunnel, state="running",
                             status="Up", spec_hash=spec.spec_hash,
                             digest_label=labels["io.tunnelctl.setting-digests"],
                             values_label=labels[SETTING_VALUES])


def shown(result) -> tuple[str, dict]:
    fleet = FleetPlan("p", (EnginePlan("default", "unix:///x", None, result, "", ""),))  # type: ignore[arg-type]
    return plan_text(fleet), plan_document(fleet)


def test_a_change_shows_old_and_new_values_and_hides_secrets(tmp_path, monkeypatch):
    before = spec_for(tmp_path, monkeypatch, 38451)
    after = spec_for(tmp_path, monkeypatch, 38452)
    text, document = shown(plan("p", [after], Observation((running(before),))))
    assert "~ port: 38451 → 38452" in text
    assert KEY not in text + json.dumps(document) and TOKEN not in text + json.dumps(document)
    [action] = document["actions"]
    assert action["settings"] == [{"setting": "port", "old": 38451, "new": 38452, "sensitive": False}]


def test_a_header_that_carries_a_secret_is_sensitive_and_never_recorded(tmp_path, monkeypatch):
    before = spec_for(tmp_path, monkeypatch, 38451, header="one")
    after = spec_for(tmp_path, monkeypatch, 38451, header="two")
    recorded = before.annotations[SETTING_VALUES]
    assert KEY not in recorded and TOKEN not in recorded and json.loads(recorded)["keepalive"] == 30
    text, document = shown(plan("p", [after], Observation((running(before),))))
    assert "~ headers: (sensitive)" in text
    assert document["actions"][0]["settings"] == [{"setting": "headers", "old": None, "new": None,
                                                   "sensitive": True}]


def test_a_create_lists_its_attributes(tmp_path, monkeypatch):
    text, document = shown(plan("p", [spec_for(tmp_path, monkeypatch, 38451)], Observation(())))
    lines = text.splitlines()
    assert "  + web  create    p-web (127.0.0.1:38451 → pro.pinggy.io:443)" in lines
    for line in ("+ port: 38451", "+ keepalive: 30", "+ token: (sensitive)", "+ access_keys: (sensitive)",
                 "+ headers: (sensitive)", '+ image: "pinggy/pinggy:latest"'):
        assert " " * 9 + line in lines, text
    assert KEY not in text + json.dumps(document) and TOKEN not in text + json.dumps(document)
    assert {"setting": "port", "old": None, "new": 38451, "sensitive": False} in document["actions"][0]["settings"]


def test_a_container_that_recorded_no_values_says_so(tmp_path, monkeypatch):
    before = spec_for(tmp_path, monkeypatch, 38451)
    after = spec_for(tmp_path, monkeypatch, 38452)
    older = ObservedContainer(**{**running(before).__dict__, "values_label": ""})  # made by an older tunnelctl
    text, _ = shown(plan("p", [after], Observation((older,))))
    assert "~ port: (not recorded) → 38452" in text
