"""One apply or destroy at a time per (Docker endpoint, project), across processes on this machine.

An flock on a file named after the endpoint and project: the kernel drops it when its holder dies, however it dies,
so a lock is never left stale; the file only remembers who held it last, to name the holder in a refusal.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from .errors import UserError

EXIT_LOCKED = 4
DEFAULT_DIRECTORY = "/tmp/tunnelctl-locks"  # shared by every user who may drive the same engine


class LockHeld(UserError):
    exit_code = EXIT_LOCKED


def lock_path(endpoint: str, project: str) -> Path:
    directory = Path(os.environ.get("TUNNELCTL_LOCK_DIR", DEFAULT_DIRECTORY))
    digest = hashlib.sha256(endpoint.encode()).hexdigest()[:12]
    return directory / f"{project}-{digest}.lock"


@contextlib.contextmanager
def project_lock(endpoint: str, project: str, timeout: float = 0.0, on_takeover=lambda holder: None):
    """Hold the lock for the block; wait up to `timeout` seconds for it, then raise LockHeld naming the holder."""
    path = lock_path(endpoint, project)
    handle = _open(path)
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            path.parent.chmod(0o1777)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError as error:
        raise UserError(f"cannot open the lock file {path}: {error.strerror}; set TUNNELCTL_LOCK_DIR to a "
                        "writable folder") from None
    with contextlib.suppress(OSError):
        os.fchmod(descriptor, 0o666)
    return os.fdopen(descriptor, "r+")


def _holder(handle) -> dict:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
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
