"""An OpenSSH-based tunnel client's login user (Pinggy's `TOKEN[+type][+force]`) in a file of its container, not in
its arguments.

Why: a container's arguments are its process's, which every local user reads with `ps`; and the arguments are fixed
for the container's life, so a user that says `+force` (take the token over from the session that holds it) would
force at every reconnect, after every drop, and could end a session that is not ours. A file can say `+force` for the
first login only (create_takeover) and be rewritten without it once that login is done (commit_takeover).

How: ssh runs with `-F CONFIG` and no user in its destination; CONFIG says `User …` and includes the system's
ssh_config, which `-F` would otherwise leave out, so ssh behaves as before (known hosts, identities). It lives on a
small anonymous disk-backed volume of the container: it outlives the container's restarts (Docker runs ssh again
after every dropped session; a tmpfs volume is emptied at every stop) and is removed with the container. The engine
writes it with an archive PUT before the container first starts (allowed on a read-only root: the volume is not the
root), readable by the image's user only; on the host the volume is root's, like the container's configuration.

Pinggy's own CLI (the pinggy/pinggy image) is not OpenSSH: it reads its token from CLI_CONFIG on the same volume
(`--conf`, JSON; its argv names the server alone, and its type with `--type`), and forces once by its launcher's
doing (loopback.py), not the file's. Pure data, as loopback.py: the Docker adapter, the in-memory engine and the spec
hash use it.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping

FOLDER = "/run/tunnelctl-login"  # the anonymous volume
CONFIG = f"{FOLDER}/ssh_config"
CLI_CONFIG = f"{FOLDER}/pinggy.json"  # Pinggy's CLI's `--conf`: what it takes as the base of its options
FORCE = "+force"
# A container made to take its token over, until its takeover is committed: its name while it may still log in with
# +force (the label TAKEOVER_NAME records it, so that a container renamed since is known as committed).
TAKEOVER_SUFFIX = "-takeover"


def config_text(user: str) -> str:
    """The file: the user first (ssh keeps the first value it reads), then what `-F` would leave out."""
    return f"User {user}\nInclude /etc/ssh/ssh_config\n"


def cli_config_text(token: str, force: bool) -> str:
    """Pinggy's CLI's `--conf` file: its token, and `force` when the tunnel forces at every login (`force: true`)."""
    return json.dumps({"token": token, **({"force": True} if force else {})}) + "\n"


def contents(login_user: str | None, cli_config: str | None) -> dict[str, str]:
    """The files of a container's login volume: OpenSSH's (its user) or Pinggy's CLI's (its `--conf` text)."""
    return {**({CONFIG: config_text(login_user)} if login_user else {}),
            **({CLI_CONFIG: cli_config} if cli_config else {})}


def reads_login(command: tuple[str, ...]) -> bool:
    """Whether a container's arguments name a login file (so its token is there, not in them)."""
    return CONFIG in command or CLI_CONFIG in command


def forced(user: str) -> str:
    """The user that takes the token over at its login."""
    return user if user.endswith(FORCE) else user + FORCE


def archive(files: Mapping[str, str], uid: int) -> bytes:
    """A tar holding the files (path in FOLDER → text), owned by the image's user and readable by it alone (an archive
    PUT's body, into FOLDER)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, text in files.items():
            data = text.encode()
            entry = tarfile.TarInfo(path.rpartition("/")[2])
            entry.size, entry.mode, entry.uid, entry.mtime = len(data), 0o400, uid, int(time.time())
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def file_in_archive(data: bytes) -> str | None:
    """The text of the file an archive GET's body holds; None when it holds none."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = next((member for member in tar if member.isfile()), None)
            reader = tar.extractfile(member) if member else None
            return reader.read().decode("utf-8", errors="replace") if reader else None
    except tarfile.TarError:
        return None


def user_in(text: str) -> str | None:
    """The user a login file names (Pinggy's CLI's: its token)."""
    if text.lstrip().startswith("{"):
        try:
            token = json.loads(text).get("token")
        except (ValueError, AttributeError):
            return None
        return token if isinstance(token, str) and token else None
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key.lower() == "user" and value.strip():
            return value.strip()
    return None


def uid_of(user: str, passwd: str | None) -> int | None:
    """The uid of an image's `User` (`NAME` or `UID`, maybe `:GROUP` after it; empty: root), a name looked up in the
    image's /etc/passwd; None when it is not there (ssh could not run as that user either)."""
    name = user.partition(":")[0]
    if not name or name.isdigit():
        return int(name or 0)
    for line in (passwd or "").splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == name and fields[2].isdigit():
            return int(fields[2])
    return None
