"""Bad input never crashes: random and mutated manifests end in a clear message, quickly, never a traceback."""

from __future__ import annotations

import contextlib
import io
import os
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO
from provisioner import cli, manifest
from provisioner.errors import ManifestError

EXAMPLE = (REPO / "tunnels.yaml.example").read_bytes()
FIELDS = ["version", "project", "defaults", "tunnels", "name", "port", "host", "token", "server", "type", "force",
          "access_keys", "basic_auth", "headers", "add", "update", "remove", "keepalive", "image", "labels",
          "ssh_options", "allow_cidrs", "forwarded_for", "local_tls", "debugger_port", "region"]
# A CI secret the templates may read: whatever they do with it, it never appears in the output.
SECRET_NAME, SECRET = "TUNNELCTL_TEST_CI_SECRET", "ghp_Hyp0thesisSecret42"
TEMPLATE_BITS = ["{{ env.HOME }}", "{{ env.NOPE }}", "{{ ''.__class__ }}", "{% for x in range(3) %}x{% endfor %}",
                 "{{ 1/0 }}", "{{", "{% if %}", "{{ 'a' * 99999999 }}", "{{ env.HOME | required('x') }}",
                 "{{ env." + SECRET_NAME + " }}", "{{ env." + SECRET_NAME + " }}\n"]
# Template shapes: an expression over the secret (or the whole env), piped through filters, maybe wrapped.
EXPRESSIONS = st.sampled_from([f"env.{SECRET_NAME}", f"env['{SECRET_NAME}']", f"env.get('{SECRET_NAME}')", "env",
                               f"{{}}[env.{SECRET_NAME}]", f"env.{SECRET_NAME}[2:]", "env.items()", "env.pop('x')",
                               f"[env.{SECRET_NAME}] * 3", f"'%s:%s' % (env.{SECRET_NAME}, 1)", "range(3)"])
FILTERS = st.lists(st.sampled_from(["upper", "list", "join", "dictsort", "int", "string", "tojson", "length",
                                    "trim", "first", "reverse", "e", "pprint", "center(9)", "format(1)"]), max_size=3)
SURROUNDINGS = st.sampled_from(["{{ X }}", "a{{ X }}b", "{{ X }}\n", "{% if X %}1{% endif %}",
                                "{% for i in X %}{{ i }}{% endfor %}"])
templates = st.builds(lambda expression, filters, around: around.replace("X", " | ".join([expression, *filters])),
                      EXPRESSIONS, FILTERS, SURROUNDINGS)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                    st.text(max_size=40), st.sampled_from(TEMPLATE_BITS), st.sampled_from(FIELDS), templates,
                    st.text(min_size=1000, max_size=5000))
documents = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), inner, max_size=6)), max_leaves=40)


def run(path: Path, *command: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([*command, "-f", str(path)])
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A file to write cases into, and an engine address that cannot answer: `plan` stays away from real Docker."""
    previous = os.environ.get("DOCKER_HOST")
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"
    os.environ[SECRET_NAME] = SECRET
    yield tmp_path_factory.mktemp("hostile") / "tunnels.yaml"
    os.environ.pop(SECRET_NAME)
    if previous is None:
        os.environ.pop("DOCKER_HOST")
    else:
        os.environ["DOCKER_HOST"] = previous


def assert_handled(path: Path) -> None:
    for command in ("validate", "plan"):
        started = time.monotonic()
        code, printed = run(path, command)
        assert code in (0, 1), printed
        assert "internal error" not in printed and "Traceback" not in printed, printed
        assert SECRET not in printed and SECRET[2:] not in printed and SECRET.upper() not in printed, printed
        assert time.monotonic() - started < 10
        if code == 1:
            assert printed.strip().splitlines()[-1].startswith("error: "), printed


COMMON = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@COMMON
@given(document=documents)
def test_random_documents(sandbox, document):
    sandbox.write_text(yaml.safe_dump(document, allow_unicode=True))
    assert_handled(sandbox)


@COMMON
@given(template=templates, field=st.sampled_from(["host", "token", "server", "image", "container_name", "port",
                                                  "keepalive", "local_tls", "forwarded_for", "access_keys"]))
def test_generated_templates_over_a_secret(sandbox, template, field):
    sandbox.write_text(yaml.safe_dump({"version": 1, "tunnels": [{"name": "a", "port": 1, field: template}]}))
    assert_handled(sandbox)


@COMMON
@given(document=documents)
def test_random_tunnel_lists(sandbox, document):
    sandbox.write_text(yaml.safe_dump({"version": 1, "tunnels": [document, {"name": "ok", "port": 1}]}))
    assert_handled(sandbox)


@COMMON
@given(edits=st.lists(st.tuples(st.integers(0, len(EXAMPLE)), st.binary(max_size=8), st.integers(0, 8)), max_size=6))
def test_mutated_example(sandbox, edits):
    data = bytearray(EXAMPLE)
    for at, insert, delete in edits:
        data[at:at + delete] = insert
    sandbox.write_bytes(bytes(data))
    assert_handled(sandbox)


@COMMON
@given(blob=st.binary(max_size=2000))
def test_binary_garbage(sandbox, blob):
    sandbox.write_bytes(blob)
    assert_handled(sandbox)


@pytest.mark.parametrize("template, message", [
    ("{{ 'a' * 10**9 }}", "too long"),
    ("{{ 'a' | center(999999999) }}", "too large"),
    ("{{ 'a'.ljust(999999999) }}", "too large"),
    ("{{ '%0999999999d' % 1 }}", "format width"),
    ("{{ '{:>999999999}'.format(1) }}", "format width"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", "more than 65536"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
])
def test_template_bombs_are_stopped_with_a_reason(write_manifest, template, message):
    path = write_manifest(yaml.safe_dump({"version": 1, "tunnels": [{"name": "a", "port": 1, "host": template}]}))
    started = time.monotonic()
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, {})
    assert time.monotonic() - started < 3
    [problem] = caught.value.details
    assert "tunnels[0].host (tunnel 'a'): template error:" in problem and message in problem


def test_a_loop_with_no_output_is_stopped_by_the_clock(write_manifest, monkeypatch):
    from provisioner.manifest import templates

    monkeypatch.setattr(templates, "MAX_SECONDS", 0.5)
    loop = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    path = write_manifest(yaml.safe_dump({"version": 1, "tunnels": [{"name": "a", "port": 1, "host": loop}]}))
    with pytest.raises(ManifestError) as caught:
        manifest.load(path, {})
    assert "took more than 0.5s" in caught.value.details[0]


def test_a_huge_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "tunnels.yaml"
    path.write_bytes(b"#" * (manifest.MAX_BYTES + 1))
    code, printed = run(path, "validate")
    assert code == 1 and "too large" in printed
