"""Shell completion (bash, zsh, fish) through argcomplete, with tunnel and engine names read from the manifest.

A completion runs on every Tab press, so it reads the manifest's YAML only: no templates rendered, no schema, no
Docker, and no secret needed.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SHELLS = ("bash", "zsh", "fish")


def enable(parser: argparse.ArgumentParser) -> None:
    """Answer a completion request and exit, when the shell's completion function is what started us."""
    if "_ARGCOMPLETE" not in os.environ:  # argcomplete is imported only when a shell asks to complete
        return
    import argcomplete

    argcomplete.autocomplete(parser, always_complete_options=False)  # after `logs `, names, not options


def shell_code(shell: str) -> str:
    """What the user's shell start-up file evaluates to get completion for `tunnelctl`."""
    import argcomplete

    return argcomplete.shellcode(["tunnelctl"], shell=shell)


# zsh and fish show a description beside each name.
def tunnel_names(prefix: str, parsed_args, **_) -> dict[str, str]:
    return {name: "tunnel" for name in _manifest_names(parsed_args, "tunnels") if name.startswith(prefix)}


def engine_names(prefix: str, parsed_args, **_) -> dict[str, str]:
    return {name: "engine" for name in _manifest_names(parsed_args, "engines") if name.startswith(prefix)}


def _manifest_names(parsed_args, section: str) -> list[str]:
    from ..errors import UserError
    from ..manifest import read_text
    from ..manifest.locate import find_manifest
    from ..manifest.positions import YamlProblem, parse

    try:
        path = getattr(parsed_args, "file", None) or find_manifest().path
        data = parse(read_text(Path(path)))[0]
    except (UserError, YamlProblem, OSError):
        return []  # nothing to offer: the command itself will say what is wrong when it runs
    entries = data.get(section) if isinstance(data, dict) else None
    if section == "engines":
        return sorted(name for name in entries or {} if isinstance(name, str)) if isinstance(entries, dict) else []
    if not isinstance(entries, list):
        return []
    names = (entry.get("name") for entry in entries if isinstance(entry, dict))
    return [name for name in names if isinstance(name, str) and "{" not in name]
