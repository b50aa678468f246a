"""WebSocket connections that end when their caller's credential does.

The view authenticates a connection in `on_ws_connect` (its `connection_init` payload carries the
credential); these handlers then close it with 4403 at the token's `exp`, after ending its operations,
so a subscription never outlives the token that opened it. API keys and anonymous callers do not expire.
Each operation runs within an upstream allowance of its own (`gateway.server.allowances`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import (
    ConnectionInitMessage as LegacyConnectionInitMessage,
)

from gateway.data.context import Context
from gateway.server.allowances import run_within_allowance

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

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        def silence() -> None:
            operation.completed = True  # its messages are not sent

        await run_within_allowance(self.context.services.settings, super().run_operation(operation), silence)

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

    async def handle_async_results(
        self,
        operation_id: str,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
    ) -> None:
        await run_within_allowance(
            self.context.services.settings,
            super().handle_async_results(operation_id, query, operation_name, variables),
        )

    async def _expire(self) -> None:
        for operation_id in list(self.tasks):
            await self.cleanup_operation(operation_id)
        await self.websocket.close(EXPIRED_CODE, EXPIRED_REASON)
