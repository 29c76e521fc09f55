"""The example manifest a newcomer copies must stay valid and produce the brief's Figma container."""

from __future__ import annotations

from pathlib import Path

from test_specs import FIGMA_DOCKER_RUN, in_login_file_form, shell_words

from provisioner import manifest
from provisioner.desired.specs import desired_specs

EXAMPLE = Path(__file__).resolve().parent.parent / "tunnels.yaml.example"


def test_example_manifest_is_the_figma_command():
    loaded = manifest.load(EXAMPLE, {"PINGGY_TOKEN": "TOKEN", "FIGMA_ACCESS_KEY": "ACCESSKEY"})
    [spec] = desired_specs(loaded)
    # the brief's command, but with the Host header rewritten (u:) rather than added a second time (a:)
    words = [word.replace("a:Host:", "u:Host:") for word in shell_words(FIGMA_DOCKER_RUN)]
    assert spec.command == tuple(in_login_file_form(words[words.index("pinggy/pinggy") + 1:], cli=True))
    assert spec.container_name == "figma-tunnel"
