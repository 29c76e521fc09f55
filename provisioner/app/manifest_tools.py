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


class ManifestToolsView(Protocol):
    def hide(self, secrets: Iterable[str]) -> None: ...

    def warn(self, lines: Iterable[str]) -> None: ...

    def problem(self, error: UserError) -> None: ...

    def valid(self, path: Path, loaded: manifest.Manifest) -> None: ...

    def say(self, line: str) -> None: ...


def validate(options: ValidateOptions, view: ManifestToolsView) -> int:
    failed = 0
    for path in options.manifests:
        try:
            loaded = manifest.load(path, env_files=options.env_files, strict=options.strict,
                                   ignore_missing_env=options.ignore_missing_env)
        except UserError as error:
            failed += 1
            view.problem(error)
            continue
        view.hide(loaded.secrets)
        view.warn(loaded.warnings)
        view.valid(path, loaded)
    return EXIT_ERROR if failed else EXIT_OK


def init(path: Path, view: ManifestToolsView) -> int:
    """Write the commented starter manifest, and the schema beside it for editors; never overwrite."""
    from importlib import resources

    from ..manifest.schema import MODELINE, SCHEMA_FILE, schema_text

    if path.exists():
        raise UserError(f"{path} already exists; nothing was written (edit it, or name another file with -f)")
    starter = resources.files("provisioner").joinpath("starter.yaml").read_text(encoding="utf-8")
    rest = starter.partition("\n")[2]  # its first line is replaced by the modeline
    schema_file = path.parent / SCHEMA_FILE
    existing_schema = _text_of(schema_file) if schema_file.exists() else None  # read first: nothing half-written
    _write_new(path, MODELINE + "\n" + rest)
    if existing_schema is None:
        _write_new(schema_file, schema_text())
        wrote = f"Wrote {path} and {schema_file} (for editors; commit both)."
    elif existing_schema != schema_text():
        wrote = f"Wrote {path}; {schema_file} is another version's: refresh it with tunnelctl schema --write."
    else:
        wrote = f"Wrote {path}."
    view.say(f"{wrote} Set PINGGY_TOKEN and FIGMA_ACCESS_KEY (tunnelctl gen-key makes a key), then run tunnelctl plan.")
    return EXIT_OK


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
