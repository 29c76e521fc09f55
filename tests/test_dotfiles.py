"""Used from dotfiles: the manifest found without -f, and shell completion of commands and tunnel names."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import REPO, manifest_text, run_tunnelctl

MANIFEST = """\
version: 1
project: $project
engines:
  laptop: {docker: "unix:///nowhere/docker.sock"}
  devbox: {docker: "tcp://127.0.0.1:9"}
defaults: {engine: laptop, token: "{{ env.PINGGY_TOKEN }}", force: true}
tunnels:
  - {name: figma, port: 3845}
  - {name: grafana, port: 3000, token: "", force: false}
  - {name: "{{ env.DYNAMIC }}", port: 3001, token: "", force: false}
"""


def write(path: Path, project: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest_text(MANIFEST, project=project))
    return path


@pytest.fixture
def places(tmp_path):
    """A working folder and a home of this test's own, with nothing in either."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    env = {"HOME": str(home), "PINGGY_TOKEN": "tok", "DYNAMIC": "x"}
    for name in ("TUNNELCTL_FILE", "XDG_CONFIG_HOME"):
        env[name] = ""
    return work, home, env


def validated(work: Path, env: dict) -> subprocess.CompletedProcess:
    return run_tunnelctl("validate", cwd=work, env=env)


def test_without_f_the_lookup_order_is_env_then_folder_then_config_and_says_which(places, tmp_path):
    work, home, env = places
    write(home / ".config/tunnelctl/tunnels.yaml", "in-home-config")
    result = validated(work, env)
    assert result.returncode == 0, result.stderr
    assert f"{home}/.config/tunnelctl/tunnels.yaml: valid; project 'in-home-config'" in result.stdout
    assert result.stderr.startswith(f"Using the manifest {home}/.config/tunnelctl/tunnels.yaml (found through "
                                    "~/.config; -f FILE names another).")

    xdg = tmp_path / "xdg"
    write(xdg / "tunnelctl/tunnels.yaml", "in-xdg")
    result = validated(work, {**env, "XDG_CONFIG_HOME": str(xdg)})
    assert "project 'in-xdg'" in result.stdout and "found through $XDG_CONFIG_HOME" in result.stderr

    write(work / "tunnels.yaml", "in-folder")
    result = validated(work, {**env, "XDG_CONFIG_HOME": str(xdg)})
    assert result.stdout.startswith("tunnels.yaml: valid; project 'in-folder'")
    assert "Using the manifest" not in result.stderr  # the folder's own file is what everyone expects

    named = write(tmp_path / "dotfiles/tunnels.yaml", "named-by-env")
    result = validated(work, {**env, "TUNNELCTL_FILE": str(named)})
    assert "project 'named-by-env'" in result.stdout and "found through $TUNNELCTL_FILE" in result.stderr

    result = run_tunnelctl("validate", "-f", str(home / ".config/tunnelctl/tunnels.yaml"), cwd=work,
                           env={**env, "TUNNELCTL_FILE": str(named)})
    assert "project 'in-home-config'" in result.stdout and "Using" not in result.stderr  # -f wins over everything


def test_a_relative_xdg_config_home_is_ignored_as_the_spec_says(places):
    work, home, env = places
    write(work / "rel/tunnelctl/tunnels.yaml", "relative")
    write(home / ".config/tunnelctl/tunnels.yaml", "home")
    result = validated(work, {**env, "XDG_CONFIG_HOME": "rel"})
    assert "project 'home'" in result.stdout


def test_no_manifest_anywhere_names_all_three_places(places):
    work, _, env = places
    result = run_tunnelctl("plan", cwd=work, env=env)
    assert result.returncode == 1
    assert result.stderr == ("error: no manifest: looked for $TUNNELCTL_FILE (not set), ./tunnels.yaml and "
                             "~/.config/tunnelctl/tunnels.yaml; start one with `tunnelctl init`, or name one with "
                             "-f FILE\n")


def test_a_tunnelctl_file_that_is_not_there_is_an_error_not_a_fallback(places):
    work, _, env = places
    write(work / "tunnels.yaml", "in-folder")
    result = run_tunnelctl("status", cwd=work, env={**env, "TUNNELCTL_FILE": "missing.yaml"})
    assert result.returncode == 1
    assert result.stderr == ("error: TUNNELCTL_FILE names missing.yaml, which is not a file: fix or unset "
                             "TUNNELCTL_FILE, or name the manifest with -f FILE\n")


def test_a_dotfiles_manifest_reads_the_env_file_beside_it(places):
    work, home, env = places
    config = write(home / ".config/tunnelctl/tunnels.yaml", "dot")
    (config.parent / ".env").write_text("PINGGY_TOKEN=from-dotenv\n")
    result = validated(work, {key: value for key, value in env.items() if key != "PINGGY_TOKEN"})
    assert result.returncode == 0, result.stderr


def test_init_still_writes_into_the_current_folder(places):
    work, home, env = places
    write(home / ".config/tunnelctl/tunnels.yaml", "home")
    result = run_tunnelctl("init", cwd=work, env=env)
    assert result.returncode == 0 and (work / "tunnels.yaml").is_file()


# ---- completion -------------------------------------------------------------------------------------------------

@pytest.fixture
def tunnelctl_on_path(tmp_path):
    """A `tunnelctl` command that runs this checkout, as the installed console script would."""
    folder = tmp_path / "bin"
    folder.mkdir()
    script = folder / "tunnelctl"
    script.write_text(f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m provisioner \"$@\"\n")
    script.chmod(0o755)
    return folder


def bash_complete(line: str, cwd: Path, path_dir: Path, env: dict) -> list[str]:
    """Complete `line` in a real bash with the code `tunnelctl completion bash` prints, as a user's bashrc would."""
    program = textwrap.dedent(f"""
        eval "$(tunnelctl completion bash)"
        COMP_LINE={_quote(line)}
        COMP_POINT=${{#COMP_LINE}}
        read -r -a COMP_WORDS <<< "$COMP_LINE"
        [[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
        spec=$(complete -p tunnelctl)
        function=$(sed -E 's/.*-F ([^ ]+).*/\\1/' <<< "$spec")
        "$function" tunnelctl "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"
        printf '%s\\n' "${{COMPREPLY[@]}}"
    """)
    full_env = {**os.environ, **env, "PATH": f"{path_dir}:{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", program], cwd=cwd, env=full_env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return sorted(word.strip() for word in result.stdout.splitlines() if word.strip())


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_bash_completes_commands_tunnel_names_and_engines_without_docker_or_secrets(places, tunnelctl_on_path):
    work, _home, env = places
    write(work / "tunnels.yaml", "completing")
    env = {key: value for key, value in env.items() if key not in ("PINGGY_TOKEN", "DYNAMIC")}
    env["DOCKER_HOST"] = "unix:///nowhere/docker.sock"  # completion must not need an engine

    assert bash_complete("tunnelctl st", work, tunnelctl_on_path, env) == ["status"]
    assert bash_complete("tunnelctl logs ", work, tunnelctl_on_path, env) == ["figma", "grafana"]
    assert bash_complete("tunnelctl logs gr", work, tunnelctl_on_path, env) == ["grafana"]
    assert bash_complete("tunnelctl apply --target f", work, tunnelctl_on_path, env) == ["figma"]
    assert bash_complete("tunnelctl plan --engine ", work, tunnelctl_on_path, env) == ["devbox", "laptop"]


def test_completion_reads_the_manifest_named_by_f_or_found_in_the_config_folder(places, tunnelctl_on_path, tmp_path):
    work, home, env = places
    other = tmp_path / "other.yaml"
    other.write_text("version: 1\ntunnels:\n  - {name: elsewhere, port: 1}\n")
    write(home / ".config/tunnelctl/tunnels.yaml", "dot")
    assert bash_complete(f"tunnelctl logs -f {other} ", work, tunnelctl_on_path, env) == ["elsewhere"]
    assert bash_complete("tunnelctl logs ", work, tunnelctl_on_path, env) == ["figma", "grafana"]


def test_completion_offers_nothing_for_a_broken_manifest_and_says_nothing(places, tunnelctl_on_path):
    work, _, env = places
    (work / "tunnels.yaml").write_text("tunnels: [unclosed\n")
    assert bash_complete("tunnelctl logs ", work, tunnelctl_on_path, env) == []


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_code_that_asks_tunnelctl_for_completions(shell, tmp_path):
    result = run_tunnelctl("completion", shell, cwd=tmp_path)
    assert result.returncode == 0 and result.stderr == ""
    assert "_ARGCOMPLETE" in result.stdout and "tunnelctl" in result.stdout
    if shell == "fish":
        assert "complete --command tunnelctl" in result.stdout
    if shell == "zsh":
        assert "#compdef tunnelctl" in result.stdout


def test_zsh_receives_tunnel_names_with_descriptions_through_the_argcomplete_protocol(places):
    """What the zsh function does (zsh is not installed here): run tunnelctl with the line in the environment, read
    fd 8."""
    work, _, env = places
    write(work / "tunnels.yaml", "completing")
    line = "tunnelctl logs "
    protocol = {"_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": "zsh", "COMP_LINE": line, "COMP_POINT": str(len(line)),
                "_ARGCOMPLETE_IFS": "\n", "_ARGCOMPLETE_SUPPRESS_SPACE": "1", "COMP_TYPE": "9"}
    result = subprocess.run(["bash", "-c", f"{sys.executable} -m provisioner 8>&1 1>/dev/null"], cwd=work,
                            env={**os.environ, **env, **protocol, "PYTHONPATH": str(REPO)}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    words = result.stdout
    assert sorted(words.splitlines()) == ["figma:tunnel", "grafana:tunnel"]


def test_fish_completes_tunnel_names(places, tunnelctl_on_path):
    work, _, env = places
    write(work / "tunnels.yaml", "completing")
    full_env = {**os.environ, **env, "PATH": f"{tunnelctl_on_path}:{os.environ['PATH']}"}
    result = subprocess.run(["fish", "-c", "tunnelctl completion fish | source; complete -C 'tunnelctl logs '"],
                            cwd=work, env=full_env, capture_output=True, text=True, timeout=60)
    assert sorted(line.split("\t")[0] for line in result.stdout.splitlines()) == ["figma", "grafana"]
