"""One apply or destroy at a time per (Docker endpoint, project), across processes on this machine.

An flock on a file named after the endpoint and project: the kernel drops it when its holder dies, however it dies,
so a lock is never left stale; the file only remembers who held it last, to name the holder in a refusal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import socket
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

from ..constants import EXIT_LOCKED
from ..errors import UserError

DEFAULT_DIRECTORY = "/tmp/tunnelctl-locks"  # shared by every user who may drive the same engine
MAX_HOLDER_BYTES = 4096  # a pid, a host name and a time; a planted file may hold gigabytes


class LockHeld(UserError):
    exit_code = EXIT_LOCKED


def lock_path(endpoint: str, project: str) -> Path:
    """Named by a digest only: the folder is shared, and a project's name may come from the environment."""
    directory = Path(os.environ.get("TUNNELCTL_LOCK_DIR", DEFAULT_DIRECTORY))
    return directory / (hashlib.sha256(f"{endpoint} {project}".encode()).hexdigest()[:24] + ".lock")


@contextlib.contextmanager
def project_lock(endpoint: str, project: str, timeout: float = 0.0, on_takeover=lambda holder: None):
    """Hold the lock for the block; wait up to `timeout` seconds for it, then raise LockHeld naming the holder."""
    path = lock_path(endpoint, project)
    handle, ours = _open(path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockHeld(f"project '{project}' on {endpoint} is being changed by {_describe(_holder(handle))}"
                                   f"; wait for it to finish, or pass --lock-timeout SECONDS to wait") from None
                time.sleep(0.1)
        left_behind = _holder(handle)
        if left_behind:  # its holder ended without releasing it cleanly (killed): the kernel freed the lock
            on_takeover(_describe(left_behind))
        if not ours:  # another user's file: locked, never written (it may be anything of theirs they named so)
            yield
            return
        _write_holder(handle)
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
    finally:
        handle.close()  # closing releases the flock


def _open(path: Path):
    """Open (or create) the lock file in a folder no other user can have planted, refusing anything but a regular
    file with one link (a hard link planted there would have tunnelctl truncate its target). Returns the file and
    whether it is ours (this user's or root's) to write the holder into; another user's is only locked."""
    _verified_folder(path.parent)
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        try:
            descriptor = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o666)
            os.fchmod(descriptor, 0o666)  # ours, just made: every user who drives the engine may take the lock
        except FileExistsError:
            descriptor = os.open(path, flags)
    except OSError as error:
        reason = "it is a symbolic link" if error.errno == errno.ELOOP else error.strerror
        raise UserError(f"cannot open the lock file {path}: {reason}; remove it, or set TUNNELCTL_LOCK_DIR to a "
                        "folder of your own") from None
    info = os.fstat(descriptor)
    problem = ("is not a regular file" if not stat.S_ISREG(info.st_mode)  # a FIFO would block the read forever
               else f"has {info.st_nlink} links (a hard link to another file)" if info.st_nlink != 1 else "")
    if problem:
        os.close(descriptor)
        raise UserError(f"the lock file {path} {problem}; remove it, or set TUNNELCTL_LOCK_DIR to a "
                        "folder of your own")
    os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "r+"), info.st_uid in (os.getuid(), 0)


def _verified_folder(folder: Path) -> None:
    """Make the lock folder, or accept an existing one only if no other user can swap what is in it.

    The default folder is shared under /tmp, where another user may create it first: as a symbolic link to the
    victim's own folder (which a chmod would then open to everyone), or as a folder of theirs, where they could
    replace the lock files. So: never follow a link, never chmod what tunnelctl did not make, and accept a folder
    only if it belongs to this user or root and, if others may write to it, has the sticky bit.
    """
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError as error:
        raise UserError(f"cannot make the lock folder {folder}: {error.strerror}; set TUNNELCTL_LOCK_DIR to a "
                        "writable folder") from None
    else:  # made just now, so it is ours: share it the way /tmp itself is shared (sticky: no one removes another's)
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(descriptor, 0o1777)
        finally:
            os.close(descriptor)
    try:
        info = os.lstat(folder)
    except OSError as error:
        raise UserError(f"cannot use the lock folder {folder}: {error.strerror}") from None
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a folder"
    elif info.st_uid not in (os.getuid(), 0):
        problem = f"belongs to another user (uid {info.st_uid})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not info.st_mode & stat.S_ISVTX:
        problem = "is writable by others without the sticky bit"
    if problem:
        raise UserError(f"refusing the lock folder {folder}: it {problem}, so another user may have planted it; "
                        "remove it, or set TUNNELCTL_LOCK_DIR to a folder of your own")


def _holder(handle) -> dict:
    handle.seek(0)
    try:
        holder = json.loads(handle.read(MAX_HOLDER_BYTES) or "{}")
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}


def _write_holder(handle) -> None:
    handle.seek(0)
    handle.truncate()
    json.dump({"pid": os.getpid(), "host": socket.gethostname(),
               "since": datetime.now(UTC).isoformat(timespec="seconds")}, handle)
    handle.flush()


def _describe(holder: dict) -> str:
    if not holder:
        return "another tunnelctl process"
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('since')}"
