"""`plan --out FILE` and `apply FILE`: a plan saved with fingerprints of what it was made from, and no secret."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..engine import Unreachable
from ..errors import UserError
from ..redaction import Redactor
from .fleet import FleetPlan, plan_document

FORMAT = "tunnelctl-plan"
FORMAT_VERSION = 1
MAX_BYTES = 64 * 1024 * 1024  # a plan of a thousand tunnels takes a few MiB


@dataclass(frozen=True)
class SavedPlan:
    manifest: Path
    targets: tuple[str, ...]
    replace: tuple[str, ...]
    engines: dict[str, dict[str, str]]  # name → endpoint, desired_digest, observed_digest


def save(path: Path, fleet: FleetPlan, manifest: Path, targets: Iterable[str], replace: Iterable[str],
         hidden: Iterable[str] = ()) -> None:
    """`hidden`: what the manifest's templates read from the environment and made of it, blanked as on the screen
    (CI keeps plan files as artifacts that whoever opened the pull request can download)."""
    if fleet.unreachable:
        raise UserError(f"not saving {path}: engine '{fleet.unreachable[0].name}' could not be reached, so the plan "
                        "is incomplete; pass --engine to plan without it")
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "manifest": str(manifest.resolve()), "targets": sorted(targets), "replace": sorted(replace),
        "engines": {part.name: {"endpoint": part.endpoint, "desired_digest": part.desired_digest,
                                "observed_digest": part.observed_digest} for part in fleet.reachable},
        "plan": plan_document(fleet),
    }
    files.write_private(path, json.dumps(_redactor(hidden).document(document), indent=2) + "\n")


def _redactor(hidden: Iterable[str]) -> Redactor:
    redactor = Redactor()
    redactor.hide(hidden)
    return redactor


def read(path: Path) -> SavedPlan:
    try:
        document = json.loads(files.read_bounded(path, MAX_BYTES, "plan file").decode("utf-8"))
        if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
            raise ValueError("not a plan file of this tunnelctl")
        return SavedPlan(manifest=Path(document["manifest"]), targets=tuple(document["targets"]),
                         replace=tuple(document["replace"]), engines=dict(document["engines"]))
    except FileNotFoundError:
        raise UserError(f"{path}: no such plan file; make one with tunnelctl plan --out {path}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path}: not a usable tunnelctl plan ({error}); make one with tunnelctl plan --out") from None


def check_fresh(saved: SavedPlan, fleet: FleetPlan, path: Path, hidden: Iterable[str] = ()) -> None:
    """Refuse a plan whose inputs changed: it would no longer do what was reviewed. An endpoint was saved blanked
    if it is `hidden`, so it is compared blanked."""
    redactor = _redactor(hidden)
    again = f"run tunnelctl plan --out {path} again, review it, then apply it"
    now = {part.name: part for part in fleet.engines}
    if set(now) != set(saved.engines):
        raise UserError(f"{path} is stale: it covers the engines {', '.join(sorted(saved.engines))}, the manifest now "
                        f"{', '.join(sorted(now))}; {again}")
    for name, then in saved.engines.items():
        part = now[name]
        if isinstance(part, Unreachable):
            raise UserError(f"cannot apply {path}: engine '{name}': {part.error}")
        if redactor.text(part.endpoint) != then["endpoint"]:
            raise UserError(f"{path} is stale: engine '{name}' is now {part.endpoint}, not {then['endpoint']}; {again}")
        if part.desired_digest != then["desired_digest"]:
            raise UserError(f"{path} is stale: the manifest {saved.manifest} (or its variables) changed since; {again}")
        if part.observed_digest != then["observed_digest"]:
            raise UserError(f"{path} is stale: the project's containers changed on engine '{name}' since; {again}")
