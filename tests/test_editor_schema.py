"""An editor sees what tunnelctl sees: a third-party validator (ajv, installed by scripts/setup) checks manifests
against the schema tunnelctl publishes for editors, and agrees with `tunnelctl validate`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_tunnelctl

ENV = {"PINGGY_TOKEN": "tok", "FIGMA_ACCESS_KEY": "0123456789abcdef" * 4, "MCP_ACCESS_KEY": "fedcba9876543210" * 4,
       "PORT": "3845", "FORCE": "yes"}

pytestmark = pytest.mark.npm  # ajv


@pytest.fixture(scope="session")
def ajv() -> str:
    found = shutil.which("ajv")
    if not found:
        pytest.fail("ajv (npm ajv-cli) is missing; run scripts/setup")
    return found


def editor_check(ajv: str, manifest: Path, schema: Path = REPO / "schemas" / "editor.schema.json") -> str:
    """ajv's verdict on the manifest (named *.yaml: ajv reads YAML by the file's extension), as an editor would give
    it: '' when valid, else its complaints."""
    result = subprocess.run([ajv, "validate", "--spec=draft2020", "--strict=false", "--errors=text",
                             "-s", str(schema), "-d", str(manifest)], capture_output=True, text=True, timeout=60)
    assert result.returncode in (0, 1), result.stderr
    return "" if result.returncode == 0 else result.stderr


def schema_named_by(manifest: Path) -> Path:
    """The file a manifest's `# yaml-language-server: $schema=…` line points to, as an editor resolves it."""
    first = manifest.read_text().splitlines()[0]
    return (manifest.parent / first.split("$schema=", 1)[1]).resolve()


def demo_manifest() -> str:
    text = (REPO / "scripts" / "demo").read_text()
    found = re.search(r"<<YAML\n(.*?)\nYAML\n", text, re.DOTALL)
    assert found, "scripts/demo holds no manifest"
    return (found.group(1).replace("$standin_port", "2222").replace("$port", "8000")
            .replace("$image", "tunnelctl-test/pinggy-ssh:latest"))


def test_the_example_is_valid_for_its_editor_schema_and_for_tunnelctl(ajv, tmp_path):
    example = REPO / "tunnels.yaml.example"
    assert schema_named_by(example) == REPO / "schemas" / "editor.schema.json"
    assert editor_check(ajv, Path(shutil.copyfile(example, tmp_path / "example.yaml"))) == ""
    assert run_tunnelctl("validate", "-f", str(example), cwd=tmp_path, env=ENV).returncode == 0


def test_inits_starter_is_valid_against_the_schema_it_wrote_beside_it(ajv, tmp_path):
    assert run_tunnelctl("init", cwd=tmp_path).returncode == 0
    starter = tmp_path / "tunnels.yaml"
    assert schema_named_by(starter) == tmp_path / "tunnels.schema.json"
    assert editor_check(ajv, starter, schema_named_by(starter)) == ""


def test_the_demo_manifest_is_valid(ajv, tmp_path):
    demo = tmp_path / "demo.yaml"
    demo.write_text(demo_manifest())
    assert editor_check(ajv, demo) == ""
    assert run_tunnelctl("validate", "-f", str(demo), cwd=tmp_path, env=ENV).returncode == 0


TEMPLATED_EVERYWHERE = """
version: 1
project: "{{ env.PROJECT | default('team') }}"
tunnels:
  - name: figma
    port: "{{ env.PORT }}"
    force: "{{ env.FORCE }}"
    token: "{{ env.PINGGY_TOKEN }}"
    type: "{{ 'http' }}"
    forwarded_for: "{{ 'X-Client' }}"
    access_keys: ["{{ env.FIGMA_ACCESS_KEY }}"]
    headers:
      add: {Host: "localhost:{{ env.PORT }}"}
"""


def test_a_template_is_accepted_in_typed_fields_too(ajv, tmp_path):
    path = tmp_path / "templated.yaml"
    path.write_text(TEMPLATED_EVERYWHERE)
    assert editor_check(ajv, path) == ""
    assert run_tunnelctl("validate", "-f", str(path), cwd=tmp_path, env=ENV).returncode == 0


WRONG = {
    "an unknown key": ("  - {name: a, port: 1, toke: x, allow_cidrs: [10.0.0.0/8]}",
                       "must NOT have unevaluated properties"),
    "a literal port out of range": ("  - {name: a, port: 70000, allow_cidrs: [10.0.0.0/8]}", "must be <= 65535"),
    "a literal token with a space": ('  - {name: a, port: 1, token: "my token", allow_cidrs: [10.0.0.0/8]}',
                                     "must match pattern"),
    "a word where a number goes": ("  - {name: a, port: three, allow_cidrs: [10.0.0.0/8]}", "must be integer"),
    "a template where a list goes": ('  - {name: a, port: 1, allow_cidrs: "{{ env.CIDRS }}"}', "must be array"),
}


@pytest.mark.parametrize("mistake", sorted(WRONG))
def test_an_editor_flags_what_tunnelctl_rejects(ajv, tmp_path, mistake):
    tunnel, complaint = WRONG[mistake]
    path = tmp_path / "wrong.yaml"
    path.write_text(f"version: 1\ntunnels:\n{tunnel}\n")
    assert complaint in editor_check(ajv, path)
    assert run_tunnelctl("validate", "-f", str(path), cwd=tmp_path, env={"CIDRS": "10.0.0.0/8"}).returncode == 1


def test_schema_write_puts_the_editor_schema_beside_an_existing_manifest(ajv, tmp_path):
    (tmp_path / "tunnels.yaml").write_text("# yaml-language-server: $schema=./tunnels.schema.json\n"
                                           + TEMPLATED_EVERYWHERE)
    written = run_tunnelctl("schema", "--write", cwd=tmp_path)
    assert written.returncode == 0
    assert written.stdout == ("Wrote tunnels.schema.json. Manifests beside it start with: "
                              "# yaml-language-server: $schema=./tunnels.schema.json\n")
    assert (tmp_path / "tunnels.schema.json").read_text() == run_tunnelctl("schema", cwd=tmp_path).stdout
    assert editor_check(ajv, tmp_path / "tunnels.yaml", schema_named_by(tmp_path / "tunnels.yaml")) == ""
