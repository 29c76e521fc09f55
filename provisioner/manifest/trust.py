"""Whether the manifest is trusted, and so which environment variables its templates may read.

Decided by the process environment only, never by the manifest or a `.env` (both may come from a pull request):

- `TUNNELCTL_ENV_ALLOW=NAME,NAME…` (set by whoever owns the CI job): templates read only those variables; `*` reads
  every one (a job that runs trusted manifests, such as a deploy from the main branch).
- otherwise, `CI` set (GitHub Actions, GitLab CI, CircleCI, Buildkite… all set it): nothing may be read. A CI job
  that runs a pull request's manifest holds the job's secrets in its environment, and the pull request must learn
  none of them; the job's owner names the variables its manifests need.
- otherwise (a developer's machine): every variable, as always. The person running tunnelctl wrote or reviewed the
  manifest; reading their own environment is the point of `env`.

An untrusted manifest also may not take an address tunnelctl connects to from the environment (loader), since the
name a connection resolves is itself a message to whoever runs the DNS server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALLOW_VARIABLE = "TUNNELCTL_ENV_ALLOW"
EVERY = "*"


@dataclass(frozen=True)
class Trust:
    allowed: frozenset[str] | None  # None: every variable (a trusted manifest)
    decided_by: str = ""  # why the manifest is not trusted: "CI is set", "TUNNELCTL_ENV_ALLOW is set"

    @property
    def trusted(self) -> bool:
        return self.allowed is None

    def may_read(self, name: str) -> bool:
        return self.allowed is None or name in self.allowed

    def refusal(self, name: str | None) -> str:
        """`name` None: the template computed it, and a computed name may be a value."""
        what = "a variable whose name the template computes" if name is None else f"env.{name}"
        fix = f"add {name} to it" if name is not None else "name the variable in the template"
        return (f"{what} may not be read: the manifest is not trusted ({self.decided_by}) and {ALLOW_VARIABLE} "
                f"does not name it; whoever runs tunnelctl may {fix} (comma-separated names), a manifest cannot")


TRUSTED = Trust(None)


def trust(process: Mapping[str, str]) -> Trust:
    listed = process.get(ALLOW_VARIABLE)
    if listed is not None:
        names = frozenset(name.strip() for name in listed.split(",") if name.strip())
        return TRUSTED if EVERY in names else Trust(names, f"{ALLOW_VARIABLE} is set")
    if process.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return Trust(frozenset(), "CI is set")
    return TRUSTED
