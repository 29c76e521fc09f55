"""How secrets are kept out of what tunnelctl prints: every printed form of a value, and messages with the values
that came from the environment replaced by the name of their variable."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

SENSITIVE = "(sensitive)"
# Shorter "secrets" would blank out ordinary words; the structured output never prints secret fields anyway.
MIN_REDACTED_LENGTH = 4


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
