"""init for dotfiles: -f into a fresh ~/.config makes the folders, the starter fits where it is written, and a new
./tunnels.yaml that hides the dotfiles manifest from its folder says so."""

from __future__ import annotations

from conftest import run_tunnelctl


def places(tmp_path) -> tuple:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    return home, work, {"HOME": str(home), "XDG_CONFIG_HOME": ""}


def test_init_into_a_fresh_config_folder_makes_it_and_writes_a_personal_starter(tmp_path):
    home, work, env = places(tmp_path)
    result = run_tunnelctl("init", "-f", str(home / ".config/tunnelctl/tunnels.yaml"), cwd=work, env=env)
    assert result.returncode == 0, result.stderr
    written = (home / ".config/tunnelctl/tunnels.yaml").read_text()
    assert (home / ".config/tunnelctl/tunnels.schema.json").is_file()
    assert "Copy to tunnels.yaml" not in written and "project: figma" not in written
    assert "# Your own tunnels, found from any folder that has no ./tunnels.yaml (dotfiles):" in written
    assert written.split("project: ", 1)[1].split("\n")[0].endswith("-tunnels")  # the user's own project
    assert result.stderr == ""


def test_init_in_a_folder_names_the_folders_project_and_warns_when_it_hides_the_dotfiles_manifest(tmp_path):
    home, work, env = places(tmp_path)
    assert run_tunnelctl("init", "-f", str(home / ".config/tunnelctl/tunnels.yaml"), cwd=work, env=env).returncode == 0
    result = run_tunnelctl("init", cwd=work, env=env)
    assert result.returncode == 0
    written = (work / "tunnels.yaml").read_text()
    assert "project: work\n" in written and "# This folder's tunnels: run tunnelctl plan" in written
    assert result.stderr == (f"note: in this folder, ./tunnels.yaml now hides your dotfiles manifest "
                             f"{home / '.config/tunnelctl/tunnels.yaml'}: tunnelctl uses the one here "
                             f"(-f {home / '.config/tunnelctl/tunnels.yaml'} names the other)\n")


def test_init_offers_only_the_options_that_apply_to_it(tmp_path):
    shown = run_tunnelctl("init", "--help", cwd=tmp_path).stdout
    assert "-f FILE" in shown and "--engine" not in shown and "--env-file" not in shown


def test_destroy_with_nothing_to_remove_says_so_in_its_own_words(docker_api, tmp_path):
    (tmp_path / "tunnels.yaml").write_text("version: 1\nproject: t-init-nothing\ntunnels:\n  - {name: a, port: 1}\n")
    result = run_tunnelctl("destroy", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout == "Nothing to destroy: project 't-init-nothing' has no containers.\n"


def test_the_using_the_manifest_note_can_be_silenced(tmp_path):
    home, work, env = places(tmp_path)
    (home / ".config/tunnelctl").mkdir(parents=True)
    (home / ".config/tunnelctl/tunnels.yaml").write_text("version: 1\nproject: p\ntunnels:\n  - {name: a, port: 1}\n")
    assert "Using the manifest" in run_tunnelctl("validate", cwd=work, env=env).stderr
    assert "Using the manifest" not in run_tunnelctl("validate", "-q", cwd=work, env=env).stderr
