"""Hostile inputs a pull request or a neighbour can hand tunnelctl: the security review's repros and their relatives.

Shared by tests/test_hostile_corpus.py (each case must end in one clear line, exit 1, within resource limits) and
bench/hostile (which measures the time and memory of each).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conftest import manifest_text

REPO = Path(__file__).resolve().parent.parent

# Values a CI job holds; none may ever appear in what tunnelctl prints.
SECRETS = {
    "CI_DEPLOY_SECRET": "ghp_R3viewSecret0123456789",
    "CREDS": "alice:Hunter2Secret",
    "ODD_SECRET": "upstream\\Secret\t99 \"q\" é",
    "PORT_FROM_ENV": "3846.0",
    "TOKEN_NL": "tokenWithNewline\n",
}

# Guards, not targets: a case that needs more is cut off and fails its test (bench/hostile measures the real cost).
CPU_SECONDS = 10
ADDRESS_SPACE = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    text: str | bytes | Callable[[Path], Path] = ""  # the manifest, or a function making a special file
    expect: str = ""  # a fragment of the one error line
    env_file: Callable[[Path], Path] | None = None
    located: bool = True  # the error names file:line:col (a FIFO or device has no line to name)
    problems: int = 1  # lines naming file:line:col
    extra_args: tuple[str, ...] = field(default=())


def tunnel(**fields: str) -> str:
    lines = "".join(f"\n    {name}: {value}" for name, value in fields.items())
    return f"version: 1\ntunnels:\n  - name: a\n    port: 1{lines}\n"


def _merge_bomb(under_duplicate_key: bool) -> str:
    """Eight levels of `<<: [*previous ×10]`: 10⁹ entries once flattened. Under a duplicate key, the levels are never
    built themselves, but their anchors still exist for a mapping that is."""
    levels = ["  l0: &l0 {" + ", ".join(f"k{i}: {i}" for i in range(10)) + "}"]
    for level in range(1, 9):
        levels.append(f"  l{level}: &l{level}\n    <<: [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    bomb = "\n".join(levels)
    hiding = "x: 1\n" if under_duplicate_key else ""
    return f"version: 1\ntunnels: []\n{hiding}x:\n{bomb}\ndefaults:\n  <<: *l8\n"


def _alias_bomb() -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 9)]
    return "\n".join(lines) + "\nversion: 1\ntunnels: []\n"


def _long_string_aliases() -> str:
    lines = ['s: &s "' + "a" * 400_000 + '"', "k1: &k1 [" + ", ".join(["*s"] * 10) + "]"]
    lines += [f"k{n}: &k{n} [" + ", ".join([f"*k{n - 1}"] * 10) + "]" for n in range(2, 5)]
    return "\n".join(lines) + "\nversion: 1\ntunnels:\n  - {name: a, port: 1, access_keys: *k4}\n"


def _fifo(tmp: Path) -> Path:
    path = tmp / "fifo.yaml"
    if not path.exists():
        os.mkfifo(path)
    return path


def _ok_manifest(tmp: Path) -> Path:
    path = tmp / "ok.yaml"
    path.write_text("version: 1\ntunnels: []\n")
    return path


CASES = [
    # 1. nesting: libyaml's composer recursed in C and crashed with SIGSEGV
    Case("deep-flow-nesting", "[" * 25000 + "]" * 25000 + "\n", "nested more than 64 levels"),
    Case("deep-block-nesting", "- " * 300_000 + "x\n", "nested more than 64 levels"),
    Case("deep-mapping-nesting", "{a: " * 20_000 + "1" + "}" * 20_000 + "\n", "nested more than 64 levels"),
    # 2. a template reads a CI secret into a field that prints its value, or lists the whole environment
    Case("env-secret-in-host", tunnel(host='"{{ env.CI_DEPLOY_SECRET }}"'), "(from env.CI_DEPLOY_SECRET)"),
    Case("env-dictsort", tunnel(host='"{{ env | dictsort }}"'), "cannot be listed"),
    Case("env-list", tunnel(host='"{{ env | list | join(\',\') }}"'), "cannot be listed"),
    Case("env-items", tunnel(host='"{{ env.items() }}"'), "tunnels[0].host"),
    Case("env-whole", tunnel(host='"{{ env }}"'), "cannot be listed"),
    Case("env-loop", tunnel(host='"{% for k in env %}{{ k }}{% endfor %}"'), "cannot be listed"),
    Case("env-value-as-key", tunnel(host='"{{ {}[env.CI_DEPLOY_SECRET] }}"'), "tunnels[0].host"),
    Case("env-in-label-value", tunnel(labels='{a: "{{ env.TOKEN_NL }}"}'), "(from env.TOKEN_NL)"),
    # 3. Pinggy's user:pass habit in basic_auth
    Case("basic-auth-as-text", tunnel(basic_auth='["{{ env.CREDS }}"]'), "mapping {username"),
    # 4. a secret that prints escaped in its quoted form
    Case("odd-secret-in-host", tunnel(host='"{{ env.ODD_SECRET }}"'), "(from env.ODD_SECRET)"),
    Case("odd-secret-as-password", tunnel(basic_auth='[{username: u, password: "{{ env.ODD_SECRET }}:x"}]'),
         "(from env.ODD_SECRET)"),
    # 5. templates and merges that take gigabytes
    Case("join-of-repeated-list", tunnel(host='"{{ ([(\'a\'*65536)]*65536) | join }}"'), "too long"),
    Case("percent-width-by-key", tunnel(host='"{{ \'%(a)500000000s\' % {\'a\':1} }}"'), "format width"),
    Case("format-width-from-argument", tunnel(host='"{{ \'{0:{1}}\'.format(\'a\',\'500000000\') }}"'),
         "format width"),
    Case("percent-precision", tunnel(host='"{{ \'%.500000000d\' % 1 }}"'), "format width"),
    Case("format-filter-precision", tunnel(host='"{{ \'%.500000000d\' | format(1) }}"'), "format width"),
    Case("doubling-concatenation", tunnel(
        host='"{% set ns = namespace(s=\'a\'*65536) %}{% for i in range(20) %}{% set ns.s = ns.s ~ ns.s %}'
             '{% endfor %}{{ ns.s | length }}"'), "tunnels[0].host"),
    Case("many-format-fields", tunnel(host='"{{ (\'{0}\' * 20000).format(\'a\' * 60000) }}"'), "tunnels[0].host"),
    Case("endless-loop", tunnel(host='"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}'
                                     '{% endfor %}"'), "took more than"),
    Case("merge-bomb", _merge_bomb(under_duplicate_key=False), "merge bomb"),
    Case("merge-bomb-under-duplicate-key", _merge_bomb(under_duplicate_key=True), "merge bomb"),
    Case("alias-bomb", _alias_bomb(), "alias bomb"),
    Case("a-megabyte-of-values", "version: 1\ntunnels:\n  - name: a\n    port: 1\n    headers: {add: {"
         + ", ".join(f"H{i}: v" for i in range(90_000)) + "}}\n", "more than 15000 values"),
    Case("long-string-aliases", _long_string_aliases(), "alias bomb"),
    # 6, 7. values that reach ssh's command line
    Case("token-is-an-option", tunnel(token="-E"), "tunnels[0].token"),
    Case("token-trailing-newline", tunnel(token='"abc\\n"'), "tunnels[0].token"),
    Case("templated-trailing-newline", tunnel(token='"{{ env.TOKEN_NL }}"'), "(from env.TOKEN_NL)"),
    Case("float-port", tunnel().replace("port: 1", "port: 3845.0"), "tunnels[0].port"),
    Case("float-port-from-env", tunnel().replace("port: 1", 'port: "{{ env.PORT_FROM_ENV }}"'),
         "(from env.PORT_FROM_ENV)"),
    Case("float-server-port", tunnel(server_port="443.0"), "tunnels[0].server_port"),
    Case("float-keepalive", tunnel(keepalive="30.0"), "tunnels[0].keepalive"),
    Case("cidr-scope-with-space", tunnel(allow_cidrs='["fe80::1%eth0 x/64"]'), "allow_cidrs[0]"),
    Case("cidr-newline", tunnel(allow_cidrs='["10.0.0.0/8\\n"]'), "allow_cidrs[0]"),
    # 8. numbers, dates and tags the YAML constructor cannot build
    Case("5000-digit-integer", tunnel().replace("port: 1", "port: " + "9" * 5000), "too long"),
    Case("base-60-integer", tunnel().replace("port: 1", "port: 1" + ":30" * 300_000), "too long"),
    Case("impossible-date", tunnel(host="2024-13-45"), "not a valid timestamp"),
    Case("int-tag-on-text", tunnel().replace("port: 1", "port: !!int abc"), "not a valid int"),
    Case("python-tag", tunnel(host="!!python/name:os.system"), "could not determine a constructor"),
    Case("python-tag-on-list", tunnel(host="!!python/object/apply:os.system [id]"), "is not of type 'string'"),
    Case("self-merge", "a: &a {<<: *a}\nversion: 1\ntunnels: []\n", "contains it"),
    # 9. special files
    Case("manifest-fifo", _fifo, "regular file", located=False),
    Case("manifest-dev-zero", lambda tmp: Path("/dev/zero"), "regular file", located=False),
    Case("env-file-fifo", _ok_manifest, "regular file", env_file=_fifo, located=False),
    Case("manifest-folder", lambda tmp: tmp, "not a folder", located=False),
    Case("env-file-folder", _ok_manifest, "not a folder", env_file=lambda tmp: tmp, located=False),
    Case("env-file-dev-zero", _ok_manifest, "regular file", env_file=lambda tmp: Path("/dev/zero"), located=False),
    Case("huge-file", "#" * (1024 * 1024 + 1), "too large", located=False),
    Case("huge-unknown-key", tunnel() + "    ? " + "ab" * 200_000 + "\n    : 1\n", "unknown field 'abab"),
    Case("huge-duplicate-key", "version: 1\ntunnels: []\nproject: a\n? " + "p" * 500_000 + "\n: 1\n? "
         + "p" * 500_000 + "\n: 2\n", "duplicate key", problems=2),
    Case("too-many-tunnels", "version: 1\ntunnels:\n" + textwrap.indent(
        "".join(manifest_text("- {name: t$number, port: 1}\n", number=number) for number in range(1001)), "  "),
         "split them across projects"),
    # 12. reading a variable without marking it
    Case("env-pop", tunnel(token='"{{ env.pop(\'CI_DEPLOY_SECRET\') }}"'), "tunnels[0].token"),
]


@dataclass
class Outcome:
    code: int
    output: str
    seconds: float
    peak_rss_mib: float


def run_case(case: Case, folder: Path, code: Path = REPO, address_space: int = ADDRESS_SPACE) -> Outcome:
    """Run `tunnelctl validate` (the one in `code`) on the case in a child held to CPU and address-space limits."""
    folder.mkdir(parents=True, exist_ok=True)
    if callable(case.text):
        path = case.text(folder)
    else:
        path = folder / "tunnels.yaml"
        path.write_bytes(case.text if isinstance(case.text, bytes) else case.text.encode())
    command = [sys.executable, "-m", "provisioner", "validate", "-f", str(path), *case.extra_args]
    if case.env_file:
        command += ["--env-file", str(case.env_file(folder))]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    child_env = {**os.environ, "PYTHONPATH": str(code), **SECRETS}
    child_env.pop("TUNNELCTL_DEBUG", None)
    started = time.monotonic()
    child = subprocess.Popen(command, cwd=folder, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             preexec_fn=limits)
    assert child.stdout is not None
    with child.stdout:
        output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # reaped here, not by Popen: wait4 also gives the child's peak memory
    child.returncode = os.waitstatus_to_exitcode(status)
    return Outcome(child.returncode, output.decode("utf-8", "replace"), time.monotonic() - started,
                   usage.ru_maxrss / 1024)
