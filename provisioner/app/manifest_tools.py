"""validate, init, schema and gen-key: the commands that work on manifests without touching an engine."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .. import files, manifest
from ..constants import EXIT_ERROR, EXIT_OK
from ..errors import UserError

MIN_KEY_BYTES, MAX_KEY_BYTES = 16, 1024


@dataclass(frozen=True)
class ValidateOptions:
    manifests: Sequence[Path]
    env_files: tuple[Path, ...] = ()
    strict: bool = False
    ignore_missing_env: bool = False


class ValidateView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def warn(self, lines: Iterable[str]) -> None: ...

    def valid(self, path: Path, loaded: manifest.Manifest) -> None: ...

    def invalid(self, path: Path, error: UserError) -> None: ...


class ManifestToolsView(Protocol):
    def say(self, line: str) -> None: ...

    def warn(self, lines: Iterable[str]) -> None: ...


def validate(options: ValidateOptions, view: ValidateView) -> int:
    failed = 0
    for path in options.manifests:
        try:
            loaded = manifest.load(path, env_files=options.env_files, strict=options.strict,
                                   ignore_missing_env=options.ignore_missing_env)
        except UserError as error:
            failed += 1
            view.invalid(path, error)
            continue
        view.hide(loaded.secrets)
        view.warn(loaded.warnings)
        view.valid(path, loaded)
    return EXIT_ERROR if failed else EXIT_OK


def init(path: Path, view: ManifestToolsView) -> int:
    """Write the commented starter manifest, and the schema beside it for editors; never overwrite. The starter fits
    where it is written: the folder's project, or the user's own tunnels in the dotfiles folder, whose missing folders
    are made; a new ./tunnels.yaml that hides the dotfiles manifest from this folder says so."""
    import os
    from importlib import resources

    from ..manifest.loader import project_from_folder
    from ..manifest.locate import FILE_NAME, config_manifest
    from ..manifest.schema import MODELINE, SCHEMA_FILE, schema_text

    if path.exists():
        raise UserError(f"{path} already exists; nothing was written (edit it, or name another file with -f)")
    dotfiles, _ = config_manifest(os.environ)
    personal = path.resolve() == dotfiles.resolve()
    starter = resources.files("provisioner").joinpath("starter.yaml").read_text(encoding="utf-8")
    rest = starter.partition("\n")[2]  # its first line is replaced by the modeline
    rest = rest.replace(STARTER_HOW, _how_to_use(path, personal)).replace(
        STARTER_PROJECT, f"project: {_personal_project() if personal else project_from_folder(path)}")
    schema_file = path.parent / SCHEMA_FILE
    existing_schema = _text_of(schema_file) if schema_file.exists() else None  # read first: nothing half-written
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"{path.parent}: cannot make this folder: {error.strerror}") from None
    _write_new(path, MODELINE + "\n" + rest)
    if existing_schema is None:
        _write_new(schema_file, schema_text())
        wrote = f"Wrote {path} and {schema_file} (for editors; commit both)."
    elif existing_schema != schema_text():
        wrote = f"Wrote {path}; {schema_file} is another version's: refresh it with tunnelctl schema --write."
    else:
        wrote = f"Wrote {path}."
    view.say(f"{wrote} Set PINGGY_TOKEN and FIGMA_ACCESS_KEY (tunnelctl gen-key makes a key), then run tunnelctl plan.")
    if not personal and path.resolve() == (Path.cwd() / FILE_NAME).resolve() and dotfiles.is_file():
        view.warn([f"note: in this folder, ./{FILE_NAME} now hides your dotfiles manifest {dotfiles}: tunnelctl uses "
                   f"the one here (-f {dotfiles} names the other)"])
    return EXIT_OK


STARTER_HOW = "# Copy to tunnels.yaml, then: tunnelctl plan, tunnelctl apply."
STARTER_PROJECT = "project: figma"


def _how_to_use(path: Path, personal: bool) -> str:
    if personal:
        return ("# Your own tunnels, found from any folder that has no ./tunnels.yaml (dotfiles):\n"
                "# tunnelctl plan, tunnelctl apply, tunnelctl status.")
    return (f"# This folder's tunnels: run tunnelctl plan, then tunnelctl apply, here (or -f {path} from "
            "elsewhere).")


def _personal_project() -> str:
    """The dotfiles manifest's project: the user's, so that two people's tunnels on one engine stay apart."""
    import getpass
    import re

    try:
        user = re.sub(r"[^a-z0-9_.-]+", "-", getpass.getuser().lower()).strip("-_.")
    except (KeyError, OSError):
        user = ""
    return f"{user}-tunnels" if user else "my-tunnels"


def _text_of(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:  # a folder or an unreadable file where the schema file should be
        raise UserError(f"{path}: cannot read it: {error.strerror}; move it aside and run tunnelctl init again") \
            from None


def schema(write_to: Path | None, view: ManifestToolsView) -> int:
    from ..manifest.schema import MODELINE, schema_text

    if write_to is None:
        view.say(schema_text().rstrip("\n"))
        return EXIT_OK
    files.write_replacing(write_to, schema_text(), 0o644)  # committed beside the manifest, read by editors
    view.say(f"Wrote {write_to}. Manifests beside it start with: {MODELINE}")
    return EXIT_OK


def new_access_key(random_bytes: int) -> str:
    import secrets

    if random_bytes < MIN_KEY_BYTES:
        raise UserError(f"--bytes {random_bytes} is too weak: an access key needs at least {MIN_KEY_BYTES} bytes "
                        "(128 bits)")
    if random_bytes > MAX_KEY_BYTES:
        raise UserError(f"--bytes {random_bytes} is more than anyone needs: at most {MAX_KEY_BYTES}")
    return secrets.token_hex(random_bytes)


def _write_new(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise UserError(f"{path}: cannot write it: {error.strerror}") from None
