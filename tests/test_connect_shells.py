"""The Claude Code command `connect` prints, pasted into bash, zsh and fish: the same words in all three, the key from
the shell's own variable (and a note when the shell does not have it), and nothing run that a value smuggled in."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.errors import UserError
from provisioner.mcp.client_config import Credential, render, shell_word, unexported_note

URL = "https://rnabc-p1234.a.pinggy.link/mcp"
KEY = "0123456789abcdef" * 4
SHELLS = ("bash", "zsh", "fish")
HOSTILE = ["$(touch${IFS}$HOME/pwned)", "`touch $HOME/pwned`", "a'b", 'a"b', "back\\slash\\\\", "x!!y",
           "; touch ~/pwned #", "%self", "{a,b}", "*", "~", "=ls"]


@pytest.fixture
def fake_claude(tmp_path):
    """A `claude` on PATH that writes the words it got as JSON, and a HOME where a smuggled `touch` would land."""
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir()
    home.mkdir()
    script = bin_dir / "claude"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir, home


def run_in(shell: str, command: str, fake_claude, variables: dict[str, str]) -> list[str]:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (scripts/setup installs it)")
    bin_dir, home = fake_claude
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home), **variables}
    done = subprocess.run([shell, "-c", command], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert not (home / "pwned").exists(), f"{shell} ran what the command smuggled in"
    return json.loads(done.stdout)


@pytest.mark.parametrize("shell", SHELLS)
def test_the_printed_command_gives_the_key_from_the_shell_in_every_shell(shell, fake_claude):
    command, _ = render("claude-code", "figma", URL, Credential("Bearer", "FIGMA_KEY", True, KEY))
    assert "${" not in command  # fish refuses ${VAR}
    expected = ["mcp", "add", "--transport", "http", "figma", URL, "--header"]
    assert run_in(shell, command, fake_claude, {"FIGMA_KEY": KEY}) == expected + [f"Authorization: Bearer {KEY}"]
    assert run_in(shell, command, fake_claude, {}) == expected + ["Authorization: Bearer "]


def test_a_key_the_shell_does_not_have_is_said_with_the_fix():
    from_dotenv = Credential("Bearer", "FIGMA_KEY", True, KEY)
    note = unexported_note("claude-code", from_dotenv, {}, dotenv=Path("/home/ana/my config/.env"))
    assert note and "FIGMA_KEY is not set" in note and "a .env file tunnelctl read has it" in note
    assert "registers an empty key" in note and "set -a; . '/home/ana/my config/.env'; set +a" in note
    assert "--reveal" in note
    assert KEY not in note
    assert "nor is it in a .env" in (unexported_note("claude-code", Credential("Bearer", "FIGMA_KEY"), {}) or "")
    assert "its own environment" in (unexported_note("cursor", from_dotenv, {}) or "")
    assert unexported_note("claude-code", from_dotenv, {"FIGMA_KEY": KEY}) is None
    assert unexported_note("vscode", from_dotenv, {}) is None  # VS Code prompts for the key


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_values_stay_words_in_every_shell(shell, fake_claude):
    for value in HOSTILE:
        basic = Credential("Basic", "PASSWORD", True, f"{value}:pw", value)
        command, _ = render("claude-code", "figma", f"{URL}?q={value}", basic)
        words = run_in(shell, command, fake_claude, {"PASSWORD": "pw"})
        assert words[5:] == [f"{URL}?q={value}", "--header", f"Authorization: Basic <base64 of {value}:pw>"], value
        revealed, _ = render("claude-code", "figma", URL, basic, reveal=True)
        assert run_in(shell, revealed, fake_claude, {})[:6] == ["mcp", "add", "--transport", "http", "figma", URL]


def test_words_are_bare_only_when_they_mean_themselves_and_control_characters_are_refused():
    assert shell_word("claude") == "claude" and shell_word("") == "''"
    assert shell_word("Authorization: Bearer ", "KEY") == '"Authorization: Bearer $KEY"'
    assert shell_word("a'b") == "'a'\"'\"'b'"
    with pytest.raises(UserError, match="control character"):
        shell_word("line\nbreak")
