"""Where the manifest is when `-f` does not say: `$TUNNELCTL_FILE`, `./tunnels.yaml`, then the user's config folder
(`$XDG_CONFIG_HOME/tunnelctl/tunnels.yaml`, by default `~/.config/tunnelctl/tunnels.yaml`), for dotfiles."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

FILE_NAME = "tunnels.yaml"


@dataclass(frozen=True)
class Located:
    path: Path
    source: str  # why this file: "" for ./tunnels.yaml, else the variable or folder that led to it


def config_manifest(environ: Mapping[str, str]) -> tuple[Path, str]:
    """The manifest in the user's config folder, and how that folder was found (XDG Base Directory rules)."""
    configured = environ.get("XDG_CONFIG_HOME", "")
    if os.path.isabs(configured):  # the spec says a relative value is invalid and must be ignored
        return Path(configured) / "tunnelctl" / FILE_NAME, "$XDG_CONFIG_HOME"
    return Path(os.path.expanduser("~")) / ".config" / "tunnelctl" / FILE_NAME, "~/.config"


def find_manifest(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Located:
    """The first of the three places that names a manifest; a clear error listing all three when none does."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    named = environ.get("TUNNELCTL_FILE", "")
    if named:
        path = Path(os.path.expanduser(named))
        if not (path if path.is_absolute() else cwd / path).is_file():
            raise UserError(f"TUNNELCTL_FILE names {path}, which is not a file: fix or unset TUNNELCTL_FILE, "
                            "or name the manifest with -f FILE")
        return Located(path, "$TUNNELCTL_FILE")
    if (cwd / FILE_NAME).is_file():
        return Located(Path(FILE_NAME), "")
    in_config, how = config_manifest(environ)
    if in_config.is_file():
        return Located(in_config, how)
    raise UserError(f"no manifest: looked for $TUNNELCTL_FILE (not set), ./{FILE_NAME} and {how}/tunnelctl/"
                    f"{FILE_NAME}; start one with `tunnelctl init`, or name one with -f FILE")
