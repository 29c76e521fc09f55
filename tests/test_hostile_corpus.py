"""Every hostile input of the corpus ends in one clear line and exit 1, within CPU and memory limits, with no
environment value in the output (the child process runs under `resource` limits; bench/hostile times them)."""

from __future__ import annotations

import re

import pytest
from hostile_corpus import CASES, SECRETS, run_case

from provisioner.redaction import printed_forms

# Far above what any case needs (bench/hostile measures them): a case past it is a bomb that got through.
PEAK_RSS_MIB = 200


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input_is_refused_in_one_clear_line(case, tmp_path):
    outcome = run_case(case, tmp_path)
    printed = outcome.output
    assert outcome.code == 1, printed[-2000:]
    assert "Traceback" not in printed and "internal error" not in printed, printed[-2000:]
    problems = [line for line in printed.splitlines() if not line.startswith("error: ")]
    if case.located:
        assert len(problems) == case.problems, printed[-2000:]
        assert all(re.match(r"^\S+:\d+:\d+: ", problem) for problem in problems), printed[-2000:]
        assert printed.splitlines()[-1].startswith(f"error: the manifest has {case.problems} error")
    else:
        assert problems == [] and printed.count("\n") == 1, printed[-2000:]
    assert case.expect in printed, printed[-2000:]
    assert len(printed) < 2000, "an error line should not quote kilobytes of input"
    for value in SECRETS.values():
        for form in printed_forms(value.strip()):
            assert form not in printed
    assert outcome.peak_rss_mib < PEAK_RSS_MIB
