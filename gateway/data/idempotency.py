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

`IdempotencyStore` is the seam: `InProcessIdempotencyStore` keeps outcomes in this process's memory;
`SharedIdempotencyStore` claims each key where every replica looks (Redis:
`gateway.data.shared.idempotency`): the first replica to claim it writes, the others wait for its
outcome (stored as JSON by `codec`). A repeat of an open outcome claims the key again, handed the
stored outcome, so the settling attempt runs on one replica only. While the shared keys cannot be
reached a keyed write is refused (`IdempotencyUnavailable`) rather than risk a second write; a settled
outcome this process has answered itself is still answered from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from cachetools import TTLCache

T = TypeVar("T")
log = logging.getLogger("gateway.data.idempotency")

# A claim lives this long unless the replica that holds it renews it (every third of it, while its
# write runs): a replica that dies mid-write frees its keys within this time.
LEASE_SECONDS = 30.0
# How often a replica waiting for another's answer looks for it.
POLL_SECONDS = 0.02


class IdempotencyKeyReused(ValueError):
    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyUnavailable(RuntimeError):
    """The shared record of keys cannot be reached or read: nothing was sent upstream."""

    code = "IDEMPOTENCY_UNAVAILABLE"


@dataclass(frozen=True)
class Claimed:
    """This process holds the key: it writes, then `finish`es (or `release`s after a failure).
    `previous`: the stored (encoded) open outcome this attempt settles, if any."""

    token: str
    previous: str | None = None


@dataclass(frozen=True)
class Taken:
    """Another attempt holds the key: its input's fingerprint, and its answer once it has one."""

    fingerprint: str
    result: str | None = None


class SharedKeys(Protocol):
    """Where replicas claim keys and leave their outcomes. Every method raises IdempotencyUnavailable
    when the store cannot be reached. A key whose stored outcome is open (`finish(settled=False)`) is
    claimed again by the next attempt with the same fingerprint, which is handed that outcome; a
    release after a failed settling attempt puts the open outcome back."""

    async def claim(self, slot: str, fingerprint: str, lease_seconds: float) -> Claimed | Taken: ...

    async def renew(self, slot: str, token: str, lease_seconds: float) -> None: ...

    async def finish(
        self, slot: str, token: str, result: str, window_seconds: float, *, settled: bool = True
    ) -> None: ...

    async def release(self, slot: str, token: str, window_seconds: float = 0.0) -> None: ...

    async def read(self, slot: str) -> Taken | None: ...


class ResultCodec(Protocol):
    """An answer as text another replica (maybe another version) can turn back into the answer."""

    def encode(self, value: Any) -> str: ...

    def decode(self, text: str) -> Any: ...


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


class SharedIdempotencyStore:
    """Outcomes claimed and kept in `shared` keys (every replica's), with this process's memory in front:
    concurrent duplicates here wait on one task, and a settled outcome answered here is answered again
    from memory (also while the shared keys are away)."""

    def __init__(
        self,
        window_seconds: float,
        shared: SharedKeys,
        codec: ResultCodec,
        max_entries: int = 100_000,
    ) -> None:
        self._window = window_seconds
        self._shared = shared
        self._codec = codec
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
        record = self._records.get(slot)
        if record is not None and record.task.done() and _failed(record.task):
            del self._records[slot]
            record = None
        if record is not None:
            _check(record.fingerprint, fingerprint, operation, key)
            if not record.task.done():
                waited: Outcome[T] = await asyncio.shield(record.task)
                return waited.answer
            if record.task.result().settled:
                self.replays += 1
                answered: T = record.task.result().answer
                return answered
        # Its own task: a write once started finishes even if the client that asked goes away.
        record = _Record(
            fingerprint, asyncio.ensure_future(self._run_shared(slot, fingerprint, attempt)), None
        )
        record.task.add_done_callback(_failed)
        self._records[slot] = record
        outcome: Outcome[T] = await asyncio.shield(record.task)
        return outcome.answer

    async def _run_shared(
        self, slot: tuple[str, str, str], fingerprint: str, attempt: Attempt[T]
    ) -> Outcome[T]:
        _caller, operation, key = slot
        name = "\x1f".join(slot)
        replayed = False
        while True:
            claim = await self._shared.claim(name, fingerprint, LEASE_SECONDS)
            if isinstance(claim, Claimed):
                previous: Outcome[T] | None = None
                if claim.previous is not None:
                    try:
                        previous = self._decode(claim.previous)
                    except IdempotencyUnavailable:
                        with contextlib.suppress(IdempotencyUnavailable):
                            await self._shared.release(name, claim.token, self._window)
                        raise
                    self.settlings += 1
                return await self._write(name, claim.token, attempt, previous)
            _check(claim.fingerprint, fingerprint, operation, key)
            taken: Taken | None = claim
            while taken is not None and taken.result is None:
                await asyncio.sleep(POLL_SECONDS)
                taken = await self._shared.read(name)
            if taken is not None:
                _check(taken.fingerprint, fingerprint, operation, key)
                outcome: Outcome[T] = self._decode(taken.result or "")
                if not replayed and claim.result is not None:
                    self.replays += 1
                    replayed = True
                return outcome
            # The first attempt failed (or its replica went away): the key is free to claim again.

    async def _write(
        self, name: str, token: str, attempt: Attempt[T], previous: Outcome[T] | None
    ) -> Outcome[T]:
        renewing = asyncio.ensure_future(self._renew(name, token))
        try:
            outcome = await attempt(previous)
        except BaseException:
            renewing.cancel()
            with contextlib.suppress(IdempotencyUnavailable):
                await self._shared.release(name, token, self._window)
            raise
        renewing.cancel()
        try:
            encoded = self._encode(outcome)
        except TypeError:
            log.exception("an answer cannot be kept as JSON: repeats on other replicas will be refused")
            encoded = ""
        try:
            await self._shared.finish(
                name, token, encoded, self._window, settled=outcome.settled or not encoded
            )
        except IdempotencyUnavailable:
            log.warning(
                "a keyed write was done but its answer could not be kept in Redis: for %.0f s, "
                "a repeat reaching another replica is refused or, after that, written again",
                LEASE_SECONDS,
            )
        return outcome

    async def _renew(self, name: str, token: str) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(IdempotencyUnavailable):
                await self._shared.renew(name, token, LEASE_SECONDS)

    def _encode(self, outcome: Outcome[Any]) -> str:
        return self._codec.encode(
            {
                "answer": outcome.answer,
                "settled": outcome.settled,
                "sent": outcome.sent,
                "since": outcome.since,
            }
        )

    def _decode(self, text: str) -> Outcome[Any]:
        try:
            stored = self._codec.decode(text)
            return Outcome(stored["answer"], bool(stored["settled"]), bool(stored["sent"]), stored["since"])
        except (ValueError, LookupError, TypeError) as exc:
            raise IdempotencyUnavailable(
                "this key's first write was done, but its answer cannot be read by this version of the "
                "gateway: nothing was sent again; query the objects to see the result"
            ) from exc


def _check(stored: str, fingerprint: str, operation: str, key: str) -> None:
    if stored != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotencyKey {key!r} was already used for a different {operation} input"
        )


def _failed(task: asyncio.Task[Any]) -> bool:
    return task.cancelled() or task.exception() is not None
