"""Render the manifest's Jinja2 templates against the environment, in a sandbox, converting to the schema's types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import schema
from .schema import Path

_MARKERS = ("{{", "{%", "{#")


class UndefinedVariable(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class ReportingUndefined(StrictUndefined):
        def _fail_with_undefined_error(self, *args, **kwargs):
            raise UndefinedVariable(self._undefined_name or "?")

        # Attribute access, iteration, str(), comparisons…: every way of using an undefined value fails the same way.
        __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = _fail_with_undefined_error

    return SandboxedEnvironment(undefined=ReportingUndefined, autoescape=False, keep_trailing_newline=True)


def render_all(data: Any, environ: Mapping[str, str]) -> list[tuple[Path, str]]:
    """Replace every templated string in `data` by its rendering; return the problems found."""
    templated = [(path, node, value) for path, node, value in schema.walk(data)
                 if isinstance(value, str) and any(marker in value for marker in _MARKERS)]
    if not templated:
        return []
    jinja = _environment()
    context = {"env": dict(environ)}
    problems = []
    for path, node, source in templated:
        try:
            rendered = jinja.from_string(source).render(context)
        except UndefinedVariable as error:
            problems.append((path, _undefined_message(error.name, source)))
            continue
        except Exception as error:  # jinja2's syntax, security and runtime errors all mean: fix this template
            problems.append((path, f"template error: {error}"))
            continue
        _assign(data, path, _coerce(rendered, schema.expected_type(node)))
    return problems


def _undefined_message(name: str, source: str) -> str:
    if f"env.{name}" in source or f"env['{name}']" in source or f'env["{name}"]' in source:
        return (f"undefined variable '{name}': set {name} in the environment, "
                f"or give a fallback with {{{{ env.{name} | default('…') }}}}")
    return f"undefined variable '{name}': environment variables are read as env.{name}"


def _coerce(text: str, kind: str | None) -> Any:
    """A templated port is a number: convert to the schema's type when the text reads as one, else leave it to validation."""
    stripped = text.strip()
    if kind == "integer" and stripped.lstrip("+-").isdigit():
        return int(stripped)
    if kind == "boolean" and stripped.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return stripped.lower() in ("true", "yes", "on", "1")
    return text


def _assign(data: Any, path: Path, value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value

