"""Desired container specs: the exact argv people used to type, and labels that own without leaking."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from conftest import manifest_text
from provisioner import manifest
from provisioner.desired import labels, model
from provisioner.desired.specs import desired_specs
from provisioner.engine import login_file
from provisioner.errors import ManifestError
from provisioner.manifest.domain_checks import OPENSSH, PINGGY_CLI, image_client

# The command from the developers' brief, as people paste it today.
FIGMA_DOCKER_RUN = """docker run --name figma-tunnel -d --restart unless-stopped --net=host pinggy/pinggy -p 443 \\
  -R0:127.0.0.1:3845 -o StrictHostKeyChecking=no -o ServerAliveInterval=30 -t TOKEN+force@pro.pinggy.io \\
  k:ACCESS_KEY x:https x:xff a:Host:localhost:3845"""

FIGMA_MANIFEST = """
    version: 1
    project: figma
    tunnels:
      - name: figma
        port: 3845
        container_name: figma-tunnel
        token: "{{ env.PINGGY_TOKEN }}"
        force: true
        access_keys: ["{{ env.FIGMA_ACCESS_KEY }}"]
        https_only: true
        forwarded_for: true
        headers:
          add: {Host: "localhost:3845"}
"""
# Pinggy keys are letters and digits only, so the brief's placeholder ACCESS_KEY becomes ACCESSKEY here.
FIGMA_ENV = {"PINGGY_TOKEN": "TOKEN", "FIGMA_ACCESS_KEY": "ACCESSKEY"}


def in_login_file_form(arguments: list[str], cli: bool) -> list[str]:
    """A hand-written client argv (`… -t USER@SERVER …`) as tunnelctl writes it, the user in the container's login
    file (engine/login_file.py) and not in the argv: OpenSSH's `-F FILE`, or Pinggy's CLI's `--conf FILE` and its
    type with `--type`, before the options."""
    at = arguments.index("-t") + 1
    user, _, server = arguments[at].rpartition("@")
    kind = [word for word in user.split("+")[1:] if word != "force"]
    named = ((["--conf", login_file.CLI_CONFIG] + (["--type", *kind] if kind else [])) if cli
             else ["-F", login_file.CONFIG])
    first_option = arguments.index("-o")
    return arguments[:first_option] + named + arguments[first_option:at] + [server] + arguments[at + 1:]


def shell_words(command: str) -> list[str]:
    command = command.replace("\\\n", " ")  # a shell joins backslash-continued lines
    return shlex.split(command.replace("k:ACCESS_KEY", "k:ACCESSKEY"))


def spec_for(write_manifest, text: str, environ=None):
    return desired_specs(manifest.load(write_manifest(text), environ or {}))


def test_figma_example_produces_exactly_the_hand_written_docker_run(write_manifest):
    [spec] = spec_for(write_manifest, FIGMA_MANIFEST, FIGMA_ENV)
    words = shell_words(FIGMA_DOCKER_RUN)
    image_at = words.index("pinggy/pinggy")
    assert spec.command == tuple(in_login_file_form(words[image_at + 1:], cli=True))
    assert login_file.user_in(spec.cli_config or "") == "TOKEN" and '"force": true' in (spec.cli_config or "")
    assert spec.container_name == words[words.index("--name") + 1]
    assert spec.restart_policy == words[words.index("--restart") + 1]
    assert spec.image == "pinggy/pinggy:latest"  # the same image `pinggy/pinggy` names


def test_labels_own_the_container_and_never_hold_a_secret(write_manifest):
    [spec] = spec_for(write_manifest, FIGMA_MANIFEST, FIGMA_ENV)
    assert spec.labels[labels.MANAGED_BY] == "tunnelctl"
    assert spec.labels[labels.PROJECT] == "figma"
    assert spec.labels[labels.TUNNEL] == "figma"
    text = json.dumps({**spec.labels, **spec.annotations})
    assert "TOKEN" not in text and "ACCESSKEY" not in text


def test_tunnelctls_labels_fit_kubernetes_label_limit_and_the_long_digests_are_annotations(write_manifest):
    """Label values are at most 63 characters on Kubernetes; the project and tunnel names are DNS labels (≤ 63), and
    what may be longer (the spec hash, a digest per setting) is kept apart, for an engine to store as annotations."""
    [spec] = spec_for(write_manifest, FIGMA_MANIFEST, FIGMA_ENV)
    assert max(len(value) for value in spec.labels.values()) <= 63
    assert set(spec.annotations) == {labels.SPEC_HASH, labels.SETTING_DIGESTS, labels.SETTING_VALUES}
    assert len(spec.annotations[labels.SETTING_DIGESTS]) > 63


def test_spec_hash_is_stable_and_follows_every_setting(write_manifest):
    base = spec_for(write_manifest, FIGMA_MANIFEST, FIGMA_ENV)[0]
    again = spec_for(write_manifest, FIGMA_MANIFEST, FIGMA_ENV)[0]
    other_token = spec_for(write_manifest, FIGMA_MANIFEST, {**FIGMA_ENV, "PINGGY_TOKEN": "OTHER"})[0]
    assert base.spec_hash == again.spec_hash
    assert other_token.spec_hash != base.spec_hash
    changed = [name for name in base.setting_digests if base.setting_digests[name] != other_token.setting_digests[name]]
    assert changed == ["token"]


def test_anonymous_tunnel_has_no_user_and_uses_the_free_server(write_manifest):
    [spec] = spec_for(write_manifest, """
        version: 1
        tunnels: [{name: web, port: 8080}]
    """)
    assert "free.pinggy.io" in spec.command
    assert not any("@" in word for word in spec.command)


def test_header_values_with_spaces_and_quotes_stay_one_remote_word(write_manifest):
    [spec] = spec_for(write_manifest, """
        version: 1
        tunnels:
          - name: web
            port: 8080
            headers:
              add: {X-Note: ["hello world", 'say "hi"'], X-Plain: ok}
              update: {User-Agent: "tunnel ctl"}
              remove: [X-Debug]
    """)
    options = spec.command[spec.command.index("free.pinggy.io") + 1:]
    assert options == ('"a:X-Note:hello world"', r'"a:X-Note:say \"hi\""', "a:X-Plain:ok",
                       '"u:User-Agent:tunnel ctl"', "r:X-Debug")
    # What the server sees after ssh joins the words with spaces and splits them again, shell-like:
    assert shlex.split(" ".join(options)) == ["a:X-Note:hello world", 'a:X-Note:say "hi"', "a:X-Plain:ok",
                                              "u:User-Agent:tunnel ctl", "r:X-Debug"]


def test_every_tunnel_runs_hardened_and_the_hardening_is_part_of_the_hash(write_manifest, monkeypatch):
    from provisioner.desired import specs

    path = write_manifest("version: 1\ntunnels: [{name: a, port: 1}]\n")
    before = specs.container_spec("p", manifest.load(path, {}).tunnels[0])
    monkeypatch.setattr(specs, "HARDENED", replace(model.HARDENED, max_processes=128))
    after = specs.container_spec("p", manifest.load(path, {}).tunnels[0])
    assert before.spec_hash != after.spec_hash and after.hardening.max_processes == 128
    assert before.hardening.drop_all_capabilities and before.hardening.read_only_root


@pytest.mark.parametrize(("image", "client"), [
    ("pinggy/pinggy", PINGGY_CLI), ("pinggy/pinggy:latest", PINGGY_CLI), ("docker.io/pinggy/pinggy:1", PINGGY_CLI),
    ("registry.example:5000/pinggy/pinggy", PINGGY_CLI), ("registry.example:5000/pinggy/pinggy:2026", PINGGY_CLI),
    ("ghcr.io/x/pinggy/pinggy@sha256:" + "0" * 64, PINGGY_CLI),
    ("ghcr.io/acme/pinggy-cli", OPENSSH), ("tunnelctl-test/pinggy-real:latest", OPENSSH),
    ("tunnelctl-test/pinggy-ssh:latest", OPENSSH), ("notpinggy/pinggy", OPENSSH), ("pinggy/pinggy-ssh", OPENSSH),
])
def test_the_client_is_known_by_the_images_repository_mirrors_included(image, client):
    assert image_client(image) == client


def test_a_mirror_and_any_image_set_to_the_cli_get_the_clis_layout_and_openssh_its_own(write_manifest):
    """Pinggy's CLI (a mirror, or another name with `client: pinggy-cli`): its token in its --conf file, in a network
    namespace of its own with a relay; OpenSSH (another image, or the default one with `client: openssh`): -F and
    its login user, on the host network."""
    specs = {spec.tunnel: spec for spec in spec_for(write_manifest, """
        version: 1
        defaults: {allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: mirror, port: 1, token: tok0123456789, image: "registry.example:5000/pinggy/pinggy:1"}
          - {name: renamed, port: 2, token: tok1123456789, image: "ghcr.io/acme/pinggy-cli", client: pinggy-cli}
          - {name: ssh, port: 3, token: tok2123456789, image: "tunnelctl-test/pinggy-ssh:latest"}
          - {name: default-as-ssh, port: 4, token: tok3123456789, client: openssh}
    """)}
    for name in ("mirror", "renamed"):
        spec = specs[name]
        assert login_file.CLI_CONFIG in spec.command and "-F" not in spec.command, spec.command
        assert (spec.loopback_relay, spec.network, spec.login_user) == (True, "bridge", None)
        assert (login_file.user_in(spec.cli_config or "") or "").startswith("tok")
    for name in ("ssh", "default-as-ssh"):
        spec = specs[name]
        assert login_file.CONFIG in spec.command and "--conf" not in spec.command, spec.command
        assert (spec.loopback_relay, spec.network, spec.cli_config) == (False, "host", None)
        assert (spec.login_user or "").startswith("tok")


def test_naming_the_client_the_image_implies_recreates_nothing(write_manifest):
    """`client` is in no spec hash: a tunnel's container is what its layout makes it, so saying what was already
    implied (or upgrading to a tunnelctl that knows the setting) changes no container."""
    def hashes(client: str) -> list[str]:
        return [spec.spec_hash for spec in spec_for(write_manifest, manifest_text("""
            version: 1
            defaults: {allow_cidrs: [127.0.0.0/8]}
            tunnels:
              - {name: cli, port: 1, token: tok0123456789 $cli}
              - {name: ssh, port: 2, token: tok1123456789, image: "tunnelctl-test/pinggy-ssh:latest" $ssh}
        """, cli=client and ", client: pinggy-cli", ssh=client and ", client: openssh"))]

    assert hashes("") == hashes("named")


def test_a_client_tunnelctl_does_not_know_is_refused_where_it_is_written(write_manifest):
    path = write_manifest("""
        version: 1
        tunnels:
          - {name: a, port: 1, client: ssh}
    """)
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, {})
    assert caught.value.details == [
        f"{path}:4:24: tunnels[0].client (tunnel 'a'): 'ssh' is not one of ['pinggy-cli', 'openssh']"]


def test_the_clis_rules_follow_the_client_not_the_images_name(write_manifest):
    """validate warns of what Pinggy's CLI refuses or ignores wherever the client is the CLI, and nowhere else."""
    loaded = manifest.load(write_manifest("""
        version: 1
        defaults: {allow_cidrs: [127.0.0.0/8]}
        tunnels:
          - {name: renamed, port: 1, token: short1, image: "ghcr.io/acme/pinggy-cli", client: pinggy-cli}
          - {name: default-as-ssh, port: 2, token: short2, client: openssh, keepalive: 10}
    """), {})
    assert [line.split(": warning: ", 1)[1] for line in loaded.warnings] == [
        "tunnels[0].token (tunnel 'renamed'): token is shorter than 10 characters: Pinggy's CLI (client: "
        "pinggy-cli) refuses it before connecting ('Token must be at least 10 characters long'); copy the whole token "
        "from the Pinggy dashboard"], loaded.warnings
