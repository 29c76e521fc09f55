"""The launcher's one forced login (engine/loopback.py LAUNCHER), run with this machine's node against a stand-in for
Pinggy's CLI that writes down its arguments: what a takeover container does on its first start and on every later one.
The real CLI against the Pinggy-protocol stand-in: tests/test_pinggy_real.py."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import wait_until
from provisioner.engine.loopback import LAUNCHER, TAKEOVER_MARKER, TAKEOVER_VARIABLE

pytestmark = [pytest.mark.npm, pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed here")]

# Says where it runs, as the CLI does; ends when told (SIGTERM), and, run with --no-autoreconnect while DROP is set,
# warns that its session was dropped (on stderr, as the CLI does), and then waits.
CLIENT = r"""
const fs = require('fs');
fs.appendFileSync(process.env.RUNS, JSON.stringify(process.argv.slice(2)) + '\n');
console.log('Remote URLs:\n  http://one-p4000.a.pinggy.link');
if (process.argv.includes('--no-autoreconnect') && process.env.DROP)
  setTimeout(() => console.warn('\u26a0 Warning: Disconnected: Tunnel closed by the server (session dropped)'), 300);
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
"""
ARGUMENTS = ["-p", "443", "-R0:localhost:8000", "-o", "StrictHostKeyChecking=no", "-t", "tokentokentoken@a.pinggy.io",
             "x:https"]


class Container:
    """The launcher as a container runs it, with its takeover marker in a folder of the test's own."""

    def __init__(self, tmp_path: Path, takeover: bool, drop: bool = False):
        self.marks = tmp_path / "marks"
        self.marks.mkdir(exist_ok=True)
        self.runs = tmp_path / "runs"
        client = tmp_path / "client.js"
        client.write_text(CLIENT)
        marker = str(self.marks / Path(TAKEOVER_MARKER).name)
        self.command = ["node", "-e", LAUNCHER.replace(TAKEOVER_MARKER, marker), "--", "127.0.0.1", "0",
                        str(tmp_path / "socket"), "node", str(client), *ARGUMENTS]
        self.env = {**os.environ, "RUNS": str(self.runs), "HOME": str(tmp_path),
                    **({TAKEOVER_VARIABLE: "1"} if takeover else {}), **({"DROP": "1"} if drop else {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> Container:
        self.process = subprocess.Popen(self.command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        return self

    def stop(self) -> tuple[int, str, str]:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=10)
        return self.process.returncode, out, err

    def logins(self, count: int) -> list[list[str]]:
        def enough():
            lines = self.runs.read_text().splitlines() if self.runs.exists() else []
            return [json.loads(line) for line in lines] if len(lines) >= count else None

        return wait_until(enough, 10, f"{count} runs of the client")


FORCED = ["-p", "443", "-R0:localhost:8000", "-o", "StrictHostKeyChecking=no", "--no-autoreconnect", "--force", "-t",
          "tokentokentoken@a.pinggy.io", "x:https"]


def test_a_takeover_container_logs_in_once_with_force_and_never_again_after_a_restart(tmp_path):
    first = Container(tmp_path, takeover=True).start()
    assert first.logins(1) == [FORCED]
    code, _, _ = first.stop()
    assert code == 0 and (first.marks / Path(TAKEOVER_MARKER).name).exists()
    again = Container(tmp_path, takeover=True).start()  # the same container, restarted: its marker is there
    assert again.logins(2)[1] == ARGUMENTS
    _, _, said = again.stop()
    assert "no takeover: this container took its session over before; logging in without +force" in said


def test_when_the_forced_session_ends_the_client_logs_in_again_without_force(tmp_path):
    container = Container(tmp_path, takeover=True, drop=True).start()
    assert container.logins(2) == [FORCED, ARGUMENTS]
    time.sleep(0.5)
    assert len(container.logins(2)) == 2  # once, not in a loop
    code, _, said = container.stop()
    assert code == 0 and "Disconnected: Tunnel closed by the server" in said  # the client's words reach the logs
    assert "the session taken over ended; logging in without +force" in said


def test_a_stop_during_the_forced_login_stops_the_container(tmp_path):
    container = Container(tmp_path, takeover=True).start()
    container.logins(1)
    code, _, _ = container.stop()
    assert code == 0 and len(container.logins(1)) == 1


def test_without_the_variable_or_a_place_for_the_marker_nothing_is_forced(tmp_path):
    (tmp_path / "plain").mkdir()
    plain = Container(tmp_path / "plain", takeover=False).start()
    assert plain.logins(1) == [ARGUMENTS]
    plain.stop()
    unmarked = Container(tmp_path, takeover=True)
    unmarked.marks.rmdir()  # the engine did not make the folder: no marker can be written, so no force
    unmarked.start()
    assert unmarked.logins(1) == [ARGUMENTS]
    _, _, said = unmarked.stop()
    assert "no takeover: ENOENT" in said
