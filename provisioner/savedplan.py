"""`plan --out FILE` and `apply FILE`: a plan saved with fingerprints of what it was made from, and no secret."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .converge import Prepared
from .errors import UserError

FORMAT = "tunnelctl-plan"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SavedPlan:
    manifest: Path
    endpoint: str
    targets: tuple[str, ...]
    replace: tuple[str, ...]
    desired_digest: str
    observed_digest: str


def save(path: Path, prepared: Prepared, manifest: Path, endpoint: str, targets, replace, plan_document: str) -> None:
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "manifest": str(manifest.resolve()), "endpoint": endpoint,
        "targets": sorted(targets), "replace": sorted(replace),
        "desired_digest": prepared.desired_digest, "observed_digest": prepared.observed_digest,
        "plan": json.loads(plan_document),
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
    except OSError as error:
        raise UserError(f"{path}: cannot write the plan: {error.strerror}") from None


def read(path: Path) -> SavedPlan:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
            raise ValueError("not a plan file of this tunnelctl")
        return SavedPlan(manifest=Path(document["manifest"]), endpoint=document["endpoint"],
                         targets=tuple(document["targets"]), replace=tuple(document["replace"]),
                         desired_digest=document["desired_digest"], observed_digest=document["observed_digest"])
    except FileNotFoundError:
        raise UserError(f"{path}: no such plan file; make one with tunnelctl plan --out {path}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UserError(f"{path}: not a usable tunnelctl plan ({error}); make one with tunnelctl plan --out") from None


def check_fresh(saved: SavedPlan, prepared: Prepared, endpoint: str, path: Path) -> None:
    """Refuse a plan whose inputs changed: it would no longer do what was reviewed."""
    again = f"run tunnelctl plan --out {path} again, review it, then apply it"
    if endpoint != saved.endpoint:
        raise UserError(f"{path} is stale: it was made for the engine at {saved.endpoint}, not {endpoint}; {again}")
    if prepared.desired_digest != saved.desired_digest:
        raise UserError(f"{path} is stale: the manifest {saved.manifest} (or its variables) changed since; {again}")
    if prepared.observed_digest != saved.observed_digest:
        raise UserError(f"{path} is stale: the project's containers changed on the engine since; {again}")
