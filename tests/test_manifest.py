"""Loading manifests: what a user sees when the file is right, and when it is wrong."""

from __future__ import annotations

import pytest

from provisioner import manifest
from provisioner.desired.specs import server_name
from provisioner.errors import ManifestError, UserError


def load_errors(path, environ=None) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, environ or {})
    return caught.value.details


def test_defaults_fill_every_tunnel_and_a_tunnel_overrides_them(write_manifest):
    path = write_manifest("""
        version: 1
        project: team
        defaults: {keepalive: 60, https_only: true}
        tunnels:
          - {name: web, port: 8080}
          - {name: mcp, port: 3845, keepalive: 10, token: abc}
    """)
    loaded = manifest.load(path, {})
    web, mcp = loaded.tunnels
    assert loaded.project == "team"
    assert web.settings.keepalive == 60 and web.settings.https_only is True
    assert server_name(web.settings) == "free.pinggy.io"  # no token: the free server
    assert web.settings.container_name == "team-web"
    assert web.settings.host == "127.0.0.1" and web.settings.server_port == 443
    assert mcp.settings.keepalive == 10
    assert server_name(mcp.settings) == "pro.pinggy.io"  # a token: the pro server


def test_project_defaults_to_the_normalised_folder_name(tmp_path):
    folder = tmp_path / "My Team_Config!"
    folder.mkdir()
    path = folder / "tunnels.yaml"
    path.write_text("version: 1\ntunnels: []\n")
    assert manifest.load(path, {}).project == "my-team_config"


def test_templates_read_the_environment_and_take_the_schema_type(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - name: mcp
            port: "{{ env.MCP_PORT }}"
            force: "{{ env.FORCE | default('true') }}"
            token: "{{ env.TOKEN }}"
    """)
    tunnel = manifest.load(path, {"MCP_PORT": "3845", "TOKEN": "t0ken"}).tunnels[0]
    assert tunnel.settings.port == 3845
    assert tunnel.settings.force is True
    assert tunnel.settings.token == "t0ken"


def test_undefined_variable_names_variable_tunnel_and_position(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - name: figma
            port: 3845
            token: "{{ env.PINGGY_TOKEN }}"
    """)
    [error] = load_errors(path)
    assert error.startswith(f"{path}:6:5: tunnels[0].token (tunnel 'figma'): variable 'PINGGY_TOKEN' is not set")


def test_every_error_is_reported_with_its_line_in_file_order(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - name: web
            prot: 8080
            port: eighty
          - name: api
            port: 1
            port: 2
            keepalive: 0
    """)
    errors = load_errors(path)
    assert errors == [
        f"{path}:5:5: tunnels[0].prot (tunnel 'web'): unknown field 'prot' (did you mean 'port'?)",
        f"{path}:6:5: tunnels[0].port (tunnel 'web'): 'eighty' is not of type 'integer'",
        f"{path}:9:5: duplicate key 'port' (first defined on line 8): keep one",
        f"{path}:10:5: tunnels[1].keepalive (tunnel 'api'): 0 is less than the minimum of 1",
    ]


def test_unknown_top_level_key_and_missing_tunnels_are_errors(write_manifest):
    path = write_manifest("""
        version: 1
        tunnel: []
    """)
    errors = load_errors(path)
    assert any("unknown field 'tunnel' (did you mean 'tunnels'?)" in error for error in errors)
    assert any("'tunnels' is a required property" in error for error in errors)


def test_duplicate_tunnel_names_and_container_names_are_errors(write_manifest):
    path = write_manifest("""
        version: 1
        project: p
        tunnels:
          - {name: web, port: 1}
          - {name: web, port: 2}
          - {name: api, port: 3, container_name: p-x}
          - {name: x, port: 4}
    """)
    errors = load_errors(path)
    assert errors[0].startswith(f"{path}:6:")
    assert "duplicate tunnel name 'web'" in errors[0]
    assert f"{path}:8:" in errors[-1] and "container name 'p-x' is also used by tunnels[2]" in errors[-1]


def test_secret_values_never_appear_in_validation_errors(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - name: web
            port: 1
            token: "sup3r secret"
            access_keys: ["{{ env.KEY }}"]
    """)
    errors = load_errors(path, {"KEY": "bad key with spaces"})
    text = "\n".join(errors)
    assert "sup3r secret" not in text and "bad key with spaces" not in text
    assert "tunnels[0].token" in text and "tunnels[0].access_keys[0]" in text


@pytest.mark.parametrize("text, message", [
    ("version: 1\ntunnels: [\n", "invalid YAML"),
    ("- just\n- a list\n", "must be a mapping"),
    ("a: &a [1, *a]\n", "an alias refers to a value that contains it"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "nested more than"),
])
def test_unreadable_documents_give_one_clear_error(write_manifest, text, message):
    path = write_manifest(text)
    errors = load_errors(path)
    assert len(errors) == 1 and message in errors[0] and errors[0].startswith(f"{path}:")


def test_alias_bomb_is_refused_quickly(write_manifest):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i-1}'] * 10)}]" for i in range(1, 9)]
    path = write_manifest("\n".join(levels) + "\n")
    [error] = load_errors(path)
    assert "alias bomb" in error


def test_non_utf8_and_missing_files_are_user_errors(tmp_path):
    binary = tmp_path / "tunnels.yaml"
    binary.write_bytes(b"version: 1\n\xff\xfe\n")
    with pytest.raises(UserError, match=r"tunnels.yaml:2: not UTF-8"):
        manifest.load(binary, {})
    with pytest.raises(UserError, match="no such file"):
        manifest.load(tmp_path / "missing.yaml", {})


def test_merge_keys_let_tunnels_share_settings(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - &base {name: a, port: 1, keepalive: 5}
          - <<: *base
            name: b
    """)
    _a, b = manifest.load(path, {}).tunnels
    assert (b.name, b.settings.port, b.settings.keepalive) == ("b", 1, 5)


def test_sandbox_refuses_python_internals(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - name: a
            port: 1
            host: "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    """)
    [error] = load_errors(path)
    assert "unsafe" in error


def test_destroy_needs_only_the_project_not_the_secrets(write_manifest):
    path = write_manifest("""
        version: 1
        project: "{{ env.TEAM | default('team') }}"
        tunnels:
          - {name: a, port: 1, token: "{{ env.UNSET_TOKEN }}"}
    """)
    assert manifest.load_scope(path, {}).project == "team"
