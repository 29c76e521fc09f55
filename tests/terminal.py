"""A real terminal for tests that assert what a person sees: tmux runs `tunnelctl` in a pane of a given size, and the
test reads the screen (with or without its colours), types keys, and waits for the command to end."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

# The pane's command: run tunnelctl as a child and write its exit status to a file. Ctrl-C reaches both (one process
# group); a handler (not SIG_IGN, which a child would inherit) keeps this parent waiting for the child's own exit.
_RUN_AND_RECORD_STATUS = """
import signal, subprocess, sys
signal.signal(signal.SIGINT, lambda *_: None)
code = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as status:
    status.write(str(code if code >= 0 else 128 - code))
"""


class Terminal:
    def __init__(self, *args: str, cwd: Path, env: dict[str, str] | None = None, width: int = 80, height: int = 50):
        self.name = f"tunnelctl-test-{uuid.uuid4().hex[:8]}"
        environment = {**os.environ, **(env or {}), "TERM": "xterm-256color"}
        for unset in ("NO_COLOR", "FORCE_COLOR", "TUNNELCTL_DEBUG"):
            if env is None or unset not in env:
                environment.pop(unset, None)
        # The exit status comes from a file the pane's own parent process writes: tmux 3.3 now and then misses the
        # SIGCHLD of a command that has ended, leaving it a zombie and the pane "alive" for ever.
        self._status_file = Path(f"/tmp/{self.name}.status")
        command = shlex.join([sys.executable, "-c", _RUN_AND_RECORD_STATUS, str(self._status_file),
                              sys.executable, "-m", "provisioner", *args])
        # One tmux command: the pane stays after the command ends even when it ends at once (set afterwards, a quick
        # command's pane could be gone before it was told to stay).
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height), "-c", str(cwd),
                   f"exec {command}", ";", "set-option", "-t", self.name, "remain-on-exit", "on", env=environment)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, check=True,
                              env=env).stdout

    def screen(self, colours: bool = False) -> str:
        """What the pane shows now, a line too long for the pane joined up again (so a test can see it was too long);
        `colours`: with the escape sequences that colour it."""
        return self._tmux("capture-pane", "-p", "-J", *(["-e"] if colours else []), "-t", self.name)

    def lines(self) -> list[str]:
        """The screen's lines, without tmux's own note that the command ended."""
        return [line for line in self.screen().rstrip("\n").splitlines() if not line.startswith("Pane is dead")]

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            shown = self.screen()
            if text in shown:
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not shown within {timeout:g} s; the screen:\n{shown}")
            time.sleep(0.2)

    def press(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def exit_code(self, timeout: float = 60) -> int:
        """Wait for the command to end; its exit status (128 + N for a command killed by signal N, as a shell says)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._status_file.exists() and (recorded := self._status_file.read_text()):
                return int(recorded)
            time.sleep(0.2)
        raise AssertionError(f"the command did not end within {timeout:g} s; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)
        self._status_file.unlink(missing_ok=True)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_) -> None:
        self.close()
