"""The manifest's JSON Schema: loading it, walking it alongside the data, and validating the data against it."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from importlib import resources
from typing import Any

Path = tuple[str | int, ...]


# The editor schema's file name beside a manifest; the modeline names it relatively, so it works on every clone.
SCHEMA_FILE = "tunnels.schema.json"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


@cache
def _schema_source() -> str:
    return resources.files("provisioner.schemas").joinpath("tunnels.schema.json").read_text(encoding="utf-8")


@cache
def manifest_schema() -> dict:
    return json.loads(_schema_source())


def _rules_source() -> str:
    """What decides validity: the schema, and this module's way of applying it (a remembered verdict is only good
    for the same of both)."""
    with open(__file__, encoding="utf-8") as own:
        return _schema_source() + own.read()


@cache
def _validator():
    """Draft 2020-12 with JSON's own meaning of two keywords, which Python's defaults loosen: `integer` is not a float
    (3845.0 is no port for ssh), and `pattern`'s `$` ends the text (Python's `$` also matches before a final newline).
    """
    from jsonschema import Draft202012Validator, validators

    integers = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool))
    strict = validators.extend(Draft202012Validator, validators={"pattern": _pattern}, type_checker=integers)
    return strict(manifest_schema())


def _pattern(validator, pattern: str, instance, schema):
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@cache
def _regex(pattern: str) -> re.Pattern:
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def schema_text() -> str:
    """The editor schema as `tunnelctl schema` prints it and `init` and `schema --write` write it, as
    tunnels.schema.json beside a manifest (in this repository: schemas/editor.schema.json; schemas/tunnels.schema.json
    here is tunnelctl's own, stricter schema, applied after rendering)."""
    return json.dumps(editor_schema(), indent=2) + "\n"


def _resolve(node: dict) -> dict:
    """Merge a node with the local `$ref` it points to, so callers see one flat dict of keywords."""
    while "$ref" in node:
        target = manifest_schema()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        own = {key: value for key, value in node.items() if key != "$ref"}
        properties = {**target.get("properties", {}), **own.get("properties", {})}
        node = {**target, **own, "properties": properties}
    return node


def _child_schema(node: dict, key: str | int, value: Any) -> dict | None:
    node = _resolve(node)
    if isinstance(key, int):
        items = node.get("items")
        return items if isinstance(items, dict) else None
    properties = node.get("properties", {})
    if key in properties:
        return properties[key]
    extra = node.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def walk(data: Any, node: dict | None = None, path: Path = ()) -> Iterator[tuple[Path, dict, Any]]:
    """Yield (path, schema node, value) for every value of `data` that the schema describes."""
    node = _resolve(manifest_schema() if node is None else node)
    yield path, node, data
    children: Iterable[tuple[Any, Any]]
    if isinstance(data, dict):
        children = data.items()
    elif isinstance(data, list):
        children = enumerate(data)
    else:
        return
    for key, value in children:
        child = _child_schema(node, key, value)
        if child is not None:
            yield from walk(value, child, path + (key,))


def is_secret(node: dict) -> bool:
    return bool(node.get("writeOnly"))


def expected_type(node: dict) -> str | None:
    kind = node.get("type")
    return kind if isinstance(kind, str) else None


def field_defaults() -> dict[str, Any]:
    """The `default` of every tunnel setting, as the schema documents it."""
    settings = manifest_schema()["$defs"]["settings"]["properties"]
    return {name: spec["default"] for name, spec in settings.items() if "default" in spec}


@cache
def secret_settings() -> frozenset[str]:
    """The tunnel settings that are secret fields, or hold one (basic_auth's passwords)."""
    def holds_secret(node: Any) -> bool:
        if isinstance(node, dict):
            return is_secret(node) or any(holds_secret(child) for child in node.values())
        return isinstance(node, list) and any(holds_secret(child) for child in node)
    settings = manifest_schema()["$defs"]["settings"]["properties"]
    return frozenset(name for name, node in settings.items() if holds_secret(node))


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{shorten(part)}" if text else shorten(part))
    return text or "(top level)"


SHOWN = 60  # characters of a key or value quoted in a message


def shorten(text: str, limit: int = SHOWN) -> str:
    """A key or value as a message quotes it: a hostile manifest's 500 KB key is not repeated in full."""
    return text if len(text) <= limit else text[:limit] + "…"


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validation_problems(data: Any, sources: Mapping[Path, tuple[str, ...]] | None = None, *,
                        from_file_alone: bool = False) -> list[tuple[Path, str]]:
    """Every schema violation as (path of the offending value, message).

    `from_file_alone`: the document read nothing from the environment, so that having found it valid once is
    remembered (validated.py), and the next run with the same document skips jsonschema altogether.

    `sources` maps each templated path to the environment variables its template read: a message about such a
    value, or about anything holding one, names the variables and the rule, never the value; nor does a message about
    a secret field.
    """
    from . import validated

    digest = validated.document_digest(data, _rules_source()) if from_file_alone else None
    if digest and validated.known(digest):
        return []
    problems = _problems(data, sources or {})
    if digest and not problems:
        validated.remember(digest)
    return problems


def _problems(data: Any, sources: Mapping[Path, tuple[str, ...]]) -> list[tuple[Path, str]]:
    from jsonschema.exceptions import best_match

    errors = list(_validator().iter_errors(data))
    secret_paths = [path for path, node, _ in walk(data) if is_secret(node)] if errors else []
    problems: list[tuple[Path, str]] = []
    adopted: set[Path] = set()  # empty blocks whose fields sit beside them
    for error in errors:
        if error.context:
            error = best_match(error.context)
        path = tuple(error.absolute_path)
        if error.validator in ("unevaluatedProperties", "additionalProperties") and isinstance(error.instance, dict):
            for where, message, owner in _unknown_fields(error, path):
                problems.append((where, message))
                if owner:
                    adopted.add(path + (owner,))
            continue
        problems.append((path, _message(error, path, sources, any(_related(path, secret) for secret in secret_paths))))
    # An empty block whose fields sit beside it is one mistake: the line that says where they belong is enough.
    problems = [(path, message) for path, message in problems if path not in adopted]
    reported = {path for path, _ in problems}
    for path, value in _strings(data):
        if _CONTROL.search(value) and path not in reported:
            problems.append((path, _origin(path, sources) + "must be one line, without line breaks or control "
                                   "characters (a template's trailing newline? end it with -}} or add | trim)"))
    return sorted(problems, key=lambda problem: [str(part) for part in problem[0]])


def _strings(data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    if isinstance(data, str):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, path + (index,))


def _related(path: Path, other: Path) -> bool:
    """Whether one holds the other: a message about either may show the other's value."""
    return path[: len(other)] == other or other[: len(path)] == path


def _origin(path: Path, sources: Mapping[Path, tuple[str, ...]]) -> str:
    """`(from env.A, env.B) ` when templates at `path`, above it or below it read variables; else nothing."""
    names = sorted({name for where, read in sources.items() if _related(path, where) for name in read})
    return f"(from {', '.join('env.' + name for name in names)}) " if names else ""


def _message(error, path: Path, sources: Mapping[Path, tuple[str, ...]], secret: bool) -> str:
    if error.validator == "required":  # names the missing field, never a value
        return error.message
    origin = _origin(path, sources)
    if origin or secret:
        return origin + ("(sensitive) " if secret else "") + _message_without_value(error, path)
    shown = repr(error.instance)
    if len(shown) > SHOWN:
        return f"{shown[:SHOWN]}… " + _message_without_value(error, path)
    if error.validator == "pattern" and "description" in error.schema:
        return f"{shown} is not allowed: {error.schema['description']}"
    return _in_users_terms(error, path) or error.message


def _in_users_terms(error, path: Path) -> str | None:
    """The type mistakes people make by hand: a number or yes/no in quotes, a block left empty because what belongs
    in it is not indented under it."""
    if error.validator != "type":
        return None
    expected, value, name = error.validator_value, error.instance, str(path[-1]) if path else "the value"
    if isinstance(value, str) and expected in ("integer", "number") and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        return f"{name} is a number, but {value!r} is text (in quotes): remove the quotes ({name}: {value.strip()})"
    if isinstance(value, str) and expected == "boolean" and value.lower() in ("true", "false", "yes", "no"):
        return f"{name} is yes or no, but {value!r} is text (in quotes): remove the quotes ({name}: {value.lower()})"
    if value is None and expected in ("object", "array"):
        return (f"{name} is empty: what belongs to it must be indented under it, further in than `{name}:` "
                f"(or remove the line)")
    return None


def _unknown_fields(error, path: Path) -> Iterator[tuple[Path, str, str | None]]:
    """Each unknown field, with the empty field above it that it belongs to, if it does."""
    properties = _resolve(error.schema).get("properties", {})
    known = list(properties)
    # An empty block just above, whose own fields include this one: the line was meant to be indented under it.
    empty = [field for field, value in error.instance.items() if value is None and field in properties]
    for name in error.instance:
        if name in known:
            continue
        owner = next((field for field in empty if name in _resolve(properties[field]).get("properties", {})), None)
        if owner:
            yield path + (name,), f"'{shorten(name)}' belongs to '{owner}' above, which is empty: indent it further " \
                                  f"in than `{owner}:`", owner
            continue
        hint = difflib.get_close_matches(name, known, n=1) if len(name) <= 100 else []
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known fields: {', '.join(sorted(known))})"
        yield path + (name,), f"unknown field '{shorten(name)}'{suggestion}", None


def _message_without_value(error, path: Path) -> str:
    """What rule the value breaks, without quoting the value."""
    rule, expected = error.validator, error.validator_value
    if rule == "type":
        if expected == "object" and isinstance(error.instance, str) and len(path) >= 2 and path[-2] == "basic_auth":
            return "must be a mapping {username: …, password: …}, not text such as 'user:pass'"
        return f"must be of type {expected!r}"
    if rule == "pattern":
        return f"is not allowed: {error.schema['description']}" if "description" in error.schema else \
            f"does not match {expected!r}"
    messages = {"enum": lambda: "must be one of " + ", ".join(map(repr, expected)),
                "const": lambda: f"must be {expected!r}",
                "minimum": lambda: f"must be at least {expected}", "maximum": lambda: f"must be at most {expected}",
                "minLength": lambda: "must not be empty" if expected == 1 else
                f"must have at least {expected} characters",
                "maxLength": lambda: f"must have at most {expected} characters",
                "minItems": lambda: "must not be empty" if expected == 1 else f"must have at least {expected} items"}
    return messages[rule]() if rule in messages else f"fails the schema's '{rule}' rule"


# What an editor may accept where tunnelctl renders a template: a string carrying a Jinja2 marker.
TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{|\{%|\{#",
    "description": "A Jinja2 template, rendered by tunnelctl with the environment as env (a .env beside the "
                   "manifest, --env-file, the process); the field's own rules apply to what it renders.",
}
_RENDERED_TYPES = ("string", "integer", "boolean")  # what a rendered template can become (templates._coerce)


@cache
def editor_schema() -> dict:
    """The schema for editors, which check the text before any rendering.

    Wherever tunnelctl renders a template and then checks the result (every string field, and the integer and
    boolean fields a rendering is converted to), a template is accepted as well; everything else stays as strict:
    unknown keys, a literal port out of range, a literal token with a space.
    """
    schema = _editable(manifest_schema(), value=False)
    return {**schema, "$defs": {**schema["$defs"], "template": TEMPLATE}}


def _editable(node: Any, value: bool) -> Any:
    """`node` with templates allowed in every value it describes; `value`: whether `node` describes a value (not a
    key, and not one branch of a oneOf, whose other branches might then match the same template too)."""
    if not isinstance(node, dict):
        return node
    edited = dict(node)
    for keyword in ("properties", "$defs"):
        if keyword in node:
            edited[keyword] = {name: _editable(child, value=keyword == "properties")
                               for name, child in node[keyword].items()}
    for keyword in ("additionalProperties", "items"):
        if isinstance(node.get(keyword), dict):
            edited[keyword] = _editable(node[keyword], value=True)
    for keyword in ("oneOf", "anyOf", "allOf"):
        if keyword in node:
            edited[keyword] = [_editable(branch, value=False) for branch in node[keyword]]
    if not value or not _renders_into(node):
        return edited
    wrapper = {key: node[key] for key in ("description", "default", "examples", "writeOnly") if key in node}
    return {**wrapper, "anyOf": [edited, {"$ref": "#/$defs/template"}]}


def _renders_into(node: dict) -> bool:
    """Whether a rendered template could be a valid value here: a string, integer or boolean field."""
    if "$ref" in node and "type" not in node:
        return _renders_into(_resolve(node))
    kind = node.get("type")
    if isinstance(kind, str):
        return kind in _RENDERED_TYPES
    if isinstance(kind, list):
        return any(each in _RENDERED_TYPES for each in kind)
    if "enum" in node:
        return any(isinstance(choice, str) for choice in node["enum"])
    return any(_renders_into(branch) for keyword in ("oneOf", "anyOf") for branch in node.get(keyword, ()))
