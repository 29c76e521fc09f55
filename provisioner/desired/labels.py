"""The label scheme: how a container says that tunnelctl manages it, for which project and tunnel, and from which
settings it was made (as digests, never the values), plus the canonical digest those labels hold."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

LABEL_PREFIX = "io.tunnelctl."
MANAGED_BY = LABEL_PREFIX + "managed-by"
PROJECT = LABEL_PREFIX + "project"
TUNNEL = LABEL_PREFIX + "tunnel"
SPEC_VERSION = LABEL_PREFIX + "spec-version"
# on a tunnel container that reaches its local server through a relay container beside it (engine/loopback.py)
LOOPBACK_RELAY = LABEL_PREFIX + "loopback-relay"
# on a container made to take its token over (engine/login_file.py): the name it has until its takeover is committed
TAKEOVER_NAME = LABEL_PREFIX + "takeover-name"
SPEC_HASH = LABEL_PREFIX + "spec-hash"
SETTING_DIGESTS = LABEL_PREFIX + "setting-digests"
SETTING_VALUES = LABEL_PREFIX + "setting-values"  # the settings that hold no secret, as JSON: plan shows old → new

MANAGER = "tunnelctl"

# Bump only when the container layout itself changes (not when tunnelctl's code is refactored): every
# container whose spec hash differs is recreated. 2: the hardened container (model.HARDENED). 3: an init process,
# and HOME and the XDG folders on the tmpfs whatever the image's user (model.CLIENT_ENVIRONMENT). 4: Pinggy's CLI in a
# network namespace of its own, with a relay container to the local server (engine/loopback.py); only those
# containers' hashes changed, so only they are recreated. 5: an OpenSSH-based client with a token reads its login user
# from a file on a volume of its container, not from its arguments (engine/login_file.py); only those are recreated.
# 6: Pinggy's CLI with a token reads it from its `--conf` file on that volume too.
SPEC_FORMAT = "6"


def ownership_filter(project: str | None) -> list[str]:
    """Docker label filters that select exactly the containers tunnelctl manages for `project` (None: for every
    project)."""
    return [f"{MANAGED_BY}={MANAGER}"] + ([f"{PROJECT}={project}"] if project is not None else [])


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of `value`: stable across runs, machines and key order."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def encode_digests(digests: Mapping[str, str]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(digests.items()))


def decode_digests(label: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in label.split(",") if "=" in part)


def encode_values(values: Mapping[str, Any]) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode_values(label: str) -> dict[str, Any] | None:
    """None when the container recorded no values (made by an older tunnelctl), or the label is not ours to read."""
    try:
        values = json.loads(label) if label else None
    except ValueError:
        return None
    return values if isinstance(values, dict) else None
