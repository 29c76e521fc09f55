"""YAML to plain data, remembering where every value stands, and refusing what PyYAML lets through silently."""

from __future__ import annotations

from typing import Any

import yaml

from .schema import Path

# An alias may be expanded many times; past this many values a manifest is an expansion bomb, not a tunnel list.
MAX_VALUES = 200_000
# Far deeper than any manifest needs, and far from Python's recursion limit.
MAX_DEPTH = 64


# libyaml's parser is several times faster than PyYAML's pure-Python one; both give the same nodes and marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlProblem(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def parse(text: str) -> tuple[Any, dict[Path, tuple[int, int]], list[YamlProblem]]:
    """Return the data, a map path → (line, column), both 1-based, and the duplicate or non-string keys found.

    Raises YamlProblem for what makes the whole document unreadable.
    """
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as error:  # raised while the loader looks at the text's first characters
        raise _unreadable(text, error) from None
    try:
        root = loader.get_single_node()
        positions: dict[Path, tuple[int, int]] = {}
        if root is None:
            return None, positions, []
        builder = _Builder(loader, positions)
        return builder.build(root, (), root.start_mark), positions, builder.key_problems
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(line, column, f"invalid YAML: {error.problem or error.context}") from None
    except yaml.reader.ReaderError as error:
        raise _unreadable(text, error) from None
    except yaml.YAMLError as error:
        raise YamlProblem(1, 1, f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def _unreadable(text: str, error: yaml.reader.ReaderError) -> YamlProblem:
    before = text[: error.position]
    line = before.count("\n") + 1
    column = error.position - (before.rfind("\n") + 1) + 1
    return YamlProblem(line, column, f"invalid YAML: character {error.character:#06x} is not allowed in YAML text")


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, positions: dict[Path, tuple[int, int]]):
        self.loader = loader
        self.positions = positions
        self.count = 0
        self.open_nodes: list[yaml.Node] = []
        self.key_problems: list[YamlProblem] = []

    def build(self, node: yaml.Node, path: Path, mark) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise YamlProblem(mark.line + 1, mark.column + 1,
                              f"the manifest expands to more than {MAX_VALUES} values (an alias bomb?)")
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            return self.loader.construct_object(node, deep=True)
        if any(node is open_node for open_node in self.open_nodes):
            raise YamlProblem(mark.line + 1, mark.column + 1, "an alias refers to a value that contains it")
        if len(self.open_nodes) >= MAX_DEPTH:
            raise YamlProblem(mark.line + 1, mark.column + 1, f"values are nested more than {MAX_DEPTH} levels deep")
        self.open_nodes.append(node)
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, path + (index,), item.start_mark) for index, item in enumerate(node.value)]
        finally:
            self.open_nodes.pop()

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict:
        own_entries = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys as PyYAML itself would
        merged_entries = len(node.value) - own_entries
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            mark = key_node.start_mark
            key = self.loader.construct_object(key_node, deep=True) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.key_problems.append(YamlProblem(mark.line + 1, mark.column + 1,
                                                     f"keys must be strings, not {key_node.value!r}: quote it"))
                continue
            if index < merged_entries:  # merged keys are defaults the mapping's own keys may override
                result[key] = self.build(value_node, path + (key,), mark)
                continue
            if key in first_seen:
                self.key_problems.append(YamlProblem(
                    mark.line + 1, mark.column + 1,
                    f"duplicate key '{key}' (first defined on line {first_seen[key]}): keep one"))
                continue
            first_seen[key] = mark.line + 1
            result[key] = self.build(value_node, path + (key,), mark)
        return result
