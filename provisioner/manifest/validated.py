"""Manifests already found valid, remembered between runs, so that an unchanged manifest is not validated again.

Importing jsonschema and building its validator cost about a third of a no-op plan, and most runs read the same
manifest as the run before. Only a document that reads nothing from the environment is remembered (it is then the
same document every run, a function of its file alone), and only under a digest of the schema and of the document:
no value, and no digest of a value, that came from the environment reaches the cache. A document remembered is one
that passed the full validation with this very schema; anything else is validated as always.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

REMEMBERED = 64  # digests kept: the newest; a file of a few kilobytes


def cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tunnelctl" / "valid-manifests"


def document_digest(data: Any, rules: str) -> str | None:
    """A digest that tells documents of different content or types apart (repr keeps 1 and "1" apart); None for a
    document holding anything but JSON's types, which is simply not remembered."""
    if not _plain(data):
        return None
    return hashlib.sha256(f"{rules}\0{data!r}".encode()).hexdigest()


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and _plain(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    return value is None or isinstance(value, (str, int, float, bool))


def known(digest: str) -> bool:
    try:
        return digest in cache_file().read_text(encoding="ascii").split()
    except (OSError, ValueError):
        return False


def remember(digest: str) -> None:
    """Add the digest (the oldest ones drop out); a cache that cannot be written only costs the next run time."""
    path = cache_file()
    try:
        kept = [line for line in path.read_text(encoding="ascii").split() if line != digest]
    except (OSError, ValueError):
        kept = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text("\n".join([*kept[-(REMEMBERED - 1):], digest]) + "\n", encoding="ascii")
        os.replace(partial, path)
    except OSError:
        pass
