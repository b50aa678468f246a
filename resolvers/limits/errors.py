"""The refusals of a request before anything runs: GraphQL errors with a stable `extensions.code`,
answered with HTTP 400 on every HTTP path (docs/contract.md §9).

Refusal                      refused before any resolver ran (HTTP 400)
 ├── LimitExceeded           LIMIT_EXCEEDED, `extensions.limit`: tokens | depth | aliases | rootFields
 ├── CostLimitExceeded       COST_LIMIT_EXCEEDED, `extensions.cost` and `extensions.maxCost`
 └── SubscriptionNeedsWebSocket   SUBSCRIPTION_NEEDS_WEBSOCKET: a subscription sent by POST or GET
"""

from __future__ import annotations

import re

from graphql import GraphQLError


class Refusal(GraphQLError):
    """The request is refused as sent; nothing ran and no upstream was asked."""


class LimitExceeded(Refusal):
    def __init__(self, limit: str, message: str, maximum: int | None) -> None:
        extensions: dict[str, object] = {"code": "LIMIT_EXCEEDED", "limit": limit}
        if maximum is not None:
            extensions["max"] = maximum
        super().__init__(message, extensions=extensions)
        self.limit = limit


class CostLimitExceeded(Refusal):
    def __init__(self, cost: int, max_cost: int) -> None:
        super().__init__(
            f"The operation would cost about {cost} upstream requests, over the limit of {max_cost}: "
            "ask for fewer items (`first`) or fewer nested lists",
            extensions={"code": "COST_LIMIT_EXCEEDED", "cost": cost, "maxCost": max_cost},
        )
        self.cost = cost


class SubscriptionNeedsWebSocket(Refusal):
    def __init__(self) -> None:
        super().__init__(
            "A subscription runs over a WebSocket (the graphql-transport-ws protocol at /graphql), "
            "not a plain HTTP request",
            extensions={"code": "SUBSCRIPTION_NEEDS_WEBSOCKET"},
        )


# What graphql-core's parser says when it stops early: too many tokens (`max_tokens`), or a
# document nested deeper than the interpreter's recursion allows (a few hundred levels).
_TOKENS = re.compile(r"Document contains more than (\d+) tokens")
_NESTING = "Document is nested too deeply"


def parse_refusal(error: GraphQLError) -> Refusal | None:
    """The refusal a parser's error stands for; None for an ordinary syntax error."""
    if isinstance(error, Refusal):
        return error
    tokens = _TOKENS.search(error.message)
    if tokens is not None:
        maximum = int(tokens.group(1))
        return LimitExceeded("tokens", f"The document holds more than {maximum} tokens", maximum)
    if _NESTING in error.message:
        return LimitExceeded("depth", "The document is nested too deeply to parse", None)
    return None
