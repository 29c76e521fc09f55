"""Pinggy's options as one table (provisioner/manifest/options.py) and one case file each (pinggy_options/): the argv
builder, validate's http-only check, README's option table and the stand-in's parsers all follow the table.

A case file is a tunnel as a manifest writes it and the argv it must become; `cli` is what Pinggy's CLI parses that
argv into (tests/test_pinggy_cli_argv.py runs the real CLI over every case), `cli_refuses` what it says instead;
`openssh`, where the user differs, the argv and login file user (engine/login_file.py) of an OpenSSH-based image.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from conftest import REPO
from provisioner import manifest
from provisioner.desired.specs import desired_specs
from provisioner.errors import ManifestError
from provisioner.manifest.options import BY_FIELD, OPTIONS, markdown_table
from provisioner.manifest.schema import manifest_schema
from provisioner.manifest.settings import Settings

CASES = sorted((Path(__file__).parent / "pinggy_options").glob("*.yaml"))
# The stand-in's edge routes and guards requests; these options change what the client or Pinggy's proxy does to
# them, which the edge leaves alone (its session still records them).
EDGE_LEAVES = {"x:noreverseproxy", "x:localServerTls"}


def load_case(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def specs_of(write_manifest, tunnel: dict) -> list:
    text = yaml.safe_dump({"version": 1, "project": "p", "tunnels": [tunnel]})
    return desired_specs(manifest.load(write_manifest(text), {}))


def remote_words(argv: list[str]) -> list[str]:
    """The words after the destination: the ssh remote command."""
    return argv[argv.index("-t") + 2:]


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_the_case_becomes_its_argv(write_manifest, path):
    case = load_case(path)
    [spec] = specs_of(write_manifest, case["tunnel"])
    assert list(spec.command) == case["argv"]


OPENSSH_CASES = [path for path in CASES if "openssh" in load_case(path)]


@pytest.mark.parametrize("path", OPENSSH_CASES, ids=[path.stem for path in OPENSSH_CASES])
def test_an_openssh_image_takes_its_user_from_its_login_file(write_manifest, path):
    case = load_case(path)
    [spec] = specs_of(write_manifest, {**case["tunnel"], "image": "tunnelctl-test/pinggy-ssh:latest"})
    assert (list(spec.command), spec.login_user) == (case["openssh"]["argv"], case["openssh"]["login_user"])


def test_every_option_in_the_argv_has_a_case():
    """A row whose setting reaches the client (its CLI column says where, or that it is ignored) is proven by a case
    that sets it."""
    covered = {field for path in CASES for field in load_case(path)["tunnel"]}
    missing = [option.field for option in OPTIONS if option.cli and option.field not in covered]
    assert not missing, f"add a case file to tests/pinggy_options/ for {missing}"


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_validate_refuses_exactly_the_http_only_options_on_a_tcp_tunnel(write_manifest, path):
    tunnel = {**load_case(path)["tunnel"], "type": "tcp"}
    http_only = sorted(field for field in tunnel if field in BY_FIELD and BY_FIELD[field].http_only)
    try:
        specs_of(write_manifest, tunnel)
        refused = []
    except ManifestError as error:
        said = "\n".join(error.details)
        refused = sorted(re.findall(r"(\w+) only applies to http tunnels, and this one is tcp", said))
    assert refused == http_only


def test_the_mcp_option_is_http_only_too(write_manifest):
    with pytest.raises(ManifestError) as refused:
        specs_of(write_manifest, {"name": "t", "port": 1, "type": "tls", "mcp": True})
    assert "mcp only applies to http tunnels, and this one is tls" in refused.value.details[0]


def _types(node: dict) -> set[str]:
    """A schema node's types in the table's words."""
    names = {"string": "string", "integer": "integer", "boolean": "boolean", "array": "list", "object": "mapping"}
    if "$ref" in node:
        node = {**manifest_schema()["$defs"][node["$ref"].rpartition("/")[2]], **node}
    if "oneOf" in node:
        return set().union(*map(_types, node["oneOf"]))
    if "enum" in node:
        return {"string"}
    return {names[node["type"]]}


def test_the_table_has_one_row_per_field_of_the_schema_with_its_type_and_default():
    schema = manifest_schema()["$defs"]
    fields = {**schema["tunnel"]["properties"], **schema["settings"]["properties"]}
    assert [option.field for option in OPTIONS if option.field not in fields] == []
    assert [field for field in fields if field not in BY_FIELD] == []
    for option in OPTIONS:
        node = fields[option.field]
        said = set(option.type.partition(" of ")[0].split(" or "))  # "list of strings": a list
        assert said == _types(node), f"{option.field}: the table says {option.type!r}, the schema {node}"
        default = node.get("default")
        if isinstance(default, bool | int | str):
            shown = str(default).lower() if isinstance(default, bool) else str(default)
            assert f"`{shown}" in option.default, f"{option.field}: the schema's default is {default!r}"


def test_readme_shows_the_table():
    readme = (REPO / "README.md").read_text()
    assert markdown_table() in readme, "README's option table differs from provisioner/manifest/options.py; " \
                                       "replace it with:\n" + markdown_table()


def _standin(name: str):
    """One of the stand-in's scripts (no .py suffix) as a module."""
    loader = SourceFileLoader(name.replace("-", "_"), str(REPO / "standin" / name))
    module = ModuleType(loader.name)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_the_standin_session_understands_every_word(path):
    """The stand-in's session parses what the client sends (the words joined as ssh joins them) and knows each."""
    session = _standin("pinggy-session")
    words, error = session.split_command(" ".join(remote_words(load_case(path)["argv"])))
    assert error is None
    assert session.parse_options(words)["unknown"] == []


def _option_of(word: str) -> str:
    """`k:KEY` → `k:`; `x:xff:Name` → `x:xff` (a quoted word unquoted first)."""
    word = word.strip('"')
    return "x:" + word[2:].split(":")[0] if word.startswith("x:") else word[:2]


def test_the_standin_edge_acts_on_every_option_it_should():
    """Each word the table can produce is one the edge says it enforces, or one it leaves alone on purpose."""
    edge_doc = _standin("pinggy-edge").__doc__
    produced = {_option_of(word) for path in CASES for word in remote_words(load_case(path)["argv"])}
    enforced = {word for word in produced if f"  * {word}" in edge_doc or f"/{word}" in edge_doc}
    assert produced - enforced == EDGE_LEAVES


def test_the_typed_settings_have_a_field_per_setting_required_where_the_schema_gives_a_default():
    """The loader merges the schema's defaults, so a field with one is always set; a field without is None when the
    manifest leaves it out (and then it is not in the setting digests, as before settings were typed)."""
    schema = manifest_schema()["$defs"]
    resolved = {**schema["settings"]["properties"], "port": {}, "container_name": {"default": "<project>-<name>"}}
    resolved.pop("engine")  # placement: Tunnel.engine
    typed = {field.name: field.default is MISSING for field in fields(Settings)}
    assert typed == {name: "default" in node or name == "port" for name, node in resolved.items()}
