"""The planner as a table: each file in planner_cases/ is a manifest, the containers an engine holds, and the plan
expected from them. To add a case, add a file; its comment says what the case is about.

    manifest: |            the manifest, as a user writes it (no variables)
    observed:              the engine's containers of the project, each made from the manifest's tunnel:
      - tunnel: a            …of this name (a tunnel not in the manifest needs `entry`)
        entry: {port: 2}     …with these settings changed or added (what an older manifest said)
        name: p-a-old        …named otherwise than the manifest says
        state: exited        …in this state (default running; status: Docker's text, by default from the state)
        image_id: sha256:1   …running this image
        spec_hash: old       …labelled with another spec hash
        spec_version: "1"    …made by a tunnelctl of another container layout
    foreign: {NAME: HOLDER}  container names held by containers that are not the project's
    image_ids: {IMAGE: ID}   what each image reference names on the engine now
    replace: [a]             --replace
    expected:                the actions, in the planner's order
      - {tunnel: a, action: recreate, reasons: ["port changed"], replaces: [p-a]}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from provisioner import manifest
from provisioner.desired.labels import SPEC_FORMAT, encode_digests
from provisioner.desired.model import ContainerSpec, Observation, ObservedContainer
from provisioner.desired.specs import desired_specs
from provisioner.plan.planner import plan

CASES = sorted((Path(__file__).parent / "planner_cases").glob("*.yaml"))
STATUS = {"running": "Up 3 minutes", "exited": "Exited (0) 5 seconds ago", "created": "Created",
          "restarting": "Restarting (255) 2 seconds ago"}


def specs_of(manifest_text: str, directory: Path) -> dict[str, ContainerSpec]:
    path = directory / "tunnels.yaml"
    path.write_text(manifest_text)
    return {spec.tunnel: spec for spec in desired_specs(manifest.load(path, {}))}


def made_from(case: dict[str, Any], item: dict[str, Any], directory: Path) -> ContainerSpec:
    """The spec the container was made from: the manifest's tunnel, with the item's `entry` settings."""
    document = yaml.safe_load(case["manifest"])
    entries = document["tunnels"]
    entry = next((entry for entry in entries if entry["name"] == item["tunnel"]), None)
    if entry is None:
        entry = {"name": item["tunnel"]}
        entries.append(entry)
    entry.update(item.get("entry", {}))
    return specs_of(yaml.safe_dump(document), directory)[item["tunnel"]]


def observed(case: dict[str, Any], directory: Path) -> Observation:
    containers = []
    for number, item in enumerate(case.get("observed") or ()):
        spec = made_from(case, item, directory)
        state = item.get("state", "running")
        containers.append(ObservedContainer(
            id=f"{number:02d}" + "c0ffee" * 10, name=item.get("name", spec.container_name), tunnel=spec.tunnel,
            state=state, status=item.get("status", STATUS[state]), spec_hash=item.get("spec_hash", spec.spec_hash),
            digest_label=encode_digests(spec.setting_digests), image_id=item.get("image_id", ""),
            spec_version=item.get("spec_version", SPEC_FORMAT), relay_for=item.get("relay_for", ""),
            relay_state=item.get("relay_state")))
    return Observation(tuple(containers), case.get("foreign") or {}, case.get("image_ids") or {})


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_planner_case(path, tmp_path):
    case = yaml.safe_load(path.read_text())
    engine = observed(case, tmp_path)
    wanted = specs_of(case["manifest"], tmp_path)
    result = plan("p", wanted.values(), engine, replace=case.get("replace", ()))
    actual = [{"tunnel": action.tunnel, "action": action.kind, "reasons": list(action.reasons),
               "replaces": [container.name for container in action.replaces]} for action in result.actions]
    expected = [{"reasons": [], "replaces": [], **row} for row in case["expected"]]
    assert actual == expected


def test_there_are_cases():
    assert len(CASES) >= 10
