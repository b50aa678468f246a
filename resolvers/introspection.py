"""Introspection as LEARNGRAPH_INTROSPECTION allows it: with it off, `__schema` and `__type`
fail validation (graphql-core's NoSchemaIntrospectionCustomRule) on every way in, HTTP or
WebSocket; `__typename` still answers. The setting is read from the operation's context: one
without a gateway Context (its settings unknown) is refused too. The SDL (`export-schema`) is
printed from the schema itself, not by introspection."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from gateway.data.context import Context


class IntrospectionDisabled(GraphQLError):
    """A validation error naming an introspection field: the HTTP answer is a 400."""


class NoIntrospection(NoSchemaIntrospectionCustomRule):
    """graphql-core's rule, its errors marked as IntrospectionDisabled."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(IntrospectionDisabled(error.message, error.nodes))


class IntrospectionSwitch(SchemaExtension):
    """Adds NoIntrospection to an operation's validation rules unless the settings of its context's
    services allow introspection (before validation, so ValidationCache keys its answer by those
    rules too)."""

    def on_operation(self) -> Iterator[None]:
        execution_context = self.execution_context
        context = execution_context.context
        if not (isinstance(context, Context) and context.services.settings.introspection):
            execution_context.validation_rules = (*execution_context.validation_rules, NoIntrospection)
        yield
