"""A pull request's manifest, run by CI with a secret in its environment, as the pull request's author sees it:
whatever the manifest does with the secret, no output, no file written and no DNS query holds any form of it, or
depends on it at all.

Each case of hostile_corpus.PULL_REQUEST_CASES runs validate, plan, plan --json --out, doctor and destroy in a
network namespace of its own whose DNS is a stub that records every name asked (tests/support/dns-recorder), twice:
with two canaries of one shape. Both runs must print the same, write the same and ask the same names, and none of
it may hold a canary's forms (as is, reversed, in small or capital letters, in base64, four characters of it in a
row). Comparing the two runs catches what no list of forms would: a character per tunnel, an index or a length as
a port, a yes/no.
"""

from __future__ import annotations

import base64
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_corpus import CANARIES, CANARY_NAME, PULL_REQUEST_CASES, PullRequestCase

from conftest import REPO, SUPPORT

pytestmark = [pytest.mark.docker, pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare"), reason="a network namespace of its own takes root and unshare")]

COMMANDS = (("validate",), ("plan",), ("plan", "--json", "--out", "saved.plan"), ("doctor",),
            ("destroy", "--auto-approve", "--lock-timeout", "60"))
# As CI runs a pull request: CI is set, and its owner allowed the one variable manifests need (the canary, at worst).
CI = {"CI": "true", "TUNNELCTL_ENV_ALLOW": CANARY_NAME}
INPUTS = {"tunnels.yaml", ".env"}


def forms(canary: str) -> set[str]:
    shown = {canary, canary[::-1], canary.lower(), canary.upper(), canary.lower()[::-1]}
    for text in (canary, canary.lower()):
        shown |= {base64.b64encode(text.encode()).decode().rstrip("="),
                  base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")}
    return shown | {text[at:at + 4] for text in (canary, canary.lower()) for at in range(len(text) - 3)}


def run_as_ci(case: PullRequestCase, folder: Path, canary: str) -> dict[str, str]:
    """Everything the author of the pull request could see of a CI run: what each command printed and its exit
    status, every file the run left in the folder, and the DNS names it asked."""
    folder.mkdir(parents=True)
    (folder / "tunnels.yaml").write_text(case.manifest())
    if case.dotenv:
        (folder / ".env").write_text(case.dotenv)
    script = "; ".join(f"{sys.executable} -m provisioner {' '.join(command)} >.out{index} 2>.err{index}; "
                       f"echo $? >.code{index}" for index, command in enumerate(COMMANDS))
    environment = {**{key: value for key, value in os.environ.items() if key not in ("TUNNELCTL_DEBUG", "CI")},
                   **CI, CANARY_NAME: canary, "PYTHONPATH": str(REPO), "HOME": str(folder)}
    subprocess.run(["unshare", "--net", "--mount", str(SUPPORT / "dns-recorder"), str(folder / ".names"), script],
                   cwd=folder, env=environment, check=True, timeout=300)
    seen = {}
    for index, command in enumerate(COMMANDS):
        seen[" ".join(command)] = "\n".join((folder / f".{part}{index}").read_text(errors="replace")
                                            for part in ("code", "out", "err"))
    seen["dns"] = (folder / ".names").read_text()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in INPUTS and not re.fullmatch(r"\.(out|err|code)\d+|\.names", path.name):
            seen[f"file {path.relative_to(folder)}"] = path.read_text(errors="replace")
    return {what: text.replace(str(folder), "<folder>") for what, text in seen.items()}


def normalized(text: str) -> str:
    """What differs between any two runs: digests, durations."""
    return re.sub(r"\b\d+(\.\d+)? ?(ms|s)\b", "<time>", re.sub(r"\b[0-9a-f]{12,64}\b", "<hex>", text))


@pytest.mark.parametrize("case", PULL_REQUEST_CASES, ids=lambda case: case.name)
def test_a_pull_request_learns_nothing_of_a_ci_secret(case, tmp_path):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda index: run_as_ci(case, tmp_path / str(index) / f"pr-{case.name}"[:40],
                                                     CANARIES[index]), range(len(CANARIES))))
    for run, canary in zip(runs, CANARIES, strict=True):
        for what, text in run.items():
            assert "internal error" not in text and "Traceback" not in text, f"{what}:\n{text}"
            leaked = sorted(form for form in forms(canary) if form in text)
            assert not leaked, f"{what} holds {leaked}:\n{text}"
    first, second = ({what: normalized(text) for what, text in run.items()} for run in runs)
    assert first.keys() == second.keys()
    for what in first:
        assert first[what] == second[what], f"{what} depends on the secret:\n{first[what]}\n---\n{second[what]}"
