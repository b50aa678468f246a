"""Idempotency keys: a repeated write within the window answers the first result, never writes twice.

    payload = await store.run("scheduleLessons", key, fingerprint, lambda: do_the_write())

Concurrent duplicates wait on the first attempt instead of racing it. A key reused with a different
input is refused (`IdempotencyKeyReused`) rather than silently answering for another request. An
attempt that raises is forgotten, so the key can be tried again; an answer (even one reporting an
upstream refusal or an unknown outcome) is kept for the whole window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cachetools import TTLCache

T = TypeVar("T")


class IdempotencyKeyReused(ValueError):
    code = "IDEMPOTENCY_KEY_REUSED"


@dataclass
class _Attempt:
    fingerprint: str
    task: asyncio.Task[Any]


class IdempotencyStore:
    def __init__(self, window_seconds: float, max_entries: int = 100_000) -> None:
        self._attempts: TTLCache[tuple[str, str, str], _Attempt] | None = (
            TTLCache(maxsize=max_entries, ttl=window_seconds) if window_seconds > 0 else None
        )
        self.replays = 0

    async def run(
        self,
        operation: str,
        key: str | None,
        fingerprint: str,
        work: Callable[[], Awaitable[T]],
        *,
        caller: str = "",
    ) -> T:
        """`caller` scopes the key: one caller's key never answers another's request."""
        if key is None or self._attempts is None:
            return await work()
        slot = (caller, operation, key)
        attempt = self._attempts.get(slot)
        if attempt is not None:
            if attempt.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"idempotencyKey {key!r} was already used for a different {operation} input"
                )
            self.replays += 1
        else:
            # Its own task: a write once started finishes even if the client that asked goes away.
            attempt = _Attempt(fingerprint, asyncio.ensure_future(work()))
            attempt.task.add_done_callback(lambda task: self._forget_failed(slot, task))
            self._attempts[slot] = attempt
        result: T = await asyncio.shield(attempt.task)
        return result

    def _forget_failed(self, slot: tuple[str, str, str], task: asyncio.Task[Any]) -> None:
        if (task.cancelled() or task.exception() is not None) and self._attempts is not None:
            current = self._attempts.get(slot)
            if current is not None and current.task is task:
                del self._attempts[slot]
