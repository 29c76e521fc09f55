"""Read `.env` files the way docker compose does: KEY=VALUE lines, comments, optional quotes and `export`."""

from __future__ import annotations

import re
from pathlib import Path

from .. import files
from ..errors import UserError

MAX_BYTES = 1024 * 1024  # an env file holds a few variables; a bound keeps a hostile one from filling memory

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)$")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def read(path: Path) -> dict[str, str]:
    try:
        text = files.read_bounded(path, MAX_BYTES, "env file").decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such env file") from None
    except UnicodeDecodeError as error:
        raise UserError(f"{path}: not UTF-8 text (byte {error.start}); save the file as UTF-8") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            raise UserError(f"{path}:{number}: expected KEY=VALUE (a comment starts with #)")
        values[match.group(1)] = _value(match.group(2), path, number)
    return values


def _value(raw: str, path: Path, number: int) -> str:
    raw = raw.strip()
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = _closing_quote(raw, quote)
        if end < 0:
            raise UserError(f"{path}:{number}: the value's {quote} quote is never closed")
        inner = raw[1:end]
        return inner if quote == "'" else re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), inner)
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()  # an unquoted value ends at " #"


def _closing_quote(raw: str, quote: str) -> int:
    index = 1
    while index < len(raw):
        if raw[index] == "\\" and quote == '"':
            index += 2
            continue
        if raw[index] == quote:
            return index
        index += 1
    return -1
