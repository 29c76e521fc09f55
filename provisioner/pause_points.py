"""Named steps of an apply at which a fault test can freeze the process, to kill it or pull the engine away there.

`TUNNELCTL_TEST_PAUSE_AT=step[,step…]` makes the process announce `tunnelctl: paused at STEP` on stderr and stop
itself (SIGSTOP) when it reaches one of those steps; the test then sends SIGKILL, or SIGCONT to let it go on.
Unset, it costs one dictionary lookup per step.
"""

from __future__ import annotations

import os
import signal
import sys

ENVIRONMENT_VARIABLE = "TUNNELCTL_TEST_PAUSE_AT"


def reached(step: str) -> None:
    wanted = os.environ.get(ENVIRONMENT_VARIABLE)
    if wanted and step in wanted.split(","):
        sys.stderr.write(f"tunnelctl: paused at {step}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGSTOP)
