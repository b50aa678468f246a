"""Every GraphQL operation runs within an allowance (`gateway.upstreams.allowance`): the upstream
budget (`LEARNGRAPH_MAX_UPSTREAM_REQUESTS`) and deadline (`LEARNGRAPH_REQUEST_DEADLINE_SECONDS`) of the
settings, and an end to its upstream work when its caller leaves.

    Route("/graphql", PerRequestAllowance(app), methods=["GET", "POST"])    # HTTP: both paths
    await run_within_allowance(settings, work, silence)                      # one WebSocket operation

Over HTTP the deadline counts from when the request reaches the route. From the operation's first
wait on an upstream (its body is read by then), a watcher waits on `receive` for `http.disconnect`
(uvicorn sends it when the client closes the connection): the allowance is told, the reads in flight
are cut and no upstream request starts, so the operation winds down at once on its own, answering
nobody. A mutation that has sent a write goes on to the end of its writes first
(`gateway.data.writes`).

Over a WebSocket each operation has one of its own; a subscription's next event gets a fresh one
(`Context.refresh_for_event`). Strawberry cancels an operation the client completes, or whose
connection closes: its upstream reads end with it, unless a mutation of it is writing, which then
finishes its writes, silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import Settings
from gateway.upstreams import allowance as allowances
from gateway.upstreams.allowance import Allowance

# Operations finishing their writes for a caller who left: kept referenced until they end.
_finishing: set[asyncio.Task[None]] = set()


class PerRequestAllowance:
    """Runs each HTTP request to `app` within its allowance, ended when the client disconnects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = getattr(scope["app"].state, "services", None) if "app" in scope else None
        if scope["type"] != "http" or services is None:
            await self.app(scope, receive, send)
            return
        watcher: asyncio.Task[Message] | None = None
        done = False

        def watch() -> None:
            # Called when the operation first waits on an upstream (its body is read by then): an
            # answer that needs no upstream costs no task. A client already gone is heard at once.
            nonlocal watcher
            watcher = asyncio.ensure_future(receive())
            watcher.add_done_callback(heard)

        def heard(task: asyncio.Task[Message]) -> None:
            if done or task.cancelled() or task.exception() is not None:
                return
            if task.result()["type"] == "http.disconnect":
                allowance.leave()

        async def receiving() -> Message:
            if watcher is not None:
                return await asyncio.shield(watcher)
            message = await receive()
            if message["type"] == "http.disconnect":
                allowance.leave()
            return message

        settings: Settings = services.settings
        allowance = Allowance(settings.max_upstream_requests, settings.request_deadline_seconds, watch=watch)
        token = allowances.apply(allowance)
        try:
            await self.app(scope, receiving, send)
        finally:
            done = True  # a disconnect from now on is the answer's own end
            allowances.release(token)
            if watcher is not None:
                watcher.cancel()


async def run_within_allowance(
    settings: Settings, work: Coroutine[Any, Any, None], silence: Callable[[], None] = lambda: None
) -> None:
    """`work` (one WebSocket operation) in a task of its own, within a fresh allowance. When this is
    cancelled, `work` is too, unless a mutation of it is writing: then `silence()` stops its answers
    and it goes on to the end of its writes."""
    allowance = Allowance(settings.max_upstream_requests, settings.request_deadline_seconds)

    async def within() -> None:
        with allowance.applied():
            await work

    inner = asyncio.create_task(within())
    try:
        await asyncio.shield(inner)
    except asyncio.CancelledError:
        allowance.leave()
        _finishing.add(inner)
        inner.add_done_callback(_forget)
        if allowance.writing:
            silence()
        else:
            inner.cancel()
        raise


def _forget(task: asyncio.Task[None]) -> None:
    _finishing.discard(task)
    if not task.cancelled():
        task.exception()  # nobody waits for it any more: retrieved, not reported as lost
