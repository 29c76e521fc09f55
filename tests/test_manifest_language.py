"""The manifest language: every Pinggy option, hostile values, domain checks, templating and editor support."""

from __future__ import annotations

import json
import shlex
import textwrap

import pytest
import yaml

from conftest import REPO, manifest_text, run_tunnelctl
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.engine import login_file
from provisioner.errors import ManifestError
from provisioner.manifest import schema

STRONG_KEY = "a" * 8 + "0123456789abcdef0123456789abcdef"  # 40 hex characters: 160 bits


def specs_of(write_manifest, text: str, environ=None, **options):
    return desired_specs(manifest.load(write_manifest(text), environ or {}, **options))


def problems_of(write_manifest, text: str, environ=None, **options) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        manifest.load(write_manifest(text), environ or {}, **options)
    return caught.value.details


def test_every_option_lands_in_the_exact_argv(write_manifest):
    [spec] = specs_of(write_manifest, manifest_text("""
        version: 1
        project: p
        tunnels:
          - name: web
            port: 8080
            token: tok1
            region: eu
            force: true
            keepalive: 15
            ssh_options: {ServerAliveCountMax: 3, ExitOnForwardFailure: true}
            debugger_port: 4301
            access_keys: [$key]
            basic_auth: [{username: alice, password: "open sesame"}]
            allow_cidrs: ["203.0.113.0/24", "2001:db8::/32"]
            https_only: true
            forwarded_for: X-Real-IP
            full_url: true
            reverse_proxy: false
            pass_preflight: true
            local_tls: mcp.local
            headers: {update: {Host: "localhost:8080"}}
            labels: {team: design}
    """, key=STRONG_KEY))
    assert spec.command == (
        "-p", "443", "-R0:127.0.0.1:8080", "-L0.0.0.0:4301:localhost:4300", "--conf", login_file.CLI_CONFIG,
        "-o", "StrictHostKeyChecking=no", "-o", "ServerAliveInterval=15",
        "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveCountMax=3",
        "-t", "eu.pro.pinggy.io",
        f"k:{STRONG_KEY}", '"b:alice:open sesame"', "w:203.0.113.0/24,2001:db8::/32", "x:https", "x:xff:X-Real-IP",
        "x:fullurl", "x:noreverseproxy", "x:passpreflight", "x:localServerTls:mcp.local", "u:Host:localhost:8080")
    assert spec.cli_config == '{"token": "tok1", "force": true}\n'  # its --conf file (engine/login_file.py)
    assert spec.labels["team"] == "design"


@pytest.mark.parametrize("kind", ["tcp", "tlstcp"])
def test_the_type_goes_into_the_ssh_user_or_the_clis_type_option(write_manifest, kind):
    """OpenSSH's user (in its login file) says it after the token; Pinggy's CLI, whose token is in its --conf file,
    takes it as --type."""
    cli, openssh = (specs_of(write_manifest, manifest_text("""
        version: 1
        tunnels: [{name: db, port: 5432, type: $kind, token: tok1, allow_cidrs: [10.0.0.0/8], image: $image}]
    """, kind=kind, image=image))[0] for image in ("pinggy/pinggy", "tunnelctl-test/pinggy-ssh:latest"))
    assert openssh.login_user == f"tok1+{kind}"
    at = cli.command.index("--type")
    assert cli.command[at + 1] == kind


def test_anonymous_typed_tunnel_logs_in_as_the_type(write_manifest):
    [spec] = specs_of(write_manifest, """
        version: 1
        tunnels: [{name: db, port: 5432, type: udp, region: ap, allow_cidrs: [10.0.0.0/8]}]
    """)
    assert "udp@ap.free.pinggy.io" in spec.command


@pytest.mark.parametrize("field, value, expected", [
    ("host", "-oProxyCommand=touch /tmp/x", "tunnels[0].host"),
    ("server", "-oProxyCommand=x", "tunnels[0].server"),
    ("token", "tok -o ProxyCommand=x", "tunnels[0].token"),
    ("access_keys", ["key\nx:fullurl"], "tunnels[0].access_keys[0]"),
    ("ssh_options", {"ProxyCommand": "sh -c x"}, "tunnels[0].ssh_options"),
    ("ssh_options", {"ConnectTimeout": "5 -oProxyCommand=x"}, "tunnels[0].ssh_options.ConnectTimeout"),
    ("basic_auth", [{"username": "al:ice", "password": "pw"}], "tunnels[0].basic_auth[0].username"),
    ("basic_auth", [{"username": "alice", "password": "a:b"}], "tunnels[0].basic_auth[0].password"),
    ("headers", {"add": {"X-A": "line\nr:Host"}}, "tunnels[0].headers.add.X-A"),
    ("headers", {"add": {"X-A k:evil": "v"}}, "tunnels[0].headers.add"),
    ("image", "--privileged", "tunnels[0].image"),
    ("labels", {"io.tunnelctl.project": "other"}, "tunnels[0].labels"),
])
def test_hostile_values_are_refused_before_reaching_any_argv(write_manifest, field, value, expected):
    entry = {"name": "web", "port": 8080, "access_keys": [STRONG_KEY], field: value}
    text = yaml.safe_dump({"version": 1, "tunnels": [entry]})
    problems = problems_of(write_manifest, text)
    assert any(f": {expected} (tunnel 'web'): " in problem for problem in problems), problems


@pytest.mark.parametrize("value", ['say "hi" k:evil', "it's -o ProxyCommand=x", "back\\slash x:fullurl", "-leading"])
def test_hostile_header_values_stay_one_remote_word(write_manifest, value):
    [spec] = specs_of(write_manifest, yaml.safe_dump({"version": 1, "tunnels": [
        {"name": "web", "port": 8080, "access_keys": [STRONG_KEY], "headers": {"add": {"X-Note": value}}}]}))
    destination = spec.command.index("free.pinggy.io")
    remote_words = spec.command[destination + 1:]
    # ssh joins the words with spaces; Pinggy splits them again: the header must come back whole and alone.
    assert shlex.split(" ".join(remote_words)) == [f"k:{STRONG_KEY}", f"a:X-Note:{value}"]


@pytest.mark.parametrize("text, expected", [
    ("""
        tunnels:
          - {name: a, port: 1, token: shared}
          - {name: b, port: 2, token: shared}
     """, "tunnels[1].token (tunnel 'b'): tunnels 'a', 'b' share one token"),
    ("""
        tunnels:
          - {name: a, port: 1, debugger_port: 4300}
          - {name: b, port: 2, debugger_port: 4300}
     """, "tunnels[1].debugger_port (tunnel 'b'): debugger_port 4300 is also used by tunnel 'a'"),
    ("""
        tunnels: [{name: db, port: 5432, type: tcp, headers: {add: {X-A: b}}}]
     """, "tunnels[0].headers (tunnel 'db'): headers only applies to http tunnels, and this one is tcp"),
    ("""
        tunnels: [{name: a, port: 1, headers: {remove: [host]}}]
     """, "the Host header can be updated (headers.update), not removed"),
    ("""
        tunnels: [{name: a, port: 1, allow_cidrs: ["10.0.0.0/33"]}]
     """, "tunnels[0].allow_cidrs (tunnel 'a'): '10.0.0.0/33' is not an IPv4 or IPv6 network"),
    ("""
        tunnels: [{name: a, port: 1, region: eu, server: my.pinggy.io}]
     """, "give a region or a server, not both"),
    ("""
        tunnels: [{name: a, port: 1, force: true}]
     """, "tunnels[0].force (tunnel 'a'): force needs a token"),
])
def test_domain_errors_point_at_the_offending_field(write_manifest, text, expected):
    problems = problems_of(write_manifest, "version: 1\n" + textwrap.dedent(text).strip() + "\n")
    assert any(expected in problem for problem in problems), problems


def test_warnings_are_reported_and_strict_makes_them_errors(write_manifest):
    text = """
        version: 1
        defaults: {token: token-one-1}
        tunnels:
          - {name: weak, port: 1, access_keys: [secret123]}
          - {name: open, port: 2, token: token-two-2, host: 203.0.113.9}
          - {name: fine, port: 3, token: token-three, access_keys: [STRONGKEY]}
    """.replace("STRONGKEY", STRONG_KEY)
    loaded = manifest.load(write_manifest(text), {})
    assert len(loaded.warnings) == 3
    weak, open_, foreign = loaded.warnings
    # no estimate of how weak: a key from the environment would be told by it (test_pull_request_author)
    assert weak.endswith("tunnels[0].access_keys (tunnel 'weak'): an access key has under 128 bits of randomness: "
                         "make a strong one with `tunnelctl gen-key`")
    assert ":5:" in open_ and "no visitor authentication" in open_ and "anyone with the URL" in open_
    assert "host '203.0.113.9' is not a loopback or local address" in foreign
    assert len(problems_of(write_manifest, text, strict=True)) == 3


def test_ssh_only_settings_are_said_to_do_nothing_with_pinggys_own_cli(write_manifest):
    text = manifest_text("""
        version: 1
        defaults: {keepalive: 60, access_keys: [$key]}
        tunnels:
          - {name: a, port: 1, ssh_options: {ConnectTimeout: 5}}
          - {name: b, port: 2, image: "pinggy/pinggy@sha256:$digest"}
          - {name: c, port: 3, image: tunnelctl-test/pinggy-ssh:latest, ssh_options: {ConnectTimeout: 5}}
    """, key=STRONG_KEY, digest="0" * 64)
    warnings = manifest.load(write_manifest(text), {}).warnings
    assert len(warnings) == 2, warnings  # the shared default is said once; the OpenSSH image gets no warning
    assert ":3:" in warnings[0] and "defaults.keepalive: keepalive has no effect with Pinggy's CLI (client: " \
        "pinggy-cli)" in warnings[0] and "set image to an OpenSSH-based one" in warnings[0]
    assert "tunnels[0].ssh_options (tunnel 'a'): ssh_options has no effect" in warnings[1]


def test_a_lone_address_in_allow_cidrs_is_sent_as_a_one_address_network(write_manifest):
    [spec] = specs_of(write_manifest, """
        version: 1
        tunnels: [{name: a, port: 1, allow_cidrs: ["198.51.100.7", "2001:db8::1", "10.0.0.0/8"]}]
    """)
    assert "w:198.51.100.7/32,2001:db8::1/128,10.0.0.0/8" in spec.command  # Pinggy's CLI drops the list otherwise


def test_log_rotation_is_on_by_default_and_each_part_can_be_changed(write_manifest):
    default, bigger = specs_of(write_manifest, manifest_text("""
        version: 1
        defaults: {access_keys: [$key]}
        tunnels:
          - {name: a, port: 1}
          - {name: b, port: 2, log_rotation: {max_size: 20m}}
    """, key=STRONG_KEY))
    assert (default.log_bounds.max_size, default.log_bounds.max_files) == ("1m", 3)
    assert (bigger.log_bounds.max_size, bigger.log_bounds.max_files) == ("20m", 3)
    assert default.spec_hash != bigger.spec_hash
    assert "tunnels[0].log_rotation.max_size" in "\n".join(problems_of(write_manifest, """
        version: 1
        tunnels: [{name: a, port: 1, log_rotation: {max_size: "1 TB"}}]
    """))


def test_an_added_host_header_warns_with_the_fix_and_is_still_carried(write_manifest):
    loaded = manifest.load(write_manifest(manifest_text("""
        version: 1
        tunnels:
          - name: mcp
            port: 3845
            access_keys: [$key]
            headers: {add: {Host: "{{ env.SECRET_HOST }}"}}
    """, key=STRONG_KEY)), {"SECRET_HOST": "localhost:3845"})
    [warning] = loaded.warnings
    assert warning.endswith("tunnels[0].headers (tunnel 'mcp'): headers.add.Host sends a second Host header (Pinggy's "
                            "a: appends), which a server answers with 400 and an MCP server refuses; to rewrite the "
                            "Host, move it to headers.update: {Host: …}")
    assert "localhost:3845" not in warning  # values may come from the environment: never printed
    [spec] = desired_specs(loaded)
    assert "a:Host:localhost:3845" in spec.command
    updated = manifest.load(write_manifest(manifest_text("""
        version: 1
        tunnels: [{name: mcp, port: 3845, access_keys: [$key], headers: {update: {Host: localhost:3845}}}]
    """, key=STRONG_KEY)), {})
    assert not updated.warnings and "u:Host:localhost:3845" in desired_specs(updated)[0].command


def test_shared_token_with_force_only_warns(write_manifest):
    loaded = manifest.load(write_manifest(manifest_text("""
        version: 1
        defaults: {token: shared-token, force: true, access_keys: [$key]}
        tunnels: [{name: a, port: 1}, {name: b, port: 2}]
    """, key=STRONG_KEY)), {})
    assert len(loaded.warnings) == 1 and "each login takes the token from the other" in loaded.warnings[0]


def test_dotenv_beside_the_manifest_and_env_files_feed_templates(write_manifest, tmp_path):
    (tmp_path / ".env").write_text(
        "# team defaults\nexport PORT=3845\nTOKEN='from dotenv'\nHOST=127.0.0.1 # loopback\n")
    extra = tmp_path / "ci.env"
    extra.write_text('TOKEN="fromfile"\nKEY=' + STRONG_KEY + "\n")
    path = write_manifest("""
        version: 1
        tunnels:
          - name: a
            port: "{{ env.PORT }}"
            host: "{{ env.HOST }}"
            token: "{{ env.TOKEN }}"
            access_keys: ["{{ env.KEY }}"]
    """)
    settings = manifest.load(path, {}, env_files=[extra]).tunnels[0].settings
    assert (settings.port, settings.host, settings.token) == (3845, "127.0.0.1", "fromfile")
    settings = manifest.load(path, {"TOKEN": "fromprocess"}, env_files=[extra]).tunnels[0].settings
    assert settings.token == "fromprocess"


def test_required_filter_speaks_the_authors_words(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - {name: a, port: 1, token: "{{ env.TOKEN | required('ask Ana for the team token') }}"}
    """)
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, {})
    assert caught.value.details == [f"{path}:4:24: tunnels[0].token (tunnel 'a'): ask Ana for the team token"]


def test_values_marked_secret_are_masked_wherever_they_flow(write_manifest):
    loaded = manifest.load(write_manifest(manifest_text("""
        version: 1
        tunnels:
          - name: a
            port: 1
            access_keys: [$key]
            headers: {add: {X-Api-Key: "{{ env.API_KEY | secret }}"}}
    """, key=STRONG_KEY)), {"API_KEY": "hunter2hunter2"})
    assert "hunter2hunter2" in loaded.secrets


def test_ignore_missing_env_checks_everything_else(write_manifest):
    text = """
        version: 1
        tunnels:
          - {name: a, port: "{{ env.PORT }}", token: "{{ env.TOKEN }}", access_keys: ["{{ env.KEY }}"]}
          - {name: b, port: 0}
    """
    problems = problems_of(write_manifest, text, ignore_missing_env=True)
    assert len(problems) == 1 and "tunnels[1].port (tunnel 'b'): 0 is less than the minimum of 1" in problems[0]


def test_every_schema_field_is_described():
    undocumented = [path for path, node, _ in _schema_fields(schema.manifest_schema()) if "description" not in node]
    assert undocumented == []


def _schema_fields(node, path=()):
    for name, child in node.get("properties", {}).items():
        yield path + (name,), child, None
        yield from _schema_fields(child, path + (name,))
    for name, child in node.get("$defs", {}).items():
        yield from _schema_fields(child, path + (name,))


def test_example_starts_with_the_editor_modeline():
    first = (REPO / "tunnels.yaml.example").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./schemas/editor.schema.json"


def test_init_writes_a_valid_starter_and_never_overwrites(tmp_path):
    created = run_tunnelctl("init", cwd=tmp_path)
    assert created.returncode == 0
    text = (tmp_path / "tunnels.yaml").read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=./tunnels.schema.json"  # the same on every clone
    assert json.loads((tmp_path / "tunnels.schema.json").read_text()) == schema.editor_schema()
    env = {"PINGGY_TOKEN": "tok-0123456789", "FIGMA_ACCESS_KEY": STRONG_KEY}
    assert run_tunnelctl("validate", "--strict", cwd=tmp_path, env=env).returncode == 0
    (tmp_path / "tunnels.yaml").write_text("mine\n")
    again = run_tunnelctl("init", cwd=tmp_path)
    assert again.returncode == 1 and "already exists; nothing was written" in again.stderr
    assert (tmp_path / "tunnels.yaml").read_text() == "mine\n"


def test_gen_key_is_strong_hex_and_refuses_weak_sizes(tmp_path):
    keys = {run_tunnelctl("gen-key", cwd=tmp_path).stdout.strip() for _ in range(2)}
    assert len(keys) == 2 and all(len(key) == 64 and set(key) <= set("0123456789abcdef") for key in keys)
    assert len(run_tunnelctl("gen-key", "--bytes", "20", cwd=tmp_path).stdout.strip()) == 40
    assert run_tunnelctl("gen-key", "--bytes", "8", cwd=tmp_path).returncode == 1


def test_schema_command_prints_the_shipped_editor_schema(tmp_path):
    printed = json.loads(run_tunnelctl("schema", cwd=tmp_path).stdout)
    assert printed == json.loads((REPO / "schemas" / "editor.schema.json").read_text()), \
        "regenerate it: python3 -m provisioner schema > schemas/editor.schema.json"


def test_pre_commit_hook_validates_the_files_it_is_given(tmp_path):
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    good = tmp_path / "tunnels.yaml"
    good.write_text('version: 1\ntunnels: [{name: a, port: 1, token: "{{ env.UNSET }}", allow_cidrs: [10.0.0.0/8]}]\n')
    bad = tmp_path / "tunnels.team.yaml"
    bad.write_text("version: 1\ntunnels: [{name: a, port: 99999}]\n")
    words = shlex.split(hook["entry"])
    assert words[0] == "tunnelctl"
    result = run_tunnelctl(*words[1:], str(good), str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert f"{good}: valid" in result.stdout
    assert "tunnels.team.yaml:2:" in result.stderr and "99999 is greater than the maximum of 65535" in result.stderr


def test_engines_place_tunnels_and_mistakes_are_pointed_at(write_manifest, tmp_path):
    loaded = manifest.load(write_manifest("""
        version: 1
        engines:
          laptop: {docker: "unix:///var/run/docker.sock"}
          home: {docker: "ssh://me@home.lan:2222"}
          dev: {context: devbox}
        defaults: {engine: laptop, allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: a, port: 1}
          - {name: b, port: 2, engine: home}
    """), {})
    assert [(tunnel.name, tunnel.engine) for tunnel in loaded.tunnels] == [("a", "laptop"), ("b", "home")]
    assert loaded.engines["dev"].context == "devbox" and loaded.engines["home"].docker == "ssh://me@home.lan:2222"

    problems = problems_of(write_manifest, """
        version: 1
        engines:
          laptop: {docker: "unix:///var/run/docker.sock"}
          bad: {docker: "ftp://nope"}
        tunnels:
          - {name: a, port: 1, allow_cidrs: [127.0.0.0/8]}
          - {name: b, port: 2, engine: laptop, allow_cidrs: [127.0.0.0/8]}
    """)
    assert len(problems) == 1 and ": engines.bad.docker: 'ftp://nope' is not allowed: " in problems[0]
    problems = problems_of(write_manifest, """
        version: 1
        engines:
          laptop: {docker: "unix:///var/run/docker.sock"}
          devbox: {docker: "tcp://devbox:2376", tls: {ca: ca.pem, cert: cert.pem, key: key.pem}}
        tunnels:
          - {name: a, port: 1, allow_cidrs: [127.0.0.0/8]}
          - {name: b, port: 2, engine: moon, allow_cidrs: [127.0.0.0/8]}
    """)
    text = "\n".join(problems)
    assert "tunnels[0] (tunnel 'a'): several engines are declared: set engine (one of devbox, laptop)" in text
    assert ("tunnels[1].engine (tunnel 'b'): engine 'moon' is not declared under engines "
            "(declared: devbox, laptop)") in text
    assert f"engines.devbox.tls.ca: {tmp_path / 'ca.pem'}: no such file" in text


def test_what_pinggys_cli_refuses_or_ignores_is_said_without_printing_the_token(write_manifest):
    """The CLI refuses a token under 10 characters before connecting, and always dials port 443."""
    text = manifest_text("""
        version: 1
        defaults: {access_keys: [$key]}
        tunnels:
          - {name: short, port: 1, token: "{{ env.SHORT }}"}
          - {name: dialled, port: 2, token: long-enough-token, server_port: 2222}
          - {name: ssh, port: 3, token: "{{ env.TINY }}", server_port: 2222, image: tunnelctl-test/pinggy-ssh:latest}
    """, key=STRONG_KEY)
    warnings = manifest.load(write_manifest(text), {"SHORT": "sEcr3t7", "TINY": "t1"}).warnings
    assert len(warnings) == 2, warnings  # an OpenSSH image takes both
    assert "tunnels[0].token (tunnel 'short'): token is shorter than 10 characters: Pinggy's CLI" in warnings[0]
    assert "sEcr3t7" not in "".join(warnings)
    assert "tunnels[1].server_port (tunnel 'dialled'): server_port has no effect with Pinggy's CLI (client: " \
           "pinggy-cli): it always connects to port 443" in warnings[1]
