"""Everything tunnelctl prints goes through a Console, which blanks out every secret the manifest holds, and colours
what it prints when colour is wanted (see `wants_colour`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TextIO

from ..redaction import Redactor

# SGR codes of the few styles tunnelctl uses: created/up green, changed/waiting yellow, removed/down/failed red.
STYLES = {"green": "32", "yellow": "33", "red": "31", "bold": "1", "dim": "2"}
Painter = Callable[[str, str], str]


def plain(text: str, style: str) -> str:
    return text


def wants_colour(stream: TextIO, no_colour_flag: bool = False, environ: Mapping[str, str] = os.environ) -> bool:
    """no-color.org and force-color.org: --no-color, then FORCE_COLOR (set and not empty) forces it, then NO_COLOR
    (set and not empty) turns it off; otherwise colour exactly when the stream is a terminal that can show it."""
    if no_colour_flag:
        return False
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("NO_COLOR"):
        return False
    return stream.isatty() and environ.get("TERM") != "dumb"


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, no_colour: bool = False):
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._redactor = Redactor()
        self.colour = wants_colour(self._out, no_colour)
        self.error_colour = wants_colour(self._err, no_colour)

    def paint(self, text: str, style: str) -> str:
        """`text` in `style` on standard output, when colour is wanted there."""
        return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if self.colour and text else text

    def paint_error(self, text: str, style: str) -> str:
        return f"\x1b[{STYLES[style]}m{text}\x1b[0m" if self.error_colour and text else text

    def hide(self, secrets: Iterable[str]) -> None:
        self._redactor.hide(secrets)

    def redact(self, text: str) -> str:
        return self._redactor.text(text)

    def print(self, text: str = "") -> None:
        self._write(self._out, text)

    def print_json(self, document) -> None:
        """A JSON document, its strings redacted one by one: a hidden number or yes/no blanked in the text would
        make it something that is not JSON."""
        self._out.write(json.dumps(self._redactor.document(document), indent=2) + "\n")
        self._out.flush()

    def error(self, text: str) -> None:
        self._write(self._err, text)

    def write(self, text: str) -> None:
        """Output as it comes, without adding a line break (for streamed logs)."""
        self._out.write(self.redact(text))
        self._out.flush()

    def _write(self, stream: TextIO, text: str) -> None:
        stream.write(self.redact(text) + "\n")
        stream.flush()

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty()

    @property
    def width(self) -> int:
        """The terminal's columns; 80 when output is not a terminal (a file, a pipe, CI's log)."""
        import shutil

        return shutil.get_terminal_size((80, 24)).columns if self.live else 80

    @property
    def live(self) -> bool:
        """Whether output goes to a terminal, where progress can be redrawn in place."""
        return self._out.isatty()
