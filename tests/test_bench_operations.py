"""The bench's operations are valid GraphQL against the schema, with variables that coerce."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.execution.values import get_variable_values

from bench.operations import Operation, build_operations
from resolvers.schema import schema
from sandbox.world import build_world

ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
OPERATIONS = build_operations(build_world(people=50, seed=7, anchor=ANCHOR))


@pytest.mark.parametrize("op", OPERATIONS, ids=[op.key for op in OPERATIONS])
def test_operation_is_valid_against_the_schema(op: Operation) -> None:
    graphql_schema = schema._schema
    if op.mutation_field is not None:
        # The bench skips a mutation the gateway it times lacks; this gateway must have every one.
        mutation = graphql_schema.mutation_type
        assert mutation is not None and op.mutation_field in mutation.fields, (
            f"no {op.mutation_field} mutation"
        )
    document = parse(op.query)
    assert validate(graphql_schema, document) == []
    definition = document.definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    coerced = get_variable_values(graphql_schema, definition.variable_definitions or [], op.variables(0))
    assert not isinstance(coerced, list), coerced  # a list holds the coercion errors
