"""WebSocket connections that end when their caller's credential does, and that share the caller's rate.

The view authenticates a connection in `on_ws_connect` (its `connection_init` payload carries the
credential); these handlers then close it with 4403 at the token's `exp`, after ending its operations,
so a subscription never outlives the token that opened it. API keys and anonymous callers do not expire.

Each operation a connection starts counts in its caller's rate (`LEARNGRAPH_CALLER_RATE_LIMIT`, as an
HTTP request does), and a connection runs at most `LEARNGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION`
operations at once. One over either is answered with an error message for that operation (code
`RATE_LIMITED`, or `LIMIT_EXCEEDED` with `limit` `subscriptionsPerConnection`); the connection stays.

Each operation runs within an upstream allowance of its own (`gateway.server.allowances`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from graphql import GraphQLError, GraphQLFormattedError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage as LegacyErrorMessage
from strawberry.subscriptions.protocols.graphql_ws.types import StartMessage

from gateway.data.context import Context
from gateway.data.fairness import RATE_LIMITED
from gateway.server.allowances import run_within_allowance
from gateway.telemetry.metrics import SUBSCRIPTIONS_OPEN

LIMIT_EXCEEDED = "LIMIT_EXCEEDED"

EXPIRED_CODE = 4403
EXPIRED_REASON = "Credential expired"


class Expiry:
    """One connection's timer: `start` once it is acknowledged, `stop` when it ends."""

    def __init__(self) -> None:
        self.task: asyncio.Task[None] | None = None

    def start(self, expires_at: float | None, close: Callable[[], Awaitable[None]]) -> None:
        if expires_at is not None and self.task is None:
            self.task = asyncio.create_task(self._close_at(expires_at, close))

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    @staticmethod
    async def _close_at(expires_at: float, close: Callable[[], Awaitable[None]]) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await close()


async def refusal(context: Context, running: int, most: int | None) -> GraphQLFormattedError | None:
    """The GraphQL error refusing one more operation on a connection running `running`; None: it may start."""
    if most is not None and running >= most:
        return GraphQLError(
            f"a connection runs at most {most} operations at once "
            "(LEARNGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION): end one first",
            extensions={"code": LIMIT_EXCEEDED, "limit": "subscriptionsPerConnection", "maxValue": most},
        ).formatted
    too_much = await context.services.fairness.admit(context.caller.key, hold=False)
    if too_much is None:
        return None
    extensions = {"code": RATE_LIMITED, "limit": too_much.limit, "retryAfter": too_much.retry_after}
    return GraphQLError(too_much.message, extensions=extensions).formatted


class ExpiringTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the contract's protocol)."""

    expiry: Expiry | None = None

    async def handle(self) -> None:
        self.expiry = Expiry()
        try:
            await super().handle()
        finally:
            await self.expiry.stop()

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.expiry is not None:
            self.expiry.start(self.context.caller.expires_at, self._expire)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Before acknowledgement, or for an id in use, Strawberry closes the connection itself.
        if self.connection_acknowledged and message["id"] not in self.operations:
            error = await refusal(self.context, len(self.operations), self.max_subscriptions_per_connection)
            if error is not None:
                await self.send_message(ErrorMessage(id=message["id"], type="error", payload=[error]))
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        def silence() -> None:
            operation.completed = True  # its messages are not sent

        with SUBSCRIPTIONS_OPEN.track_inprogress():
            await run_within_allowance(
                self.context.services.settings, super().run_operation(operation), silence
            )

    async def _expire(self) -> None:
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(EXPIRED_CODE, EXPIRED_REASON)


class ExpiringLegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """The older graphql-ws protocol, which Strawberry also speaks."""

    expiry: Expiry | None = None

    async def handle(self) -> None:
        self.expiry = Expiry()
        try:
            await super().handle()
        finally:
            await self.expiry.stop()

    async def handle_connection_init(self, message: LegacyConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self.expiry is not None:
            self.expiry.start(self.context.caller.expires_at, self._expire)

    async def handle_start(self, message: StartMessage) -> None:
        if self.connection_acknowledged:
            # A start with an id in use replaces that operation: it does not count twice.
            running = len(self.tasks) - (message["id"] in self.tasks)
            error = await refusal(self.context, running, self.max_subscriptions_per_connection)
            if error is not None:
                await self.send_message(LegacyErrorMessage(type="error", id=message["id"], payload=error))
                return
        await super().handle_start(message)

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        with SUBSCRIPTIONS_OPEN.track_inprogress():
            await run_within_allowance(
                self.context.services.settings,
                super().handle_async_results(operation_id, query, operation_name, variables),
            )

    async def _expire(self) -> None:
        for operation_id in list(self.tasks):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(EXPIRED_CODE, EXPIRED_REASON)
