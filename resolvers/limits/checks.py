"""The limits a document must keep before it is validated or run, and the verdict on one operation.

    limits = Limits.of(settings)                     # LEARNGRAPH_MAX_TOKENS, _MAX_DEPTH, ... _COST_MODE
    document = limits.parse(query)                   # raises LimitExceeded("tokens") or a syntax error
    analysis = analyse(schema, document, "Dashboard") # measured once per document and operation
    refusal = limits.refusal(analysis, variables)    # None: it may run

An `Analysis` is kept with its document by whoever caches documents (the lean POST path's LRU, the
schema extension's), so an operation seen before costs two comparisons, unless its cost depends on
its variables (`first: $n`), when the estimate is made again for each request's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
)

from gateway.settings import Settings
from resolvers.limits.cost import estimate
from resolvers.limits.errors import CostLimitExceeded, LimitExceeded, Refusal, parse_refusal
from resolvers.limits.shape import Shape, shape_of

log = logging.getLogger("gateway.limits")

PARSED_CACHE_SIZE = 512


@dataclass(frozen=True)
class Analysis:
    """One operation of a document, measured."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    shape: Shape | None  # None: its fragments nest too deeply to measure (refused as depth)
    cost: int | None  # None: it depends on the variables, estimated per request

    @property
    def operation_type(self) -> OperationType:
        return self.operation.operation


def analyse(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None) -> Analysis | None:
    """The operation `operation_name` names (the only one, without a name), measured; None when the
    document holds no such operation (the executor answers why)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        operation = operations[0] if len(operations) == 1 else None
    else:
        operation = next((o for o in operations if o.name and o.name.value == operation_name), None)
    if operation is None:
        return None
    try:
        shape: Shape | None = shape_of(document, operation)
        found = estimate(schema, document, operation)
    except RecursionError:
        # Fragments spread inside each other thousands deep: nothing could validate or run it.
        return Analysis(schema, document, operation, None, None)
    return Analysis(schema, document, operation, shape, None if found.uses_variables else found.cost)


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """`query` parsed, stopping past `max_tokens` tokens (LimitExceeded); other syntax errors as
    graphql-core raises them. Cached by text: only documents that parse are kept."""
    try:
        return parse(query, max_tokens=max_tokens)
    except GraphQLError as error:
        refusal = parse_refusal(error)
        if refusal is not None:
            raise refusal from None
        raise


@dataclass(frozen=True)
class Limits:
    """docs/contract.md §9's request limits, as one value."""

    max_tokens: int = 15_000
    max_depth: int = 15
    max_aliases: int = 30
    max_root_fields: int = 10
    max_cost: int = 1_000
    enforce_cost: bool = True

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return _limits_of(
            settings.max_tokens,
            settings.max_depth,
            settings.max_aliases,
            settings.max_root_fields,
            settings.max_cost,
            settings.cost_mode == "enforce",
        )

    def parse(self, query: str) -> DocumentNode:
        return parse_limited(query, self.max_tokens)

    def refusal(self, analysis: Analysis, variables: Mapping[str, Any] | None = None) -> Refusal | None:
        """Why the operation may not run (None: it may): its shape first, then its cost."""
        return self.shape_refusal(analysis) or self.cost_refusal(analysis, variables)

    def shape_refusal(self, analysis: Analysis) -> LimitExceeded | None:
        shape = analysis.shape
        if shape is None:
            return LimitExceeded("depth", "The document's fragments nest too deeply", self.max_depth)
        if shape.depth > self.max_depth:
            return LimitExceeded(
                "depth",
                f"The operation nests {shape.depth} fields deep, over the limit of {self.max_depth}",
                self.max_depth,
            )
        if shape.aliases > self.max_aliases:
            return LimitExceeded(
                "aliases",
                f"The operation holds {shape.aliases} aliases, over the limit of {self.max_aliases}",
                self.max_aliases,
            )
        if shape.root_fields > self.max_root_fields:
            return LimitExceeded(
                "rootFields",
                f"The operation asks for {shape.root_fields} root fields, over the limit of {self.max_root_fields}",
                self.max_root_fields,
            )
        return None

    def cost_refusal(
        self, analysis: Analysis, variables: Mapping[str, Any] | None
    ) -> CostLimitExceeded | None:
        cost = analysis.cost
        if cost is None:
            cost = estimate(analysis.schema, analysis.document, analysis.operation, variables).cost
        if cost <= self.max_cost:
            return None
        if not self.enforce_cost:
            log.info(
                "an operation would cost about %d upstream requests, over the limit of %d; run (measure mode)",
                cost,
                self.max_cost,
            )
            return None
        return CostLimitExceeded(cost, self.max_cost)


@functools.lru_cache(maxsize=16)
def _limits_of(
    max_tokens: int, max_depth: int, max_aliases: int, max_root_fields: int, max_cost: int, enforce_cost: bool
) -> Limits:
    return Limits(max_tokens, max_depth, max_aliases, max_root_fields, max_cost, enforce_cost)
