"""The real Pinggy CLI (npm `pinggy`, pinned; what the pinggy/pinggy image runs) accepts every argv tunnelctl emits.

The CLI runs for real, with its native addon stubbed and stopped where it would start its daemon
(tests/support/pinggy-cli-parse-only.cjs); its debug log holds the configuration it parsed, which must say what the
manifest meant. scripts/setup installs it (scripts/install-pinggy-cli); the test installs it itself if it is missing
and is skipped only when npm cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest
from test_pinggy_options import CASES, load_case, specs_of

from conftest import REPO, manifest_text
from provisioner import manifest
from provisioner.desired.specs import container_spec, desired_specs
from provisioner.engine import login_file
from provisioner.engine.platforms import describe

INSTALL = REPO / "scripts" / "install-pinggy-cli"
PARSE_ONLY = REPO / "tests" / "support" / "pinggy-cli-parse-only.cjs"
ACCEPTED = "PARSE-ONLY: arguments accepted"
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4"  # a strong access key, so validate stays quiet

pytestmark = pytest.mark.npm


@pytest.fixture(scope="session")
def pinggy_cli(tmp_path_factory):
    """The pinned CLI's entry point; skipped, saying why, only where npm cannot install it."""
    try:
        installed = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("npm did not install pinggy within 10 minutes (is the npm registry reachable?)")
    if installed.returncode != 0:
        reason = (installed.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"npm could not install the pinned Pinggy CLI ({reason}); the argv check needs the npm registry")
    entry = os.path.join(installed.stdout.strip(), "node_modules", "pinggy", "dist", "index.cjs")
    return entry, tmp_path_factory.mktemp("pinggy-home")


def parse(pinggy_cli, argv: tuple[str, ...]) -> dict:
    """Run the CLI over `argv`; the configuration it built, or a failure quoting what it printed."""
    entry, home = pinggy_cli
    log = home / "cli.log"
    log.unlink(missing_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PINGGY_LOG_FILE": str(log), "PINGGY_LOG_LEVEL": "debug"}
    ran = subprocess.run(["node", "--require", str(PARSE_ONLY), entry, *argv], capture_output=True, text=True,
                         env=env, timeout=60)
    printed = ran.stdout + ran.stderr
    assert ran.returncode == 0 and ACCEPTED in ran.stdout, f"the CLI rejected {list(argv)}:\n{printed}"
    assert "Warning" not in printed, f"the CLI warned about {list(argv)}:\n{printed}"
    [built] = [line for line in log.read_text().splitlines() if "Final configuration built" in line]
    return json.loads(built[built.index("{"):])


def tunnel_list(template: str, **values: object) -> str:
    """The lines under `tunnels:` from a `manifest_text` template of the list."""
    return textwrap.indent(manifest_text(template, **values), "  ")


def runnable(spec, write_manifest) -> tuple[str, ...]:
    """The spec's argv, its `--conf` file (the token: engine/login_file.py) where the CLI here reads it: the container's
    path is not on this machine."""
    if not spec.cli_config:
        return spec.command
    conf = write_manifest(spec.cli_config, f"{spec.tunnel}-pinggy.json")
    return tuple(str(conf) if word == login_file.CLI_CONFIG else word for word in spec.command)


def argv_of(write_manifest, tunnels: str) -> dict[str, tuple[str, ...]]:
    text = "version: 1\nproject: p\ntunnels:\n" + tunnels
    return {spec.tunnel: runnable(spec, write_manifest)
            for spec in desired_specs(manifest.load(write_manifest(text), {}))}


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_each_options_case_means_to_the_cli_what_it_says(pinggy_cli, write_manifest, path):
    """tests/pinggy_options/: the argv each case expects of tunnelctl (with its --conf file), parsed by the CLI into
    what the case says."""
    case = load_case(path)
    [spec] = specs_of(write_manifest, case["tunnel"])
    assert list(spec.command) == case["argv"]
    if "cli_refuses" in case:
        with pytest.raises(AssertionError, match=case["cli_refuses"]):
            parse(pinggy_cli, runnable(spec, write_manifest))
        return
    config = parse(pinggy_cli, runnable(spec, write_manifest))
    assert {key: config[key] for key in case["cli"]} == case["cli"]


def test_every_http_option_is_accepted_and_understood(pinggy_cli, write_manifest):
    [argv] = argv_of(write_manifest, tunnel_list("""
        - name: web
          port: 8080
          token: tok1
          region: eu
          force: true
          keepalive: 15
          ssh_options: {ServerAliveCountMax: 3, ExitOnForwardFailure: true, ConnectTimeout: 10}
          debugger_port: 4301
          access_keys: [$key, $reversed_key]
          basic_auth: [{username: alice, password: "open sesame"}, {username: bob, password: "p@ss"}]
          allow_cidrs: ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]
          https_only: true
          forwarded_for: true
          full_url: true
          reverse_proxy: false
          pass_preflight: true
          local_tls: mcp.local
          headers:
            add: {Host: "localhost:8080", X-Note: ["hello world", 'say "hi"']}
            update: {User-Agent: "tunnel ctl"}
            remove: [X-Debug]
    """, key=KEY, reversed_key=KEY[::-1])).values()
    config = parse(pinggy_cli, argv)
    assert config["token"] == "tok1" and config["force"] is True
    assert config["serverAddress"] == "eu.pro.pinggy.io"
    assert config["forwarding"] == [{"address": "https://127.0.0.1:8080", "type": "http"}]  # local_tls: https
    assert config["webDebugger"] == "0.0.0.0:4301"  # its own network namespace (relays_loopback)
    assert config["bearerTokenAuth"] == [KEY, KEY[::-1]]
    assert config["basicAuth"] == [{"username": "alice", "password": "open sesame"},
                                   {"username": "bob", "password": "p@ss"}]
    assert config["ipWhitelist"] == ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"]
    assert (config["httpsOnly"], config["xForwardedFor"], config["originalRequestUrl"], config["reverseProxy"],
            config["allowPreflight"]) == (True, True, True, False, True)
    assert config["headerModification"] == [
        {"type": "add", "key": "Host", "value": ["localhost:8080"]},
        {"type": "add", "key": "X-Note", "value": ["hello world"]},
        {"type": "add", "key": "X-Note", "value": ['say \\"hi\\"']},  # the CLI keeps ssh's escaping: a CLI quirk
        {"type": "update", "key": "User-Agent", "value": ["tunnel ctl"]},
        {"type": "remove", "key": "X-Debug", "value": []}]


@pytest.mark.parametrize("kind", ["tcp", "tls", "udp", "tlstcp"])
def test_every_tunnel_type_is_accepted(pinggy_cli, write_manifest, kind):
    tunnels = tunnel_list("- {name: t, port: 5432, token: tok2, type: $kind, server: a.pinggy.io}\n", kind=kind)
    [argv] = argv_of(write_manifest, tunnels).values()
    config = parse(pinggy_cli, argv)
    assert config["forwarding"] == [{"address": "127.0.0.1:5432", "type": kind}]
    assert (config["token"], config["serverAddress"], config["force"]) == ("tok2", "a.pinggy.io", False)


def test_anonymous_tunnels_and_other_hosts_are_accepted(pinggy_cli, write_manifest):
    argvs = argv_of(write_manifest, tunnel_list("""
        - {name: anon, port: 3000, access_keys: [$key]}
        - {name: lan, port: 9000, host: localhost, server_port: 80, local_tls: localhost, access_keys: [$key]}
    """, key=KEY))
    anon = parse(pinggy_cli, argvs["anon"])
    assert (anon["token"], anon["serverAddress"]) == ("", "free.pinggy.io")
    assert anon["forwarding"] == [{"address": "127.0.0.1:3000", "type": "http"}]
    lan = parse(pinggy_cli, argvs["lan"])
    assert lan["forwarding"] == [{"address": "https://localhost:9000", "type": "http"}]


def test_options_the_cli_does_not_understand_are_what_validate_warns_about(pinggy_cli, write_manifest):
    """Pinggy's CLI knows `x:xff` only (`x:xff:Name` draws `Unknown extended option` and no header at all), and
    turns TLS to the local server on only with an SNI name: validate warns about both with the default image."""
    tunnels = tunnel_list("""
        - {name: named, port: 1, forwarded_for: X-Real-IP, access_keys: [$key]}
        - {name: tls, port: 2, local_tls: true, access_keys: [$key]}
    """, key=KEY)
    argvs = argv_of(write_manifest, tunnels)
    with pytest.raises(AssertionError, match='Unknown extended option "xff:X-Real-IP"'):
        parse(pinggy_cli, argvs["named"])
    assert parse(pinggy_cli, argvs["tls"])["forwarding"] == [{"address": "127.0.0.1:2", "type": "http"}]  # no https
    warnings = manifest.load(write_manifest("version: 1\ntunnels:\n" + tunnels), {}).warnings
    assert len(warnings) == 2, warnings
    assert "forwarded_for with a header name has no effect with Pinggy's CLI (client: pinggy-cli)" in warnings[0]
    assert "local_tls: true has no effect with Pinggy's CLI (client: pinggy-cli)" in warnings[1]


def test_the_argv_off_the_host_network_is_accepted_docker_desktop_and_a_service_on_a_network(pinggy_cli,
                                                                                            write_manifest):
    """Docker Desktop's bridge (host.docker.internal, the four-part -L binding the debugger to every address of the
    container) and a service on a user-defined network: the CLI reads both as meant."""
    desktop = describe(json.loads((REPO / "tests/data/engine-info/docker-desktop-macos.json").read_text()))
    loaded = manifest.load(write_manifest(manifest_text("""\
        version: 1
        project: p
        tunnels:
          - {name: figma, port: 3845, token: tok3, debugger_port: 4301, access_keys: [$key]}
          - {name: web, port: 80, token: tok4, network: app, host: web, debugger_port: 4302, access_keys: [$key]}
    """, key=KEY)), {})
    figma, web = (runnable(container_spec("p", tunnel, desktop), write_manifest) for tunnel in loaded.tunnels)
    config = parse(pinggy_cli, figma)
    assert config["forwarding"] == [{"address": "host.docker.internal:3845", "type": "http"}]
    assert config["webDebugger"] == "0.0.0.0:4301"
    config = parse(pinggy_cli, web)
    assert config["forwarding"] == [{"address": "web:80", "type": "http"}]
    assert config["webDebugger"] == "0.0.0.0:4302"
