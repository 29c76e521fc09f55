"""YAML to plain data, remembering where every value stands, and refusing what PyYAML lets through silently."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import yaml

from .schema import Path, shorten

# Values, counting every expansion of an alias: far above a real manifest (1000 tunnels of 15 settings), and few
# enough that validating them all stays within 2 s (the schema validator takes about 60 µs a value).
MAX_VALUES = 15_000
_TOO_MANY_VALUES = f"the manifest holds more than {MAX_VALUES} values, aliases expanded: split it (or an alias bomb?)"
# Likewise for text: an alias may repeat a long string; the checks after parsing read every copy.
MAX_CHARACTERS = 8 * 1024 * 1024
# Far deeper than any manifest needs, and far from Python's recursion limit.
MAX_DEPTH = 64


# Numbers longer than this are refused before conversion: a 1 MiB base-60 integer (1:2:3:…) takes minutes to build.
MAX_NUMBER_TEXT = 64
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_MERGE = "tag:yaml.org,2002:merge"

# libyaml's parser is several times faster than PyYAML's pure-Python one; both give the same events and marks.
try:
    _PARSERS: tuple[type, ...] = (importlib.import_module("yaml._yaml").CParser,)
except ImportError:  # PyYAML built without libyaml
    _PARSERS = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)


class YamlProblem(Exception):
    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


class _DepthLimitedComposer(yaml.composer.Composer):
    """PyYAML's composer, refusing depth as it goes: libyaml's own composer recurses in C and overflows the stack."""

    peek_event: Callable[[], yaml.Event]  # the parser's, which comes with the loader class

    def compose_node(self, parent, index):
        self.depth = getattr(self, "depth", 0) + 1
        # Keys and values: a document of more nodes than twice MAX_VALUES holds more values, so stop composing now.
        self.nodes = getattr(self, "nodes", 0) + 1
        try:
            if self.depth > MAX_DEPTH or self.nodes > 2 * MAX_VALUES:
                mark = self.peek_event().start_mark
                line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                raise YamlProblem(line, column, f"values are nested more than {MAX_DEPTH} levels deep"
                                  if self.depth > MAX_DEPTH else _TOO_MANY_VALUES)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Loader(*_PARSERS, _DepthLimitedComposer,  # type: ignore[misc]
              yaml.constructor.SafeConstructor, yaml.resolver.Resolver):
    def __init__(self, stream: str):
        if len(_PARSERS) == 1:
            _PARSERS[0].__init__(self, stream)  # type: ignore[misc]
        else:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
        _DepthLimitedComposer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)

    # The C parser class brings a composer of its own, which recurses in C: use the depth-limited one.
    get_single_node = _DepthLimitedComposer.get_single_node
    compose_document = _DepthLimitedComposer.compose_document
    compose_node = _DepthLimitedComposer.compose_node


# What libyaml says when a line's indentation does not fit the block it is in (a key dedented by a space, an item
# under a mapping's key at the key's own column, a key indented into the value above).
_INDENTATION = ("did not find expected '-' indicator", "did not find expected key", "mapping values are not allowed",
                "expected <block end>", "did not find expected <document start>")


def yaml_message(text: str, line: int, problem: str) -> str:
    """libyaml's words, told in the manifest's terms where they are about indentation or tabs."""
    if "tab" in problem or "'\\t'" in problem:
        return "a tab: YAML indents with spaces only; replace the tab with spaces"
    if not any(known in problem for known in _INDENTATION):
        return f"invalid YAML: {problem}"
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    above = next((lines[index] for index in range(line - 2, -1, -1)
                  if lines[index].strip() and not lines[index].lstrip().startswith("#")), "")

    def indent(each: str) -> int:
        return len(each) - len(each.lstrip(" ").lstrip("- ")) if each.lstrip().startswith("- ") else \
            len(each) - len(each.lstrip(" "))

    if here.strip() and above and indent(here) != indent(above) and not above.rstrip().endswith(":"):
        return (f"the indentation is off: this line starts at column {indent(here) + 1}, the line above at column "
                f"{indent(above) + 1}; keys of one block line up (YAML said: {problem})")
    return f"the indentation is off here or on the line above: keys of one block line up (YAML said: {problem})"


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
        raise YamlProblem(line, column, yaml_message(text, line, str(error.problem or error.context))) from None
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
    def __init__(self, loader: _Loader, positions: dict[Path, tuple[int, int]]):
        self.loader = loader
        self.positions = positions
        self.count = 0
        self.characters = 0
        self.open_nodes: list[yaml.Node] = []
        self.key_problems: list[YamlProblem] = []
        self.merges: dict[int, tuple[yaml.Node, list, list]] = {}  # id → (node kept alive, merged, own)
        self.merging: list[yaml.Node] = []

    def build(self, node: yaml.Node, path: Path, mark) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:
            raise YamlProblem(mark.line + 1, mark.column + 1, _TOO_MANY_VALUES)
        self.positions[path] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.ScalarNode):
            self.characters += len(node.value)
            if self.characters > MAX_CHARACTERS:
                raise YamlProblem(mark.line + 1, mark.column + 1, f"the manifest expands to more than "
                                  f"{MAX_CHARACTERS >> 20} MiB of text (an alias bomb?)")
            return self._scalar(node)
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

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        mark = node.start_mark
        if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_TEXT:
            raise YamlProblem(mark.line + 1, mark.column + 1, f"a number of {len(node.value)} characters is too long "
                              f"(at most {MAX_NUMBER_TEXT}); quote it if it is text")
        try:
            return self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError, TypeError) as error:  # `2024-13-45`, `!!int abc`, `!!float x`
            kind = node.tag.rsplit(":", 1)[-1]
            raise YamlProblem(mark.line + 1, mark.column + 1,
                              f"not a valid {kind} ({error}); quote it if it is text") from None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict:
        merged, own = self._entries(node)
        chosen: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in merged:  # a later merged entry wins, as in PyYAML
            key = self._key(key_node)
            if key is not None:
                chosen[key] = (key_node, value_node)
        first_seen: dict[str, int] = {}
        for key_node, value_node in own:
            key = self._key(key_node)
            if key is None:
                continue
            mark = key_node.start_mark
            if key in first_seen:
                self.key_problems.append(YamlProblem(
                    mark.line + 1, mark.column + 1,
                    f"duplicate key '{shorten(key)}' (first defined on line {first_seen[key]}): keep one"))
                continue
            first_seen[key] = mark.line + 1
            chosen[key] = (key_node, value_node)  # the mapping's own keys override merged defaults
        return {key: self.build(value_node, path + (key,), key_node.start_mark)
                for key, (key_node, value_node) in chosen.items()}

    def _key(self, key_node: yaml.Node) -> str | None:
        key = self._scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
        if not isinstance(key, str):
            mark = key_node.start_mark
            shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a mapping or a list"
            self.key_problems.append(YamlProblem(mark.line + 1, mark.column + 1,
                                                 f"keys must be strings, not {str(shown)[:40]!r}: quote it"))
            return None
        return key

    def _entries(self, node: yaml.MappingNode) -> tuple[list, list]:
        """(merged, own) key/value node pairs, `<<` merge keys resolved as PyYAML resolves them.

        PyYAML's flatten_mapping copies every merged entry into every mapping that merges it: eight levels of
        `<<: [*a, *a, …]` make 10⁸ entries. Here each mapping's merged entries are computed once and counted.
        """
        known = self.merges.get(id(node))
        if known is not None:
            return known[1], known[2]
        if node in self.merging:
            mark = node.start_mark
            raise YamlProblem(mark.line + 1, mark.column + 1, "a merge key (<<) refers to a mapping that contains it")
        if len(self.merging) >= MAX_DEPTH:
            mark = node.start_mark
            raise YamlProblem(mark.line + 1, mark.column + 1, f"merge keys (<<) are chained more than {MAX_DEPTH} deep")
        self.merging.append(node)
        try:
            merged, own = [], []
            for key_node, value_node in node.value:
                if key_node.tag != _MERGE:
                    own.append((key_node, value_node))
                    continue
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in reversed(sources) if isinstance(value_node, yaml.SequenceNode) else sources:
                    if not isinstance(source, yaml.MappingNode):
                        mark = source.start_mark
                        raise YamlProblem(mark.line + 1, mark.column + 1,
                                          "a merge key (<<) takes a mapping or a list of mappings")
                    source_merged, source_own = self._entries(source)
                    merged += source_merged
                    merged += source_own
                    if len(merged) > MAX_VALUES:
                        mark = key_node.start_mark
                        raise YamlProblem(mark.line + 1, mark.column + 1,
                                          f"merge keys (<<) expand to more than {MAX_VALUES} entries (a merge bomb?)")
        finally:
            self.merging.pop()
        self.merges[id(node)] = (node, merged, own)
        return merged, own
