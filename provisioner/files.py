"""Files from untrusted places read with bounds, and private files written so that no neighbour can redirect them."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import UserError


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; a clear UserError for anything else.

    Opened without blocking, so that a FIFO is refused instead of waiting for a writer; the size is checked on the
    bytes actually read, since a file may grow between fstat and read (and /dev/zero reports size 0).
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise  # each caller says what to do about a missing file
    except OSError as error:
        raise UserError(f"{path}: cannot read the {what}: {error.strerror}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):  # before fdopen, which refuses a folder with an OSError of its own
        os.close(descriptor)
        raise UserError(f"{path}: the {what} must be a regular file, not {_kind(mode)}")
    with os.fdopen(descriptor, "rb") as handle:
        os.set_blocking(descriptor, True)
        try:
            data = handle.read(limit + 1)
        except OSError as error:
            raise UserError(f"{path}: cannot read the {what}: {error.strerror}") from None
    if len(data) > limit:
        raise UserError(f"{path}: the {what} is too large (more than {limit} bytes)")
    return data


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def write_private(path: Path, text: str) -> None:
    """Write `text` to a file only this user can read (a saved plan): see write_replacing."""
    write_replacing(path, text, 0o600)


def write_replacing(path: Path, text: str, mode: int) -> None:
    """Write `text` to `path` with `mode`, atomically: a temporary file in the same folder renamed over it.

    Only a regular file is replaced: a symlink (`tunnels.schema.json` → `~/.bashrc`, committed to a repo), a device
    (`/dev/null`, which root would replace with a plain file) or a FIFO at `path` is refused, never followed or
    swapped. The old file's mode and owner are never inherited; a reader sees the old content or the new, never half.
    """
    path = Path(path)
    try:
        existing = os.lstat(path).st_mode
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise UserError(f"{path}: cannot write it: {error.strerror}") from None
    if existing is not None and not stat.S_ISREG(existing):
        kind = "a symbolic link" if stat.S_ISLNK(existing) else _kind(existing)
        raise UserError(f"{path}: not writing it: it is {kind}, and tunnelctl writes only regular files; "
                        "name another file")
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise UserError(f"{path}: cannot write it: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        os.unlink(temporary)
        raise UserError(f"{path}: cannot write it: {error.strerror}") from None
