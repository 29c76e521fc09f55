"""The command as a user meets it: exit codes, confirmation, unreachable engines, and secrets kept out of sight."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
import time

from conftest import SLEEPER_IMAGE, manifest_text, project_containers, run_tunnelctl

SECRETS = {"PINGGY_TOKEN": "tokSecret4242", "MCP_KEY": "keySecret9999" + "0123456789abcdef" * 2,
           "DB_PASSWORD": "pwSecret7777"}


def cli_manifest(project: str, extra: str = "") -> str:
    return manifest_text("""
        version: 1
        project: $project
        tunnels:
          - name: mcp
            image: $image
            port: 3845
            token: "{{ env.PINGGY_TOKEN }}"
            access_keys: ["{{ env.MCP_KEY }}"]
            headers:
              add: {X-Auth: "{{ env.MCP_KEY }}"}
    """, project=project, image=SLEEPER_IMAGE) + textwrap.indent(textwrap.dedent(extra), "  ")


def test_help_starts_without_loading_heavy_libraries():
    code = ("import sys; from provisioner import cli\n"
            "try: cli.main(['--help'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('docker', 'yaml', 'jsonschema', 'jinja2') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "plan" in result.stdout and result.stdout.strip().endswith("[]")


def test_plan_and_status_read_the_engine_without_loading_an_http_client(tmp_path):
    # docker-py (with requests), http.client and ssl cost more to import than a plan of 50 tunnels takes to run; a
    # status, which only reads, does without the planner and apply's code as well
    (tmp_path / "tunnels.yaml").write_text(f"version: 1\nproject: lean-reads\ntunnels:\n"
                                           f"  - {{name: web, port: 8080, image: {SLEEPER_IMAGE}}}\n")
    clients = ("docker", "requests", "http.client", "ssl", "urllib.request")
    changing = ("provisioner.plan.planner", "provisioner.run.executor", "provisioner.run.readiness")
    for command, unneeded in (("plan", clients), ("status", clients + changing)):
        code = ("import sys; from provisioner import cli\n"
                f"try: cli.main([{command!r}])\nexcept SystemExit: pass\n"
                f"print(sorted(m for m in {unneeded!r} if m in sys.modules))")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
        assert "web" in result.stdout and result.stdout.strip().endswith("[]"), (command, result.stdout)


def test_validate_prints_one_line_and_needs_no_docker(tmp_path):
    (tmp_path / "team.yaml").write_text(cli_manifest("team"))
    result = run_tunnelctl("validate", "-f", "team.yaml", cwd=tmp_path, env={**SECRETS, "DOCKER_HOST": "unix:///nope"})
    assert result.returncode == 0
    assert result.stdout == "team.yaml: valid; project 'team', 1 tunnel.\n"


def test_invalid_manifest_lists_each_error_and_exits_1(tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\ntunnels:\n  - {name: a, port: 0}\n  - {name: b}\n")
    result = run_tunnelctl("plan", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "tunnels.yaml:3:15: tunnels[0].port (tunnel 'a'): 0 is less than the minimum of 1",
        "tunnels.yaml:4:5: tunnels[1] (tunnel 'b'): 'port' is a required property",
        "error: the manifest has 2 errors; nothing was changed",
    ]


def test_unreachable_engine_is_one_line_naming_the_endpoint(tmp_path):
    (tmp_path / "tunnels.yaml").write_text(cli_manifest("team"))
    for command in (["plan"], ["apply", "--auto-approve"], ["destroy", "--auto-approve"]):
        result = run_tunnelctl(*command, cwd=tmp_path, env={**SECRETS, "DOCKER_HOST": "unix:///tmp/no-such.sock"})
        assert result.returncode == 1
        [line] = result.stderr.splitlines()
        assert line.startswith("error: cannot reach the Docker engine at unix:///tmp/no-such.sock "
                               "(DOCKER_HOST=unix:///tmp/no-such.sock)")
        assert "Traceback" not in result.stdout + result.stderr


def test_apply_without_a_terminal_or_auto_approve_refuses(docker_api, project, tmp_path):
    (tmp_path / "tunnels.yaml").write_text(cli_manifest(project))
    result = run_tunnelctl("apply", cwd=tmp_path, env=SECRETS, stdin="yes\n")
    assert result.returncode == 1
    assert "standard input is not a terminal: rerun with --auto-approve" in result.stderr
    assert project_containers(docker_api, project) == {}


def answer_prompt(args: list[str], cwd, env: dict, answer: str) -> tuple[int, str]:
    """Run tunnelctl on a real terminal, type `answer` at its prompt, and return (exit code, what it showed)."""
    main, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "provisioner", *args], cwd=cwd, env={**os.environ, **env},
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    deadline = time.monotonic() + 60
    while b"Enter a value:" not in shown and time.monotonic() < deadline:
        shown += os.read(main, 4096)
    os.write(main, answer.encode() + b"\n")
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return process.wait(timeout=60), shown.decode()


def test_confirmation_accepts_only_yes(docker_api, project, tmp_path):
    (tmp_path / "tunnels.yaml").write_text(cli_manifest(project))
    code, shown = answer_prompt(["apply", "--no-wait"], tmp_path, SECRETS, "y")
    assert code == 1 and "Only 'yes' will be accepted" in shown and "nothing was changed" in shown
    assert project_containers(docker_api, project) == {}
    code, shown = answer_prompt(["apply", "--no-wait"], tmp_path, {**SECRETS, "NO_COLOR": "1"}, "yes")
    assert code == 0 and "Apply complete: 1 created" in shown
    assert list(project_containers(docker_api, project)) == ["mcp"]


def test_no_secret_is_ever_printed(docker_api, project, tmp_path):
    """Every byte of every command, on success and on failure, with and without --json."""
    squatter = docker_api.create_container(SLEEPER_IMAGE, name=f"{project}-blocked")
    good = cli_manifest(project, """
          - name: blocked
            image: tunnelctl-test/sleeper:latest
            port: 1
            token: "{{ env.PINGGY_TOKEN }}x"
    """)
    broken = cli_manifest(project, """
          - name: broken
            port: 2
            token: "{{ env.DB_PASSWORD }} with spaces"
            access_keys: ["{{ env.MCP_KEY }}", 42]
            keepalive: "{{ env.DB_PASSWORD }}"
    """)
    (tmp_path / "tunnels.yaml").write_text(good)
    (tmp_path / "broken.yaml").write_text(broken)
    printed = ""
    try:
        for args in (["validate"], ["plan"], ["plan", "--json"], ["apply", "--auto-approve", "--no-wait"], ["plan"],
                     ["plan", "--json"], ["apply", "--auto-approve", "--no-wait"], ["validate", "-f", "broken.yaml"],
                     ["plan", "-f", "broken.yaml"], ["destroy", "--auto-approve"]):
            result = run_tunnelctl(*args, cwd=tmp_path, env=SECRETS)
            printed += result.stdout + result.stderr
    finally:
        docker_api.remove_container(squatter["Id"], force=True)
    assert "Apply failed for 1 of 2 tunnels (blocked)" in printed  # the failure path did run
    assert "tunnels[1].keepalive" in printed  # and so did the validation path
    for secret in SECRETS.values():
        assert secret not in printed


def test_a_usage_mistake_is_one_line_and_exit_1_not_the_changes_code(tmp_path):
    result = run_tunnelctl("plan", "--bogus", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == "error: unrecognized arguments: --bogus (see tunnelctl --help)\n"


def test_init_beside_a_folder_named_like_the_schema_file_writes_nothing_and_says_so(tmp_path):
    (tmp_path / "tunnels.schema.json").mkdir()
    result = run_tunnelctl("init", cwd=tmp_path)
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert result.stderr.strip() == ("error: tunnels.schema.json: cannot read it: Is a directory; move it aside and "
                                     "run tunnelctl init again")
    assert not (tmp_path / "tunnels.yaml").exists()
