"""The static cost of an operation, in expected upstream requests, as the IBM GraphQL Cost Directive
spec (`@cost`, `@listSize`) reckons it, with the weights of `weights.py`:

- a field costs its `Reads` for every object it is asked of (the multiplier: how many objects the
  lists above it hold), a batched read ceil(objects / batch) in all, a shared read once;
- a list multiplies what is selected inside it by its size: a connection's `first` (its `edges`),
  else an assumed 20 (`@listSize(assumedSize: 20)`); a connection's own fields (`pageInfo`,
  `totalCount`) are asked once per connection;
- fields are collected as graphql-core's executor collects them (fragments spread, `@skip`/`@include`
  applied, the same response key once), so a fragment spread twice in one place costs once, as it runs;
- an abstract type (`node(id:)`'s `Node`) costs what its dearest possible type would;
- introspection (`__schema`, `__type`, `__typename`) is answered by the schema alone: nothing.

    cost = estimate(schema, document, operation, variables)   # .cost, .variables (the names it read)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    Undefined,
    ValueNode,
    VariableNode,
    is_abstract_type,
    value_from_ast_untyped,
)
from graphql.language import ListValueNode, ObjectValueNode

from resolvers.limits.shape import CEILING
from resolvers.limits.weights import ASSUMED_LIST_SIZE, SHARED_READS, reads_of

# Fields visited before the estimate gives up and calls the operation too costly: a legitimate
# operation visits a few hundred; only fragments spread into each other many times over reach this.
MAX_VISITS = 50_000


@dataclass(frozen=True)
class Estimate:
    cost: int
    # The variables the figure holds for: by value (`first: $n`), or True for only whether one is null
    # (`userId: $id`: one person's completions or everyone's).
    variables: dict[str, bool]


class _Arguments:
    def __init__(self, walk: _Walk, field: FieldNode) -> None:
        self.walk = walk
        self.field = field

    def get(self, name: str) -> Any:
        for argument in self.field.arguments or ():
            if argument.name.value == name:
                return self.walk.value(argument.value)
        return None

    def given(self, name: str) -> bool:
        for argument in self.field.arguments or ():
            if argument.name.value == name:
                return self.walk.value(argument.value, presence=True) is not None
        return False


class _TooMuch(Exception):
    pass


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        self.variables = {**defaults, **(variables or {})}
        self.mutations = operation.operation is OperationType.MUTATION
        self.shared: set[str] = set()
        self.variables_read: dict[str, bool] = {}  # name: whether its value (not only its presence) counts
        self.visits = 0

    def value(self, node: ValueNode, *, presence: bool = False) -> Any:
        names: set[str] = set()
        _variables_in(node, names)
        for name in names:
            self.variables_read[name] = self.variables_read.get(name, False) or not presence
        found = value_from_ast_untyped(node, self.variables)
        return None if found is Undefined else found

    def included(self, node: SelectionNode) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name in ("skip", "include"):
                condition = next((a.value for a in directive.arguments or () if a.name.value == "if"), None)
                flag = self.value(condition) is True if condition is not None else False
                if flag is (name == "skip"):
                    return False
        return True

    def collect(
        self,
        type_: GraphQLObjectType,
        selection_sets: list[SelectionSetNode],
        fields: dict[str, list[FieldNode]],
        seen: set[str],
    ) -> None:
        for selection_set in selection_sets:
            for selection in selection_set.selections:
                if not self.included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    fields.setdefault((selection.alias or selection.name).value, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    if self.applies(
                        selection.type_condition.name.value if selection.type_condition else None, type_
                    ):
                        self.collect(type_, [selection.selection_set], fields, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    definition = self.fragments.get(name)
                    if name in seen or definition is None:
                        continue
                    seen.add(name)
                    if self.applies(definition.type_condition.name.value, type_):
                        self.collect(type_, [definition.selection_set], fields, seen)

    def applies(self, condition: str | None, type_: GraphQLObjectType) -> bool:
        if condition is None or condition == type_.name:
            return True
        named = self.schema.get_type(condition)
        return named is not None and is_abstract_type(named) and self.schema.is_sub_type(named, type_)

    def cost(
        self,
        type_: GraphQLNamedType,
        selection_sets: list[SelectionSetNode],
        multiplier: int,
        sized: int | None,
    ) -> int:
        """What the selections on objects of `type_` cost, asked of `multiplier` of them; `sized`: the
        size a connection's `first` gave its lists."""
        if is_abstract_type(type_):
            possible = self.schema.get_possible_types(type_)
            return max((self.cost(t, selection_sets, multiplier, sized) for t in possible), default=0)
        if not isinstance(type_, GraphQLObjectType):
            return 0
        fields: dict[str, list[FieldNode]] = {}
        self.collect(type_, selection_sets, fields, set())
        total = 0
        for nodes in fields.values():
            total = min(CEILING, total + self.field(type_, nodes, multiplier, sized))
        return total

    def field(
        self, parent: GraphQLObjectType, nodes: list[FieldNode], multiplier: int, sized: int | None
    ) -> int:
        self.visits += 1
        if self.visits > MAX_VISITS:
            raise _TooMuch
        node = nodes[0]
        name = node.name.value
        definition = parent.fields.get(name)
        if definition is None or name.startswith("__"):
            return 0  # introspection, or a field validation will refuse
        root_of_mutations = self.mutations and parent is self.schema.mutation_type
        arguments = _Arguments(self, node)
        reads = reads_of(parent.name, name, root_of_mutations, arguments)
        field_type = definition.type
        if isinstance(field_type, GraphQLNonNull):
            field_type = field_type.of_type
        size = 1
        child_sized = None
        if isinstance(field_type, GraphQLList):
            size = sized if sized is not None else ASSUMED_LIST_SIZE
        elif "first" in definition.args:
            child_sized = _size(arguments.get("first"))
        cost = multiplier * (reads.each + reads.per_item * size)
        if reads.batch:
            cost += math.ceil(multiplier / reads.batch)
        for shared in reads.shared:
            if shared not in self.shared:
                self.shared.add(shared)
                cost += SHARED_READS[shared]
        selection_sets = [n.selection_set for n in nodes if n.selection_set is not None]
        if selection_sets:
            inner = _named(field_type)
            cost += self.cost(inner, selection_sets, min(CEILING, multiplier * size), child_sized)
        return min(CEILING, cost)


def _size(first: Any) -> int:
    return first if isinstance(first, int) and first >= 0 else ASSUMED_LIST_SIZE


def _named(type_: Any) -> GraphQLNamedType:
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        type_ = type_.of_type
    named: GraphQLNamedType = type_
    return named


def _variables_in(node: ValueNode, names: set[str]) -> None:
    if isinstance(node, VariableNode):
        names.add(node.name.value)
    elif isinstance(node, ListValueNode):
        for value in node.values:
            _variables_in(value, names)
    elif isinstance(node, ObjectValueNode):
        for field in node.fields:
            _variables_in(field.value, names)


def estimate(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None = None,
) -> Estimate:
    walk = _Walk(schema, document, operation, variables)
    root = schema.get_root_type(operation.operation)
    if root is None:
        return Estimate(0, {})
    try:
        cost = walk.cost(root, [operation.selection_set], 1, None)
    except _TooMuch:
        cost = CEILING
    return Estimate(cost, walk.variables_read)
