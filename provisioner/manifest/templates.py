"""Render the manifest's Jinja2 templates against the environment, in a sandbox, converting to the schema's types."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import schema
from .schema import Path
from .trust import TRUSTED, Trust

_MARKERS = ("{{", "{%", "{#")


class UndefinedVariable(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class UndefinedValue(Exception):
    """A template used a key or attribute its object does not have (not a variable: that is UndefinedVariable)."""


class MissingRequired(Exception):
    """`{{ env.X | required('why') }}` met an unset or empty value."""


class VariableNotAllowed(Exception):
    """The manifest is not trusted and whoever runs tunnelctl did not allow this variable (trust.py)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


@dataclass
class Rendering:
    problems: list[tuple[Path, str]] = field(default_factory=list)
    unresolved: set[Path] = field(default_factory=set)  # left as written: a variable is missing
    # secret fields' values, `| secret` values, and what templates of text fields read from the environment or made
    # of it: never printed
    secrets: set[str] = field(default_factory=set)
    unset_secrets: set[str] = field(default_factory=set)  # variables a secret field needs that are not set
    # templated path → the variables it read: such a field is tainted, its value sensitive as a whole (any type)
    sources: dict[Path, tuple[str, ...]] = field(default_factory=dict)
    read: dict[str, str] = field(default_factory=dict)  # every variable any template read → its value
    rendered: dict[Path, Any] = field(default_factory=dict)  # tainted path → what its template made
    secret_fields: set[Path] = field(default_factory=set)  # paths of the secret fields (never printed)
    current: Path = ()  # the template being rendered


class EnvironmentVariables:
    """`env` as templates see it: one variable at a time, by name (env.NAME, env['NAME'], env.get('NAME', default)).

    Not a dict: a template in a pull request must not list, sort, iterate or print the whole environment of the CI
    job that validates it. Every read is noted, so that what the template made of it is tainted; the record is out
    of templates' reach (the sandbox refuses attributes starting with '_'), so no template can erase it. A variable
    the manifest may not read (trust.py) is an error whether it is set or not, so the error tells nothing.
    """

    def __init__(self, environ: Mapping[str, str], trust: Trust):
        self._values = environ
        self._trust = trust
        self._read: set[str] = set()

    def __getitem__(self, name):
        if not isinstance(name, str):
            raise KeyError(name)
        if not self._trust.may_read(name):
            raise VariableNotAllowed(name)
        self._read.add(name)
        return self._values[name]

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __contains__(self, name) -> bool:
        if isinstance(name, str) and not self._trust.may_read(name):
            raise VariableNotAllowed(name)
        return isinstance(name, str) and name in self._values

    def values_read(self) -> dict[str, str]:
        """Variable → value, for every variable the template read that is set."""
        return {name: str(self._values[name]) for name in self._read if name in self._values}

    def _whole(self, *args, **kwargs):
        raise EnvironmentListing(ENV_BY_NAME)

    __iter__ = __len__ = __str__ = __reversed__ = _whole

    def __repr__(self) -> str:
        return "<env>"


ENV_BY_NAME = "env gives one variable by name (env.NAME or env['NAME']); it cannot be listed, sorted or printed whole"


class EnvironmentListing(Exception):
    pass


# Bounds that keep a hostile template (manifests come from shared repos) from exhausting memory or time.
MAX_NUMBER = 100_000  # largest repeat count, width or size argument a template may use
MAX_OUTPUT = 64 * 1024  # characters one template may produce
MAX_TOTAL_OUTPUT = 8 * 1024 * 1024  # characters all of them may: as much text as a manifest may hold (loader)
MAX_SECONDS = 1.0  # for rendering all of a manifest's templates: loading any manifest stays within 2 s
# Address space rendering may add: no per-operation check catches every way of building a huge string (joins,
# repeated concatenation, a thousand format fields, indent…), so an allocation past this fails instead.
MAX_MEMORY = 128 * 1024 * 1024
# %-widths and precisions (also `%(key)…` and `*`), and str.format widths, precisions and nested `{…}` fields.
_WIDE_FORMAT = re.compile(r"%(\([^)]*\))?[-+ #0]*(\*|\d{6,}|\d*\.(\*|\d{6,}))|\{[^{}]*:[^{}]*(\{|\d{6,})")


class TemplateTooCostly(Exception):
    pass


class _OutOfTime(BaseException):
    """Raised by the timer; a BaseException so that no `except Exception` in a template's path swallows it."""


def _too_big(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER


def _check_arguments(args, kwargs) -> None:
    for value in (*args, *kwargs.values()):
        if _too_big(value):
            raise TemplateTooCostly(f"the number {value} is too large for a template (at most {MAX_NUMBER})")
        _check_format(value)


def _check_format(value: Any) -> None:
    if isinstance(value, str) and _WIDE_FORMAT.search(value):
        raise TemplateTooCostly("a format width in the template is too large (or taken from an argument)")


def _size(value: Any) -> int:
    """Roughly the characters a value stands for once printed: a list counts its items' lengths too."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return len(value) + sum(_size(item) for item in value)
    return 1


def _bounded_filter(function):
    @functools.wraps(function)
    def bounded(*args, **kwargs):
        if args:
            _check_format(args[0])  # `'%.999999999d' | format(1)`: the value is the format string
        _check_arguments(args[1:], kwargs)
        return function(*args, **kwargs)
    return bounded


@contextlib.contextmanager
def _memory_limit(extra: int):
    """Make allocations past `extra` more bytes of address space fail with MemoryError, in this block only.

    The limit is the process's: only the main thread (the CLI's, before any other starts) sets it; on systems
    without /proc the other bounds still hold.
    """
    try:
        import resource

        with open("/proc/self/statm", encoding="ascii") as statm:
            in_use = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (ImportError, OSError, ValueError):
        in_use = None
    if in_use is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + extra if hard == resource.RLIM_INFINITY else min(in_use + extra, hard)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt a runaway loop after `seconds` of CPU time (not wall time: on a busy machine a fair manifest must not
    fail); only the main thread can take signals, elsewhere the other bounds still hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _OutOfTime(f"rendering the templates took more than {seconds:g}s of CPU time")

    previous = signal.signal(signal.SIGVTALRM, expire)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _environment(marked_secret: set[str]):
    from jinja2 import StrictUndefined, Undefined
    from jinja2.exceptions import SecurityError
    from jinja2.runtime import LoopContext
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import missing, object_type_repr

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """Immutable: no list, dict or set method that changes its object can be called (`.clear()`, `.pop()`…),
        and of the objects a template can reach that keep state, `loop.changed` is refused and `cycler`/`joiner`
        are not offered; `env` keeps its record of reads private."""

        intercepted_binops = frozenset(["*", "**", "%"])

        def is_safe_attribute(self, obj, attr, value):
            if isinstance(obj, LoopContext) and attr == "changed":
                return False
            return super().is_safe_attribute(obj, attr, value)

        def call_binop(self, context, operator, left, right):
            if operator == "*" and any(isinstance(side, (str, list, tuple)) for side in (left, right)):
                count = right if isinstance(left, (str, list, tuple)) else left
                size = _size(left) if isinstance(left, (str, list, tuple)) else _size(right)
                if isinstance(count, int) and count * size > MAX_OUTPUT:
                    raise TemplateTooCostly("a repeated string or list in the template is too long")
            if (operator == "**" and _too_big(right)) or (operator == "**" and isinstance(right, int) and right > 256):
                raise TemplateTooCostly("an exponent in the template is too large")
            if operator == "%" and isinstance(left, str):
                _check_arguments([left], {})
            return super().call_binop(context, operator, left, right)

        def call(__self, __context, __obj, *args, **kwargs):
            _check_arguments(args, kwargs)
            return super().call(__context, __obj, *args, **kwargs)

        def wrap_str_format(self, value):  # 'fmt'.format(…): the format string's own widths count too
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None

            def bounded(*args, **kwargs):
                _check_arguments((value.__self__, *args), kwargs)
                return wrapped(*args, **kwargs)
            return bounded

    class ReportingUndefined(StrictUndefined):
        def _fail_with_undefined_error(self, *args, **kwargs):
            if self._undefined_exception is SecurityError:  # `env._read`: the sandbox's refusal, not a variable
                raise SecurityError(self._undefined_hint)
            if self._undefined_obj is missing or isinstance(self._undefined_obj, EnvironmentVariables):
                raise UndefinedVariable(self._undefined_name or "?")
            # `{}[env.SECRET]`: the missing key may be a value, so it is not named
            raise UndefinedValue(f"{object_type_repr(self._undefined_obj)} has no such key or attribute")

        # Attribute access, iteration, str(), comparisons…: every way of using an undefined value fails the same way.
        __str__ = __iter__ = __len__ = __eq__ = __ne__ = __bool__ = __hash__ = _fail_with_undefined_error

    def required(value, message: str = "a required value is not set"):
        if isinstance(value, Undefined) or value is None or value == "":
            raise MissingRequired(message)
        return value

    def secret(value):
        marked_secret.add(str(value))
        return value

    jinja = BoundedSandbox(undefined=ReportingUndefined, autoescape=False, keep_trailing_newline=True)
    for stateful in ("cycler", "joiner", "lipsum"):  # lipsum: kilobytes of text from one small number
        jinja.globals.pop(stateful, None)
    jinja.filters = {name: _bounded_filter(function) for name, function in jinja.filters.items()}
    jinja.filters.update(required=required, secret=secret)
    return jinja


def _render(template, env: EnvironmentVariables) -> str:
    pieces, size = [], 0
    for piece in template.generate(env=env):
        size += len(piece)
        if size > MAX_OUTPUT:
            raise TemplateTooCostly(f"the template produces more than {MAX_OUTPUT} characters")
        pieces.append(piece)
    return "".join(pieces)


def render_all(data: Any, environ: Mapping[str, str], ignore_missing: bool = False, *,
               secrets_optional: bool = False, secrets_reason: str = "", trust: Trust = TRUSTED) -> Rendering:
    """Replace every templated string in `data` by its rendering.

    With `ignore_missing`, a template that needs an unset variable is left as written (for checks made where the
    secrets are not set, such as a pre-commit hook). With `secrets_optional`, only secret fields are let off that way
    (for commands that never send a secret); otherwise `secrets_reason` says why a missing secret is needed. `trust`
    says which variables templates may read.
    """
    result = Rendering()
    templated, secret_paths = [], result.secret_fields
    for path, node, value in schema.walk(data):
        if schema.is_secret(node):
            secret_paths.add(path)
        if isinstance(value, str) and any(marker in value for marker in _MARKERS):
            templated.append((path, node, value))
        elif isinstance(value, (str, int)) and value != "" and within(path, secret_paths):
            result.secrets.add(str(value))
    if not templated:
        return result
    jinja = _environment(result.secrets)
    compiled: dict[str, Any] = {}  # compiling costs about 1 ms: `{{ env.TOKEN }}` in every tunnel compiles once

    produced = 0

    def render_each() -> None:
        nonlocal produced
        for path, node, source in templated:
            result.current = path
            if produced > MAX_TOTAL_OUTPUT:  # said once, at the template that went past it; the rest are not run
                result.unresolved.add(path)
                continue
            env = EnvironmentVariables(environ, trust)
            try:
                if source not in compiled:
                    compiled[source] = jinja.from_string(source)
                rendered = _render(compiled[source], env)
            except VariableNotAllowed as error:
                result.unresolved.add(path)
                result.problems.append((path, trust.refusal(_name(error.name, source))))
                continue
            except (UndefinedVariable, MissingRequired) as error:
                result.unresolved.add(path)
                secret = within(path, secret_paths)
                if secret and isinstance(error, UndefinedVariable):
                    result.unset_secrets.add(_name(error.name, source) or "?")
                if not ignore_missing and not (secret and secrets_optional):
                    message = _missing_message(error, source, secret, env.values_read())
                    result.problems.append((path, f"{message} ({secrets_reason})" if secret and secrets_reason
                                            else message))
                continue
            except MemoryError:
                result.problems.append((path, f"template error: rendering needs more than {MAX_MEMORY >> 20} MiB"))
                result.unresolved.add(path)
                continue
            except Exception as error:  # jinja2's syntax, security and runtime errors all mean: fix this template
                result.problems.append((path, _failure_message(error, env.values_read())))
                result.unresolved.add(path)
                continue
            finally:
                read = env.values_read()
                if read:
                    result.sources[path] = tuple(sorted(read))
                    result.read.update(read)
                    # what the template read is as secret as what it made of it, whether or not that fails
                    result.secrets.update(read.values())
            produced += len(rendered)
            if produced > MAX_TOTAL_OUTPUT:
                result.problems.append((path, f"template error: the manifest's templates produce more than "
                                              f"{MAX_TOTAL_OUTPUT >> 20} MiB of text in all"))
                result.unresolved.add(path)
                continue
            value = _coerce(rendered, schema.expected_type(node))
            _assign(data, path, value)
            # Taint: a field whose template read the environment is sensitive as a whole, whatever its type or
            # length (`x{{ env.S[0:2] }}` and `{{ 1000 + …index(env.S[4]) }}` are as secret as env.S).
            if path in result.sources or within(path, secret_paths):
                result.secrets.update(_printed(value))
            if path in result.sources:
                result.rendered[path] = value

    try:
        with _time_limit(MAX_SECONDS), _memory_limit(MAX_MEMORY):
            render_each()
    except _OutOfTime as error:  # the template being rendered when the clock ran out is the culprit
        result.problems.append((result.current, f"template error: {error}"))
        result.unresolved.add(result.current)
    except MemoryError:  # so short of memory that even noting the problem failed: noted here, with the limit lifted
        result.problems.append((result.current, f"template error: rendering needs more than {MAX_MEMORY >> 20} MiB"))
        result.unresolved.update(path for path, _, _ in templated)
    return result


def _printed(value: Any) -> set[str]:
    """How a rendered value reads in output: a yes/no both as Python and as JSON writes it."""
    if isinstance(value, bool):
        return {str(value), str(value).lower()}
    return {str(value)} - {""}


def _name(name: str, source: str) -> str | None:
    """The variable's name if the template spells it; a name it computed (`env[env.S | lower]`) may be a value."""
    if re.search(rf"""env\s*(\.\s*{re.escape(name)}\b|\[\s*['"]{re.escape(name)}['"]|\.\s*get\s*\(\s*['"]"""
                 rf"""{re.escape(name)}['"])""", source):
        return name
    return None


def _missing_message(error: Exception, source: str, secret: bool, read: Mapping[str, str]) -> str:
    if isinstance(error, UndefinedVariable):
        name = _name(error.name, source) if read else error.name
        if name is None:
            return f"a variable whose name the template computes is not set (the template reads {_names(read)})"
        return _undefined_message(name, source, secret)
    # `required(message)`: the message is the template's own words unless it was made of what the template read
    message = str(error)
    if read and message not in source:
        return f"a required value is not set (the message is not shown: the template reads {_names(read)})"
    return message


def _failure_message(error: Exception, read: Mapping[str, str]) -> str:
    if isinstance(error, EnvironmentListing) or "EnvironmentVariables" in str(error):
        return f"template error: {ENV_BY_NAME}"
    if read:  # a failing filter or method may quote its argument (`'x'.format()`, `int('…')`): the value, transformed
        return (f"template error: the template reads {_names(read)} and fails ({type(error).__name__}); its message "
                "is not shown, since it may quote what the template made of them: check the template")
    return f"template error: {error}"


def _names(read: Mapping[str, str]) -> str:
    return ", ".join(f"env.{name}" for name in sorted(read))


def within(path: Path, secret_paths: set[Path]) -> bool:
    return any(path[:length] in secret_paths for length in range(len(path) + 1))


UNDEFINED_START = "variable '"  # how the message about an unset variable begins (the loader adds to it)


def _undefined_message(name: str, source: str, secret: bool) -> str:
    if secret:  # a fallback would put the secret itself in a file that is committed to git
        return f"{UNDEFINED_START}{name}' is not set: set it in the environment or a .env file kept out of git"
    if f"env.{name}" in source or f"env['{name}']" in source or f'env["{name}"]' in source:
        return (f"{UNDEFINED_START}{name}' is not set: set it in the environment or a .env file, "
                f"or give a fallback: {{{{ env.{name} | default('…') }}}}")
    return f"undefined variable '{name}': environment variables are read as env.{name}"


def _coerce(text: str, kind: str | None) -> Any:
    """A templated port is a number: convert to the schema's type when the whole text reads as one (no spaces, no
    trailing newline, ASCII digits only), else leave it to validation, which says what is wrong."""
    if kind == "integer" and _INTEGER.fullmatch(text):
        return int(text)
    if kind == "boolean" and text.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return text.lower() in ("true", "yes", "on", "1")
    return text


_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")


def _assign(data: Any, path: Path, value: Any) -> None:
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
