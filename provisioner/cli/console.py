"""Everything tunnelctl prints goes through a Console, which blanks out every secret the manifest holds."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from ..redaction import MIN_REDACTED_LENGTH, SENSITIVE, printed_forms


class Console:
    def __init__(self, out: TextIO | None = None, err: TextIO | None = None):
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._secrets: list[str] = []

    def hide(self, secrets: Iterable[str]) -> None:
        known = set(self._secrets) | {form for secret in secrets if len(secret) >= MIN_REDACTED_LENGTH
                                      for form in printed_forms(secret)}
        self._secrets = sorted(known, key=len, reverse=True)  # longest first, so a secret's prefix never wins

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, SENSITIVE)
        return text

    def print(self, text: str = "") -> None:
        self._write(self._out, text)

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
