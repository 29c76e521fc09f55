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


class _RecordingEnv(dict):
    """The environment as templates see it, noting which variables a template read."""

    def __init__(self, environ: Mapping[str, str]):
        super().__init__(environ)
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name, default=None):
        self.read.add(name)
        return super().get(name, default)


def render_all(data: Any, environ: Mapping[str, str]) -> tuple[list[tuple[Path, str]], set[str]]:
    """Replace every templated string in `data` by its rendering.

    Returns the problems found, and the values of the environment variables that secret fields read: a password
    used in a token stays a secret when another field reuses it.
    """
    templated, secret_paths = [], set()
    for path, node, value in schema.walk(data):
        if schema.is_secret(node):
            secret_paths.add(path)
        if isinstance(value, str) and any(marker in value for marker in _MARKERS):
            templated.append((path, node, value))
    if not templated:
        return [], set()
    jinja = _environment()
    problems: list[tuple[Path, str]] = []
    secret_inputs: set[str] = set()
    for path, node, source in templated:
        env = _RecordingEnv(environ)
        try:
            rendered = jinja.from_string(source).render(env=env)
        except UndefinedVariable as error:
            problems.append((path, _undefined_message(error.name, source)))
            continue
        except Exception as error:  # jinja2's syntax, security and runtime errors all mean: fix this template
            problems.append((path, f"template error: {error}"))
            continue
        finally:
            if any(path[:length] in secret_paths for length in range(len(path) + 1)):
                secret_inputs.update(str(environ[name]) for name in env.read if name in environ)
        _assign(data, path, _coerce(rendered, schema.expected_type(node)))
    return problems, secret_inputs


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

