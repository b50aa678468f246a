"""What one request may ask, decided before it runs (docs/contract.md §9): its document's tokens,
depth, aliases and root fields, and its static cost in expected upstream requests.

errors.py     the refusals (HTTP 400): LIMIT_EXCEEDED, COST_LIMIT_EXCEEDED, SUBSCRIPTION_NEEDS_WEBSOCKET
shape.py      depth, aliases and root fields of an operation
weights.py    what each field asks of the upstreams (the cost rules, in code, not in schema.graphql)
cost.py       the static cost estimate (the IBM GraphQL Cost Directive's way of counting)
checks.py     Limits (from the settings), the token-limited parse, an operation's Analysis and verdict
extension.py  OperationLimits: the same checks on Strawberry's own paths (GET, the view, WebSockets)

The lean POST path (gateway/server/graphql_http.py) keeps each document's Analysis with it and makes
the same checks; the body's size is checked before any of this, by gateway/server/body_limit.py.
"""

from resolvers.limits.checks import Analysis, Limits, analyse, parse_limited
from resolvers.limits.errors import (
    CostLimitExceeded,
    LimitExceeded,
    Refusal,
    SubscriptionNeedsWebSocket,
    parse_refusal,
)
from resolvers.limits.extension import OperationLimits

__all__ = [
    "Analysis",
    "CostLimitExceeded",
    "LimitExceeded",
    "Limits",
    "OperationLimits",
    "Refusal",
    "SubscriptionNeedsWebSocket",
    "analyse",
    "parse_limited",
    "parse_refusal",
]
