"""Look at the local side of a tunnel: is anything listening, and what does the Pinggy web debugger report."""

from __future__ import annotations

import os
import socket

from .pinggy_output import urls_from_debugger


def listening(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ssh_banner(host: str, port: int, timeout: float = 5.0) -> str:
    """The first line an SSH server sends (`SSH-2.0-…`), read without logging in; raises OSError when the connection
    fails, and returns whatever else answered (a proxy's HTTP, say; "" for silence) so that the caller can tell."""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        received = b""
        try:
            while b"\n" not in received and len(received) < 256:
                chunk = connection.recv(256)
                if not chunk:
                    break
                received += chunk
        except TimeoutError:
            pass  # connected, but nothing (or not a whole line) came
    return received.split(b"\n", 1)[0].decode("ascii", errors="replace").strip()


def debugger_urls(port: int, timeout: float = 1.0) -> tuple[str, ...]:
    """Ask the web debugger (`-L<port>:localhost:4300`) for the tunnel's URLs; none when it does not answer, or
    when what listens there is not the tunnel's: another user who bound the port first (the client's forward then
    fails, and it carries on) would answer with URLs of their own, which `check` would send the access key to."""
    if not _listener_is_ours(port):
        return ()
    import urllib.request  # only here: with http.client and ssl it is a tenth of every plan's and status's imports

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/urls", timeout=timeout) as response:
            return urls_from_debugger(response.read(1_000_000))
    except (OSError, ValueError):
        return ()


def _listener_is_ours(port: int) -> bool:
    """Whether every socket listening on loopback `port` belongs to root (the tunnel's client, docker-proxy) or to
    this user. Linux's /proc/net/tcp names each socket's owner; elsewhere the debugger is not trusted."""
    owners = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as rows:
                next(rows, None)
                for row in rows:
                    fields = row.split()
                    if len(fields) > 7 and fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                        owners.add(int(fields[7]))  # 0A: LISTEN; the owner's uid is the eighth column
        except OSError:
            return False
    return bool(owners) and owners <= {0, os.getuid()}
