"""Idempotency keys: a repeat never writes twice, and settles what the first attempt left open.

    answer = await store.run("scheduleLessons", key, fingerprint, attempt, caller=caller.key)
    # attempt(previous) -> Outcome(answer, settled, sent); `previous` is None or an unsettled Outcome

An attempt's `Outcome` says whether it is settled: every part of it final, either done or refused
for a reason that stays true (`ALREADY_SCHEDULED`). A repeat of a settled outcome within the window
answers it again and runs nothing. A repeat of an unsettled one (an upstream was down, a write timed
out, one was not read back) runs a new attempt, handed the previous outcome, so that it can ask the
upstream what it holds and write only what is missing (`resolvers/mutations/running.py`); its outcome
replaces the previous one. Concurrent duplicates wait on the attempt running instead of racing it.
A key reused with a different input is refused (`IdempotencyKeyReused`) rather than silently answering
for another request. An attempt that raises is forgotten (the outcome before it, if any, stands), so
the key can be tried again.

`IdempotencyStore` is the seam: this process's memory here; one that replicas share (Redis, with the
outcome serialised and a lock per key) plugs in the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cachetools import TTLCache

T = TypeVar("T")


class IdempotencyKeyReused(ValueError):
    code = "IDEMPOTENCY_KEY_REUSED"


@dataclass(frozen=True)
class Outcome(Generic[T]):
    answer: T
    settled: bool  # nothing left open: a repeat answers it again
    sent: bool = False  # a write went upstream (so, unsettled, it may have happened)
    since: datetime | None = None  # when the first attempt of those leading here began


Attempt = Callable[["Outcome[T] | None"], Awaitable[Outcome[T]]]


class IdempotencyStore(Protocol):
    replays: int  # repeats answered from a settled outcome
    settlings: int  # repeats that ran again to settle an open one

    async def run(
        self, operation: str, key: str | None, fingerprint: str, attempt: Attempt[T], *, caller: str = ""
    ) -> T:
        """The answer for `key`: `attempt(None)`'s the first time; then the settled outcome's, or a
        new `attempt(previous)`'s. `caller` scopes the key: one caller's key never answers another's."""
        ...


@dataclass
class _Record:
    fingerprint: str
    task: asyncio.Task[Outcome[Any]]
    before: _Record | None  # the unsettled outcome this attempt settles


class InProcessIdempotencyStore:
    """Outcomes in this process's memory, for the window (counted from the latest attempt)."""

    def __init__(self, window_seconds: float, max_entries: int = 100_000) -> None:
        self._records: TTLCache[tuple[str, str, str], _Record] | None = (
            TTLCache(maxsize=max_entries, ttl=window_seconds) if window_seconds > 0 else None
        )
        self.replays = 0
        self.settlings = 0

    async def run(
        self, operation: str, key: str | None, fingerprint: str, attempt: Attempt[T], *, caller: str = ""
    ) -> T:
        if key is None or self._records is None:
            return (await attempt(None)).answer
        slot = (caller, operation, key)
        record = self._current(slot)
        if record is not None and record.fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"idempotencyKey {key!r} was already used for a different {operation} input"
            )
        if record is None or (record.task.done() and not record.task.result().settled):
            previous: Outcome[T] | None = None
            if record is not None:
                previous, record = record.task.result(), replace(record, before=None)
                self.settlings += 1
            # Its own task: a write once started finishes even if the client that asked goes away.
            record = _Record(fingerprint, asyncio.ensure_future(attempt(previous)), record)
            record.task.add_done_callback(_failed)  # a failure is seen (and forgotten by `_current`)
            self._records[slot] = record
        elif record.task.done():
            self.replays += 1
        outcome: Outcome[T] = await asyncio.shield(record.task)
        return outcome.answer

    def _current(self, slot: tuple[str, str, str]) -> _Record | None:
        """The slot's record; one whose attempt raised gives way to the outcome before it, if any."""
        assert self._records is not None
        record = self._records.get(slot)
        while record is not None and record.task.done() and _failed(record.task):
            record = record.before
            if record is None:
                del self._records[slot]
            else:
                self._records[slot] = record
        return record


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.cancelled() or task.exception() is not None
