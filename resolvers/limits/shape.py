"""The shape of one operation, measured on its document before validation (which may cost far more
on a hostile document than these walks do):

    depth       the longest chain of nested fields: `{ user { groups { name } } }` is 3
    aliases     aliased fields, counted each time a fragment holding them is spread
    rootFields  the operation's top-level fields (response keys, fragments expanded)

Each fragment is measured once and its numbers reused wherever it is spread, so a document whose
fragments spread each other many times over costs no more to measure than its own length; a
fragment that spreads itself (invalid, refused by validation later) counts as empty where it recurs.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

# Counts past this are all the same refusal; kept small enough for any JSON reader.
CEILING = 10**9


@dataclass(frozen=True)
class Shape:
    depth: int
    aliases: int
    root_fields: int


class _Measure:
    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._measured: dict[str, tuple[int, int]] = {}  # fragment name: (depth, aliases)
        self._measuring: set[str] = set()

    def selections(self, selection_set: SelectionSetNode | None) -> tuple[int, int]:
        """(depth, aliases) below and within a selection set."""
        depth = aliases = 0
        if selection_set is None:
            return 0, 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                below, inner = self.selections(selection.selection_set)
                depth = max(depth, 1 + below)
                aliases += inner + (selection.alias is not None)
            elif isinstance(selection, InlineFragmentNode):
                below, inner = self.selections(selection.selection_set)
                depth, aliases = max(depth, below), aliases + inner
            elif isinstance(selection, FragmentSpreadNode):
                below, inner = self.fragment(selection.name.value)
                depth, aliases = max(depth, below), aliases + inner
        return depth, min(aliases, CEILING)

    def fragment(self, name: str) -> tuple[int, int]:
        found = self._measured.get(name)
        if found is not None:
            return found
        definition = self.fragments.get(name)
        if definition is None or name in self._measuring:
            return 0, 0
        self._measuring.add(name)
        found = self.selections(definition.selection_set)
        self._measuring.discard(name)
        self._measured[name] = found
        return found

    def root_keys(self, selection_set: SelectionSetNode, keys: set[str], seen: set[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                keys.add((selection.alias or selection.name).value)
            elif isinstance(selection, InlineFragmentNode):
                self.root_keys(selection.selection_set, keys, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                definition = self.fragments.get(selection.name.value)
                if definition is not None:
                    self.root_keys(definition.selection_set, keys, seen)


def shape_of(document: DocumentNode, operation: OperationDefinitionNode) -> Shape:
    measure = _Measure(document)
    depth, aliases = measure.selections(operation.selection_set)
    keys: set[str] = set()
    measure.root_keys(operation.selection_set, keys, set())
    return Shape(depth=depth, aliases=aliases, root_fields=len(keys))
