"""--json is a contract: every reporting command prints one document that its schema in schemas/output/ accepts,
with the same verdict field (`ok`) saying whether the command succeeded, on success and on error alike."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from test_mcp import edge, mcp_server, tokens  # noqa: F401 (edge is a fixture)
from test_tunnels_e2e import tunnel_manifest

from conftest import REPO, manifest_text, run_tunnelctl

SCHEMAS = REPO / "schemas" / "output"
COMMANDS = ("validate", "plan", "apply", "status", "check", "doctor", "connect")
NO_ENGINE = {"DOCKER_HOST": "unix:///tmp/tunnelctl-no-such-engine.sock"}


def document_of(command: str, *args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """Run `tunnelctl COMMAND --json ARGS`; check its stdout is one document its schema accepts, and that `ok`
    agrees with the exit code."""
    result = run_tunnelctl(command, "--json", *args, cwd=cwd, env=env)
    document = json.loads(result.stdout)  # the whole of stdout: nothing else is printed there
    schema = json.loads((SCHEMAS / f"{command}.schema.json").read_text())
    jsonschema.validate(document, schema, format_checker=jsonschema.FormatChecker())
    assert document["ok"] is (result.returncode in (0, 2)), (result.returncode, document, result.stderr)
    assert "Traceback" not in result.stderr
    return result.returncode, document


def test_every_reporting_command_has_a_schema_and_json_in_its_help(tmp_path):
    for command in COMMANDS:
        jsonschema.Draft202012Validator.check_schema(json.loads((SCHEMAS / f"{command}.schema.json").read_text()))
        assert "--json" in run_tunnelctl(command, "--help", cwd=tmp_path).stdout


def test_validate_reports_each_manifest_its_warnings_and_errors(tmp_path):
    (tmp_path / "good.yaml").write_text(manifest_text("""
        version: 1
        project: team
        tunnels:
          - {name: web, port: 8080, token: abc}
    """))
    (tmp_path / "bad.yaml").write_text("version: 1\ntunnels:\n  - {name: a, port: 0}\n")
    code, document = document_of("validate", "good.yaml", "bad.yaml", cwd=tmp_path)
    assert code == 1 and document["ok"] is False
    good, bad = document["manifests"]
    assert good["ok"] is True and good["project"] == "team" and good["tunnels"] == 1 and good["warnings"]
    assert bad["ok"] is False and any("0 is less than the minimum of 1" in line for line in bad["errors"])


def test_an_error_is_a_document_too(tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\nproject: team\ntunnels:\n  - {name: web, port: 80, token: a}\n")
    for command in ("plan", "status", "apply"):
        code, document = document_of(command, cwd=tmp_path, env=NO_ENGINE)
        assert code == 1 and "cannot reach the Docker engine" in document["error"]
    code, document = document_of("doctor", cwd=tmp_path, env=NO_ENGINE)
    assert code == 1 and any(check["status"] == "fail" for check in document["checks"])
    code, document = document_of("connect", "web", "--client", "json", cwd=tmp_path, env=NO_ENGINE)
    assert code == 1 and "not an MCP tunnel" in document["error"]


def test_apply_refuses_json_without_auto_approve_before_changing_anything(docker_api, project, tmp_path):
    from conftest import SLEEPER_IMAGE, project_containers

    (tmp_path / "tunnels.yaml").write_text(manifest_text("""
        version: 1
        project: $project
        tunnels:
          - {name: web, image: $image, port: 8080, token: abc}
    """, project=project, image=SLEEPER_IMAGE))
    code, document = document_of("apply", cwd=tmp_path)
    assert code == 1 and "add --auto-approve" in document["error"] and document["summary"]["create"] == 1
    assert project_containers(docker_api, project) == {}


def test_every_command_on_a_working_tunnel(pinggy, edge, project, tmp_path):  # noqa: F811
    [token] = tokens(pinggy, 1)
    key = "k" * 40
    env = {"E2E_TOKEN": token, "KEY": key, "TUNNELCTL_EDGE": edge}
    with mcp_server() as port:
        (tmp_path / "tunnels.yaml").write_text(tunnel_manifest(project, port, token, extra=manifest_text("""
            mcp: true
            access_keys: ["{{ env.KEY }}"]
            headers: {update: {Host: "localhost:$port"}}
        """, port=port)))
        code, plan = document_of("plan", "--detailed-exitcode", cwd=tmp_path, env=env)
        assert code == 2 and plan["has_changes"] and plan["summary"]["create"] == 1
        code, applied = document_of("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert code == 0 and [outcome["ok"] for outcome in applied["outcomes"]] == [True]
        assert [(tunnel["tunnel"], tunnel["ok"]) for tunnel in applied["tunnels"]] == [("mcp", True)]
        code, status = document_of("status", cwd=tmp_path, env=env)
        assert code == 0 and [tunnel["ok"] for tunnel in status["tunnels"]] == [True]
        code, checked = document_of("check", cwd=tmp_path, env=env)
        assert code == 0 and [tunnel["ok"] for tunnel in checked["tunnels"]] == [True]
        code, connected = document_of("connect", "mcp", "--client", "json", cwd=tmp_path, env=env)
        assert code == 0 and connected["mcp_url"].startswith("https://") and key not in json.dumps(connected)
        code, diagnosis = document_of("doctor", cwd=tmp_path, env=env)
        assert diagnosis["checks"]
        code, again = document_of("apply", "--auto-approve", cwd=tmp_path, env=env)
        assert code == 0 and again["has_changes"] is False and "outcomes" not in again  # nothing to do, nothing done
