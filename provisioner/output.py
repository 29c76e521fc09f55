"""Everything tunnelctl prints goes through a Console, which blanks out every secret the manifest holds."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from typing import TextIO

SENSITIVE = "(sensitive)"
# Shorter "secrets" would blank out ordinary words; the structured output never prints secret fields anyway.
MIN_REDACTED_LENGTH = 4


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


def printed_forms(value: str) -> set[str]:
    """Every way `value` can appear in text: as is, between repr()'s or JSON's quotes (escaped backslashes, tabs,
    quotes, non-ASCII), and quoted as an ssh remote-command word."""
    return {value, repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1], value.replace("\\", "\\\\").replace('"', '\\"')} - {""}


def without_values(text: str, named_values: Mapping[str, str]) -> str:
    """`text` with every printed form of each value replaced by `env.NAME`, the variable it came from.

    A value too short to be a secret is only replaced where it stands alone, so that `1` does not mangle `tunnels[1]`.
    """
    forms = sorted(((form, name) for name, value in named_values.items() for form in printed_forms(value)),
                   key=lambda pair: len(pair[0]), reverse=True)
    for form, name in forms:
        if len(form) >= MIN_REDACTED_LENGTH:
            text = text.replace(form, f"env.{name}")
        else:
            text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", f"env.{name}", text)
    return text
