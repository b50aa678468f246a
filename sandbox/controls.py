"""Knobs every sandbox upstream shares: credentials, fixed latency, injected faults, a request log.

    controls = SandboxControls(credential="sandbox-damstra-key")
    app = create_damstra_app(world, controls)
    controls.faults.fail_next = 2          # the next two requests answer 500
    controls.log.count(method="GET", path_prefix="/user")
    controls.rate_limit_next = 2           # a vendor's own switch: iScout answers `rate_limit_exceeded` twice
    controls.rate_limit_per_second = 10    # iScout's request limit, enforced (off by default)

`ControlsMiddleware` applies the shared ones around a vendor app, so the vendor apps only speak their
API; each vendor app reads its own switches.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class LoggedRequest(NamedTuple):
    # A tuple of strings: the collector stops tracking it, so a long run's log costs no GC time.
    method: str
    path: str
    query: str
    body: bytes


@dataclass
class RequestLog:
    """Every request an upstream received, for tests and benchmarks to count."""

    entries: list[LoggedRequest] = field(default_factory=list)

    def clear(self) -> None:
        self.entries.clear()

    def count(self, method: str | None = None, path_prefix: str | None = None) -> int:
        return sum(
            1
            for e in self.entries
            if (method is None or e.method == method)
            and (path_prefix is None or e.path.startswith(path_prefix))
        )

    def paths(self) -> list[str]:
        return [f"{e.method} {e.path}{'?' + e.query if e.query else ''}" for e in self.entries]


@dataclass
class Faults:
    """Injected failures. Rates draw from a seeded generator, so a run repeats itself."""

    latency_ms: float = 0.0
    error_rate: float = 0.0
    timeout_rate: float = 0.0
    hang_seconds: float = 30.0
    fail_next: int = 0  # answer the next N requests with an error, then behave
    hang_next: int = 0  # hang on the next N requests
    # Carry out the next N writes (non-GET requests), then hold the answer back for `hang_seconds`:
    # the caller times out on a write that happened (the "outcome unknown" case).
    slow_next_write: int = 0
    error_status: int = 500
    seed: int = 1
    _rng: random.Random = field(default_factory=lambda: random.Random(1), repr=False)

    def reset(self) -> None:
        self.latency_ms = self.error_rate = self.timeout_rate = 0.0
        self.fail_next = self.hang_next = self.slow_next_write = 0
        self.error_status = 500
        self._rng.seed(self.seed)

    def decide(self) -> str | None:
        """'hang', 'error' or None for the request arriving now."""
        if self.hang_next > 0:
            self.hang_next -= 1
            return "hang"
        if self.fail_next > 0:
            self.fail_next -= 1
            return "error"
        if self.timeout_rate and self._rng.random() < self.timeout_rate:
            return "hang"
        if self.error_rate and self._rng.random() < self.error_rate:
            return "error"
        return None


ErrorBody = Callable[[int], tuple[bytes, str]]
"""A vendor's own body for an injected failure: status -> (body, content type)."""


@dataclass
class SandboxControls:
    credential: str
    faults: Faults = field(default_factory=Faults)
    log: RequestLog = field(default_factory=RequestLog)
    # DAMSTRA: post the seed's webhook events to this URL, with this secret in their header.
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # DAMSTRA: the sandbox clock stopped at this instant (else it runs on from the world's anchor).
    pinned_now: datetime | None = None
    # DAMSTRA: the one verb Update User takes (`POST /user/{userId}`, or PUT); the other answers 405.
    update_user_method: str = "POST"
    # LEARNINGLOGIN: the one form the unassign-by-ids takes: `json-list` (`ids=[1,2]`) or `brackets`
    # (`ids[]=1&ids[]=2`); the other is refused with a 400, as Rails refuses a parameter it cannot read.
    unassign_ids_form: str = "json-list"
    # TRAINING_RECORDS: list pages as a bare JSON array instead of DRF's {count, next, ...}.
    bare_array: bool = False
    # ISCOUT: answer the next N calls `rate_limit_exceeded`, then each of these identifiers in turn.
    rate_limit_next: int = 0
    # ISCOUT: its document says a token may exceed "its request limit" but not what the limit is; set,
    # a call beyond this many answered within the last second is `rate_limit_exceeded` (0: no limit).
    rate_limit_per_second: float = 0.0
    error_next: list[str] = field(default_factory=list)


class ControlsMiddleware:
    """Logs each request, waits the configured latency, then injects a fault or passes it on."""

    def __init__(self, app: ASGIApp, controls: SandboxControls, error_body: ErrorBody) -> None:
        self.app = app
        self.controls = controls
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = (
            scope.get("root_path", "")
            and scope["path"].removeprefix(scope.get("root_path", ""))
            or scope["path"]
        )
        self.controls.log.entries.append(
            LoggedRequest(scope["method"], path, scope.get("query_string", b"").decode("latin-1"), body)
        )
        faults = self.controls.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        decision = faults.decide()
        if decision == "hang":
            await asyncio.sleep(faults.hang_seconds)
        if decision is not None:
            content, content_type = self.error_body(faults.error_status)
            await send(
                {
                    "type": "http.response.start",
                    "status": faults.error_status if decision == "error" else 504,
                    "headers": [
                        (b"content-type", content_type.encode()),
                        (b"content-length", str(len(content)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": content})
            return

        if scope["method"] != "GET" and faults.slow_next_write > 0:
            faults.slow_next_write -= 1
            send = _held_back(send, faults.hang_seconds)

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _held_back(send: Send, seconds: float) -> Send:
    """A `send` that waits before the response starts: the work is done, the answer is late."""

    async def late_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(seconds)
        await send(message)

    return late_send
