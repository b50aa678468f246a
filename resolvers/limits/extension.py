"""The limits on Strawberry's own paths (GET, POST where the lean path steps aside, the WebSocket):
parse within `max_tokens`, then refuse an operation over a limit, before validation and execution.

It stands in for Strawberry's ParserCache and ValidationCache, whose work it does in their place, so
that the checks sit between parsing and validating: graphql-core's validation of a hostile document
(thousands of aliases to compare with each other) costs far more than the checks that refuse it.
The limits are those of the settings of the operation's context (defaults without a gateway one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql import OperationType as AstOperationType
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types.graphql import OperationType

from gateway.data.context import Context
from resolvers.limits.checks import Analysis, Limits, analyse
from resolvers.limits.errors import Refusal

CACHE_SIZE = 512
T = TypeVar("T")


class OperationLimits(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        self.limits = Limits.of(context.services.settings) if isinstance(context, Context) else Limits()
        # Strawberry parses with these itself where the parse below failed, to report why.
        self.execution_context.parse_options["max_tokens"] = self.limits.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        execution_context = self.execution_context
        self.refused: Refusal | None = None
        if execution_context.graphql_document is None and execution_context.query:
            try:
                execution_context.graphql_document = self.limits.parse(execution_context.query)
            except Refusal as refusal:
                # Strawberry would parse it again to say why, for as long as the first parse took: a
                # stand-in operation carries the refusal to validation instead.
                self.refused = refusal
                execution_context.graphql_document = _stand_in(
                    execution_context.operation_name, execution_context.allowed_operations
                )
            except GraphQLError:
                pass  # Strawberry parses it again, and answers the error as it answers any syntax error
        yield

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if self.refused is not None:
            execution_context.pre_execution_errors = [self.refused]
        elif document is not None:
            schema = execution_context.schema._schema
            analysis = _analysed(schema, document, execution_context.query, execution_context.operation_name)
            refusal = (
                self.limits.refusal(analysis, execution_context.variables) if analysis is not None else None
            )
            if refusal is not None:
                execution_context.pre_execution_errors = [refusal]  # not validated: nothing more to say
            else:
                rules = tuple(execution_context.validation_rules)
                execution_context.pre_execution_errors = _validated(
                    schema, document, execution_context.query, rules
                )
        yield


def _stand_in(name: str | None, allowed: Iterable[OperationType]) -> DocumentNode:
    """`{ __typename }` as an operation Strawberry lets through to validation, named as asked."""
    kinds = set(allowed)
    kind = OperationType.QUERY if OperationType.QUERY in kinds or not kinds else next(iter(kinds))
    operation = OperationDefinitionNode(
        operation=AstOperationType(kind.value),
        name=NameNode(value=name) if name is not None else None,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(FieldNode(name=NameNode(value="__typename")),)),
    )
    return DocumentNode(definitions=(operation,))


class _ByText:
    """An LRU of what follows from a query's text (parsing is deterministic): keyed by the text, since
    hashing a document node hashes its whole tree."""

    def __init__(self, maxsize: int = CACHE_SIZE) -> None:
        self.maxsize = maxsize
        self.held: OrderedDict[tuple[object, ...], Any] = OrderedDict()

    def get(self, key: tuple[object, ...], make: Callable[[], T]) -> T:
        try:
            self.held.move_to_end(key)
            found: T = self.held[key]
            return found
        except KeyError:
            pass
        made = self.held[key] = make()
        if len(self.held) > self.maxsize:
            self.held.popitem(last=False)
        return made


_ANALYSES = _ByText()
_VALIDATIONS = _ByText()


def _analysed(
    schema: GraphQLSchema, document: DocumentNode, query: str | None, operation_name: str | None
) -> Analysis | None:
    if query is None:
        return analyse(schema, document, operation_name)
    return _ANALYSES.get((schema, query, operation_name), lambda: analyse(schema, document, operation_name))


def _validated(
    schema: GraphQLSchema,
    document: DocumentNode,
    query: str | None,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    if query is None:
        return validate_document(schema, document, rules)
    return _VALIDATIONS.get((schema, query, rules), lambda: validate_document(schema, document, rules))
