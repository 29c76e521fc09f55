"""Messages a person understands: each mistake people make by hand in a manifest is one line in the manifest's
terms (what is wrong, where, how to fix it), not the words of the YAML parser or the schema validator."""

from __future__ import annotations

from conftest import run_tunnelctl

HEAD = "version: 1\nproject: m\ntunnels:\n"


def problems(tmp_path, body: str, name: str = "tunnels.yaml", cwd=None) -> list[str]:
    """The problem lines, without the file name they start with (`name`, as given from `cwd`)."""
    cwd = cwd or tmp_path
    (cwd / name).write_text(HEAD + body)
    result = run_tunnelctl("validate", name, cwd=cwd)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith("error: the manifest has")
    return [line.removeprefix(f"{name}:") for line in lines[:-1]]


def test_a_quoted_port_says_remove_the_quotes(tmp_path):
    assert problems(tmp_path, '  - name: web\n    port: "38452"\n') == [
        "5:5: tunnels[0].port (tunnel 'web'): port is a number, but '38452' is text (in quotes): remove the quotes "
        "(port: 38452)"]


def test_a_quoted_yes_or_no_says_remove_the_quotes(tmp_path):
    [line] = problems(tmp_path, '  - name: web\n    port: 1\n    https_only: "true"\n')
    assert line.endswith("https_only is yes or no, but 'true' is text (in quotes): remove the quotes "
                         "(https_only: true)")


def test_an_under_indented_block_is_one_line_that_says_indent_it(tmp_path):
    [line] = problems(tmp_path, "  - name: web\n    port: 1\n    headers:\n    add:\n      Host: x\n")
    assert line == ("7:5: tunnels[0].add (tunnel 'web'): 'add' belongs to 'headers' above, which is empty: indent it "
                    "further in than `headers:`")


def test_an_empty_block_says_so(tmp_path):
    [line] = problems(tmp_path, "  - name: web\n    port: 1\n    headers:\n")
    assert line.endswith("headers is empty: what belongs to it must be indented under it, further in than "
                         "`headers:` (or remove the line)")


def test_a_dedented_key_says_the_indentation_is_off_and_where(tmp_path):
    [line] = problems(tmp_path, "  - name: web\n    port: 1\n   token: abcdefghijkl\n")
    assert line.startswith("6:4: the indentation is off: this line starts at column 4, the line above at column 5; "
                           "keys of one block line up")
    assert "indicator" not in line.split("(YAML said")[0]


def test_a_tab_says_use_spaces(tmp_path):
    [line] = problems(tmp_path, "  - name: web\n\tport: 1\n")
    assert line == "5:1: a tab: YAML indents with spaces only; replace the tab with spaces"


def test_an_unset_variable_says_where_it_was_looked_for_once_for_all_its_uses(tmp_path):
    body = "".join(f'  - {{name: t{n}, port: {1000 + n}, token: "{{{{ env.M_NEVER_SET }}}}"}}\n' for n in range(50))
    lines = problems(tmp_path, body)
    assert len(lines) == 1, lines  # not fifty times
    [line] = lines
    assert "variable 'M_NEVER_SET' is not set (looked in the environment; there is no ./.env)" in line
    assert line.endswith("(also used in 49 more places)") and len(line) < 250


def test_a_dotenv_in_the_current_folder_is_named_as_not_read(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".env").write_text("M_NEVER_SET=S3CRET\n")
    [line] = problems(tmp_path, '  - {name: web, port: 1, token: "{{ env.M_NEVER_SET }}"}\n',
                      name="elsewhere/tunnels.yaml")
    assert "./.env is not read, only elsewhere/.env beside the manifest: pass --env-file .env to read it" in line
    assert "S3CRET" not in line


def test_a_dotenv_beside_the_manifest_is_named_as_read(tmp_path):
    (tmp_path / ".env").write_text("OTHER=1\n")
    [line] = problems(tmp_path, '  - {name: web, port: 1, token: "{{ env.M_NEVER_SET }}"}\n')
    assert "(looked in the environment and ./.env)" in line, line


def test_a_url_whose_host_has_no_address_says_how_to_reach_a_local_stand_in():
    import socket

    from provisioner.mcp.protocol import _network_problem

    problem = _network_problem(socket.gaierror(-2, "Name or service not known"), 10)
    assert problem == ("the URL's host has no address (Name or service not known); for a local stand-in's URLs, set "
                       "TUNNELCTL_EDGE=http=HOST:PORT,https=HOST:PORT to reach its edge")
