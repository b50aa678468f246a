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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
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
COSTS_KEPT = 256


@dataclass(frozen=True)
class Analysis:
    """One operation of a document, measured."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    shape: Shape | None  # None: its fragments nest too deeply to measure (refused as depth)
    cost: int | None  # None: it depends on the variables, estimated per request
    variables: tuple[tuple[str, bool], ...] = ()  # those the cost depends on: (name, by its value)
    # Estimates by those variables' values, for a cost that depends on them (a few hundred at most).
    costs: dict[bytes, int] = field(default_factory=dict, compare=False, repr=False)

    def cost_for(self, variables: Mapping[str, Any] | None) -> int:
        if self.cost is not None:
            return self.cost
        given = variables or {}
        values = [
            given.get(name) if by_value else given.get(name) is None for name, by_value in self.variables
        ]
        try:
            key = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # an integer past 64 bits (a WebSocket's JSON): not worth keeping
            return estimate(self.schema, self.document, self.operation, variables).cost
        found = self.costs.get(key)
        if found is None:
            found = estimate(self.schema, self.document, self.operation, variables).cost
            if len(self.costs) >= COSTS_KEPT:
                self.costs.clear()
            self.costs[key] = found
        return found

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
    if found.variables:
        return Analysis(schema, document, operation, shape, None, tuple(sorted(found.variables.items())))
    return Analysis(schema, document, operation, shape, found.cost)


# GraphQL's tokens as graphql-core's `max_tokens` counts them (comments too; commas and white space are
# not tokens). On a valid document the count is exact; an invalid one is refused either way.
_TOKEN = re.compile(
    r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:[^"\\\n\r]|\\.)*"|#[^\n\r]*|\.\.\.|[!$&():=@\[\]{}|]'
    r"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[_A-Za-z][_0-9A-Za-z]*"
)


def more_tokens_than(query: str, max_tokens: int) -> bool:
    """Whether `query` holds more than `max_tokens` tokens, read at the regex engine's speed: the lexer
    takes about 4 µs a token, so a document of 15,000 would cost 60 ms before it could be refused."""
    if len(query) <= max_tokens:
        return False  # a token is a character at least
    return any(count > max_tokens for count, _ in enumerate(_TOKEN.finditer(query), start=1))


def tokens_refusal(max_tokens: int) -> LimitExceeded:
    return LimitExceeded("tokens", f"The document holds more than {max_tokens} tokens", max_tokens)


@functools.lru_cache(maxsize=PARSED_CACHE_SIZE)
def parse_limited(query: str, max_tokens: int) -> DocumentNode:
    """`query` parsed, stopping past `max_tokens` tokens (LimitExceeded); other syntax errors as
    graphql-core raises them. Cached by text: only documents that parse are kept."""
    if more_tokens_than(query, max_tokens):
        raise tokens_refusal(max_tokens)
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
        cost = analysis.cost_for(variables)
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
