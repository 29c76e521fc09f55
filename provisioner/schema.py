"""The manifest's JSON Schema: loading it, walking it alongside the data, and validating the data against it."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

Path = tuple[str | int, ...]


# The editor schema's file name beside a manifest; the modeline names it relatively, so it works on every clone.
SCHEMA_FILE = "tunnels.schema.json"
MODELINE = f"# yaml-language-server: $schema=./{SCHEMA_FILE}"


@cache
def manifest_schema() -> dict:
    text = resources.files("provisioner.schemas").joinpath("tunnels.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


@cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(manifest_schema())


def schema_text() -> str:
    """The schema as published for editors (`tunnelctl schema`, schemas/tunnels.schema.json)."""
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


def format_path(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


_UNEXPECTED = re.compile(r"\('(.+)' (?:was|were) unexpected\)")


def validation_problems(data: Any) -> list[tuple[Path, str]]:
    """Every schema violation as (path of the offending value, message), secrets never quoted."""
    from jsonschema.exceptions import best_match

    errors = list(_validator().iter_errors(data))
    if not errors:
        return []
    secret_paths = {path for path, node, _ in walk(data) if is_secret(node)}
    problems: list[tuple[Path, str]] = []
    for error in errors:
        if error.context:
            error = best_match(error.context)
        path = tuple(error.absolute_path)
        if error.validator in ("unevaluatedProperties", "additionalProperties") and isinstance(error.instance, dict):
            problems.extend(_unknown_fields(error, path))
            continue
        if any(path[: len(secret)] == secret for secret in secret_paths):
            problems.append((path, _message_without_value(error)))
        elif error.validator == "pattern" and "description" in error.schema:
            problems.append((path, f"{error.instance!r} is not allowed: {error.schema['description']}"))
        else:
            problems.append((path, error.message))
    return sorted(problems, key=lambda problem: [str(part) for part in problem[0]])


def _unknown_fields(error, path: Path) -> Iterator[tuple[Path, str]]:
    match = _UNEXPECTED.search(error.message)
    names = re.findall(r"'([^']*)'", match.group(0)) if match else []
    known = list(_resolve(error.schema).get("properties", {}))
    for name in names:
        hint = difflib.get_close_matches(name, known, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (known fields: {', '.join(sorted(known))})"
        yield path + (name,), f"unknown field '{name}'{suggestion}"


def _message_without_value(error) -> str:
    if error.validator == "type":
        return f"must be of type {error.validator_value!r}"
    if error.validator == "pattern":
        return f"(sensitive) does not match {error.validator_value!r}"
    return f"invalid value (sensitive): fails '{error.validator}'"


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
