"""Per-caller fairness at the door: past their rate or their operations in flight, a caller gets 429.

    Middleware(RequireCaller, authenticator=...), Middleware(CallerFairness)   # right behind the door

Every HTTP request `RequireCaller` named a caller for (GraphQL on the lean path and on Strawberry's
view alike, certificates) is an operation: counted against `LEARNGRAPH_CALLER_RATE_LIMIT` (a minute's
moving window) and held against `LEARNGRAPH_CALLER_CONCURRENCY` until its answer is sent. Beyond
either, the answer is 429 with `Retry-After` and a GraphQL error whose `extensions.code` is
`RATE_LIMITED`, before its body is read. Open paths (probes, webhooks, GraphiQL) carry no caller and
are not counted. A WebSocket's operations are counted in the rate as each starts
(`gateway.server.auth.websocket`); its subscriptions are bounded per connection.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.data.context import Services
from gateway.data.fairness import RATE_LIMITED, TooMuch
from gateway.server.auth.middleware import caller_of


class CallerFairness:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        caller = caller_of(scope) if scope["type"] == "http" else None
        if caller is None:
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        counters, key = services.fairness, caller.key
        refusal = await counters.admit(key)
        if refusal is not None:
            await refuse(send, refusal)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await counters.release(key)


def rate_limited_error(refusal: TooMuch) -> dict[str, object]:
    """The GraphQL error of a refusal, as an HTTP answer and a WebSocket's error message carry it."""
    return {
        "message": refusal.message,
        "extensions": {"code": RATE_LIMITED, "limit": refusal.limit, "retryAfter": refusal.retry_after},
    }


async def refuse(send: Send, refusal: TooMuch) -> None:
    body = orjson.dumps({"errors": [rate_limited_error(refusal)]})
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("latin-1")),
                (b"retry-after", str(refusal.retry_after).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
