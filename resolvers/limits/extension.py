"""The limits on Strawberry's own paths (GET, POST where the lean path steps aside, the WebSocket):
parse within `max_tokens`, then refuse an operation over a limit, before validation and execution.

It stands in for Strawberry's ParserCache and ValidationCache, whose work it does in their place, so
that the checks sit between parsing and validating: graphql-core's validation of a hostile document
(thousands of aliases to compare with each other) costs far more than the checks that refuse it.
The limits are those of the settings of the operation's context (defaults without a gateway one).
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from gateway.data.context import Context
from resolvers.limits.checks import Analysis, Limits, analyse

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
        if execution_context.graphql_document is None and execution_context.query:
            # On an error Strawberry parses it again, and answers the error as it answers any syntax error.
            with contextlib.suppress(GraphQLError):
                execution_context.graphql_document = self.limits.parse(execution_context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        execution_context = self.execution_context
        document = execution_context.graphql_document
        if document is not None:
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
