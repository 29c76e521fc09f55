"""Look at the local side of a tunnel: is anything listening, and what does the Pinggy web debugger report."""

from __future__ import annotations

import socket
import urllib.request

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
    """Ask the web debugger (`-L<port>:localhost:4300`) for the tunnel's URLs; none when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/urls", timeout=timeout) as response:
            return urls_from_debugger(response.read(1_000_000))
    except (OSError, ValueError):
        return ()
