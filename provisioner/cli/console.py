"""Everything tunnelctl prints goes through a Console, which blanks out every secret the manifest holds."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import TextIO

from ..redaction import Redactor


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._redactor = Redactor()

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
    def live(self) -> bool:
        """Whether output goes to a terminal, where progress can be redrawn in place."""
        return self._out.isatty()
