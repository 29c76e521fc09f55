"""How secrets are kept out of what tunnelctl prints: every printed form of a value, and messages with the values
that came from the environment replaced by the name of their variable."""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

SENSITIVE = "(sensitive)"
# A shorter value is blanked only where it stands alone (`:1055`, `'xS3'`), not inside words (`tunnels[1]`).
MIN_REDACTED_LENGTH = 4
# Printed forms (escaped copies) are kept only of values up to this length, so that masking takes memory in
# proportion to the values themselves, however many: a longer value's forms are made when a text long enough to
# hold it is printed, and dropped after.
KEPT_FORMS_LENGTH = 256


def printed_forms(value: str) -> set[str]:
    """Every way `value` can appear in text: as is, between repr()'s or JSON's quotes (escaped backslashes, tabs,
    quotes, non-ASCII), and quoted as an ssh remote-command word."""
    return {value, repr(value)[1:-1], ascii(value)[1:-1], json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1], value.replace("\\", "\\\\").replace('"', '\\"')} - {""}


def without_values(text: str, named_values: Mapping[str, str]) -> str:
    """`text` with every printed form of each value replaced by `env.NAME`, the variable it came from."""
    return replaced(text, {value: f"env.{name}" for name, value in named_values.items()})


def replaced(text: str, labels: Mapping[str, str]) -> str:
    """`text` with every printed form of each value replaced by its label.

    A value too short to be a secret is only replaced where it stands alone, so that `1` does not mangle `tunnels[1]`.
    """
    forms = sorted(((form, label) for value, label in labels.items() for form in printed_forms(value)),
                   key=lambda pair: len(pair[0]), reverse=True)
    for form, label in forms:
        if len(form) >= MIN_REDACTED_LENGTH:
            text = text.replace(form, label)
        else:
            text = standing_alone(form).sub(label, text)
    return text


def standing_alone(form: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])")


class Redactor:
    """Blanks every printed form of each hidden value out of a text, as SENSITIVE.

    Bounded: each value is held once (deduplicated), escaped forms only of short values; a text is only searched
    for the values not longer than itself.
    """

    def __init__(self) -> None:
        self._values: list[tuple[int, str]] = []  # (length, value), longest last
        self._known: set[str] = set()
        self._forms: dict[str, list[str]] = {}  # value → its forms, for values up to KEPT_FORMS_LENGTH
        self._alone: re.Pattern[str] | None = None  # short forms, standing alone

    def hide(self, values: Iterable[str]) -> None:
        short = False
        for value in values:
            if not value or value in self._known:
                continue
            self._known.add(value)
            bisect.insort(self._values, (len(value), value))
            if len(value) <= KEPT_FORMS_LENGTH:
                self._forms[value] = sorted(printed_forms(value), key=len, reverse=True)
            short = short or len(value) < MIN_REDACTED_LENGTH
        if short:
            forms = sorted({form for value, forms in self._forms.items() if len(value) < MIN_REDACTED_LENGTH
                            for form in forms if len(form) < MIN_REDACTED_LENGTH}, key=len, reverse=True)
            self._alone = re.compile(r"(?<![\w.-])(?:" + "|".join(map(re.escape, forms)) + r")(?![\w.-])")

    def text(self, text: str) -> str:
        if not self._values:
            return text
        fitting = bisect.bisect_right(self._values, (len(text), chr(0x10FFFF)))
        for _, value in reversed(self._values[:fitting]):  # longest first, so a value's prefix never wins
            for form in self._forms.get(value) or sorted(printed_forms(value), key=len, reverse=True):
                if len(form) >= MIN_REDACTED_LENGTH and form in text:
                    text = text.replace(form, SENSITIVE)
        if self._alone is not None:
            text = self._alone.sub(SENSITIVE, text)
        return text

    def document(self, data: Any) -> Any:
        """A JSON document with every string (keys too) redacted; numbers, yes/no and null are left, so it stays
        JSON (the documents tunnelctl prints hold counts there, not the manifest's values)."""
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, list):
            return [self.document(item) for item in data]
        if isinstance(data, dict):
            return {self.text(key): self.document(value) for key, value in data.items()}
        return data
