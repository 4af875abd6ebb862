"""broker.yaml as data plus the node tree it came from, so any location can be given a line.

PyYAML's composed nodes carry start marks; a pydantic error location such as
``("ceilings", 0, "approvers")`` is walked down that tree to the nearest node that exists.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Position:
    """1-based, as editors count."""

    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        return cls(mark.line + 1, mark.column + 1)


class YamlSyntaxError(Exception):
    def __init__(self, message: str, position: Position) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    root: yaml.Node | None

    def position(self, loc: Loc, *, at_key: bool = False) -> Position | None:
        """Where ``loc`` is written; the nearest existing ancestor if it is missing.

        ``at_key`` points at the key rather than its value (for unknown or duplicate keys).
        """
        if self.root is None:
            return None
        node = self.root
        for depth, part in enumerate(loc):
            want_key = at_key and depth == len(loc) - 1
            child = _child(node, part, want_key)
            if child is None:
                break
            node = child
        return Position.of(node.start_mark)


def parse_yaml(text: str) -> YamlDocument:
    """Safe loading only (no Python tags). Raises ``YamlSyntaxError`` with a position."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YamlSyntaxError(_describe(exc), Position.of(mark) if mark else Position(1, 1)) from exc
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"YAML syntax error: {exc}", Position(1, 1)) from exc
    finally:
        loader.dispose()
    return YamlDocument(data=data, root=root)


def duplicate_keys(root: yaml.Node | None) -> Iterator[tuple[Loc, Position, str]]:
    """Keys written twice in one mapping: YAML silently keeps the last, hiding the first."""
    for loc, node in _mappings(root, (), set()):
        seen: dict[str, Position] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            here = Position.of(key.start_mark)
            if key.value in seen:
                yield loc + (key.value,), here, f"duplicate key {key.value!r} (first at line {seen[key.value].line})"
            else:
                seen[key.value] = here


def _mappings(node: yaml.Node | None, loc: Loc, visited: set[int]) -> Iterator[tuple[Loc, yaml.MappingNode]]:
    # Aliases make the tree a graph; visiting a node once keeps recursive anchors finite.
    if node is None or id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        yield loc, node
        for key, value in node.value:
            yield from _mappings(value, loc + (getattr(key, "value", "?"),), visited)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _mappings(item, loc + (index,), visited)


def _child(node: yaml.Node, part: str | int, want_key: bool) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        # The last match wins, as it does when YAML builds the data.
        matches = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(part)]
        return (matches[-1][0] if want_key else matches[-1][1]) if matches else None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None


def _describe(exc: yaml.MarkedYAMLError) -> str:
    context = f" ({exc.context})" if exc.context else ""
    return f"YAML syntax error: {exc.problem}{context}"
