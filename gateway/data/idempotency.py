"""Idempotency keys: a repeated write within the window answers the first result, never writes twice.

    payload = await store.run("scheduleLessons", key, fingerprint, lambda: do_the_write())

Concurrent duplicates wait on the first attempt instead of racing it. A key reused with a different
input is refused (`IdempotencyKeyReused`) rather than silently answering for another request. An
attempt that raises is forgotten, so the key can be tried again; an answer (even one reporting an
upstream refusal or an unknown outcome) is kept for the whole window.

Alone, the store keeps attempts in this process's memory. With `shared` keys (Redis:
`gateway.data.shared.idempotency`) a key is also claimed where every replica looks: the first
replica to claim it writes, the others wait for its answer (stored as JSON by `codec`). While the
shared keys cannot be reached a keyed write is refused (`IdempotencyUnavailable`) rather than risk
a second write; a repeat this process has answered itself is still answered from memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

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
    """This process holds the key: it writes, then `finish`es (or `release`s after a failure)."""

    token: str


@dataclass(frozen=True)
class Taken:
    """Another attempt holds the key: its input's fingerprint, and its answer once it has one."""

    fingerprint: str
    result: str | None = None


class SharedKeys(Protocol):
    """Where replicas claim keys and leave their answers. Every method raises IdempotencyUnavailable
    when the store cannot be reached."""

    async def claim(self, slot: str, fingerprint: str, lease_seconds: float) -> Claimed | Taken: ...

    async def renew(self, slot: str, token: str, lease_seconds: float) -> None: ...

    async def finish(self, slot: str, token: str, result: str, window_seconds: float) -> None: ...

    async def release(self, slot: str, token: str) -> None: ...

    async def read(self, slot: str) -> Taken | None: ...


class ResultCodec(Protocol):
    """An answer as text another replica (maybe another version) can turn back into the answer."""

    def encode(self, value: Any) -> str: ...

    def decode(self, text: str) -> Any: ...


@dataclass
class _Attempt:
    fingerprint: str
    task: asyncio.Task[Any]


class IdempotencyStore:
    def __init__(
        self,
        window_seconds: float,
        max_entries: int = 100_000,
        *,
        shared: SharedKeys | None = None,
        codec: ResultCodec | None = None,
    ) -> None:
        if shared is not None and codec is None:
            raise ValueError("shared keys need a codec for the answers they keep")
        self._window = window_seconds
        self._attempts: TTLCache[tuple[str, str, str], _Attempt] | None = (
            TTLCache(maxsize=max_entries, ttl=window_seconds) if window_seconds > 0 else None
        )
        self._shared = shared
        self._codec = codec
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
        if attempt is None and self._shared is not None:
            return await self._run_shared(slot, fingerprint, work)
        if attempt is not None:
            _check(attempt.fingerprint, fingerprint, operation, key)
            self.replays += 1
        else:
            # Its own task: a write once started finishes even if the client that asked goes away.
            attempt = self._start(slot, fingerprint, work)
        result: T = await asyncio.shield(attempt.task)
        return result

    def _start(
        self, slot: tuple[str, str, str], fingerprint: str, work: Callable[[], Awaitable[Any]]
    ) -> _Attempt:
        assert self._attempts is not None
        attempt = _Attempt(fingerprint, asyncio.ensure_future(work()))
        attempt.task.add_done_callback(lambda task: self._forget_failed(slot, task))
        self._attempts[slot] = attempt
        return attempt

    def _forget_failed(self, slot: tuple[str, str, str], task: asyncio.Task[Any]) -> None:
        if (task.cancelled() or task.exception() is not None) and self._attempts is not None:
            current = self._attempts.get(slot)
            if current is not None and current.task is task:
                del self._attempts[slot]

    async def _run_shared(
        self, slot: tuple[str, str, str], fingerprint: str, work: Callable[[], Awaitable[T]]
    ) -> T:
        assert self._shared is not None and self._codec is not None
        _caller, operation, key = slot
        name = "\x1f".join(slot)
        replayed = False
        while True:
            claim = await self._shared.claim(name, fingerprint, LEASE_SECONDS)
            if isinstance(claim, Claimed):
                write = functools.partial(self._write, name, claim.token, work)
                attempt = self._start(slot, fingerprint, write)
                result: T = await asyncio.shield(attempt.task)
                return result
            _check(claim.fingerprint, fingerprint, operation, key)
            if not replayed:
                self.replays += 1
                replayed = True
            taken: Taken | None = claim
            while taken is not None and taken.result is None:
                await asyncio.sleep(POLL_SECONDS)
                taken = await self._shared.read(name)
            if taken is not None:
                _check(taken.fingerprint, fingerprint, operation, key)
                return cast(T, self._decode(taken.result or ""))
            # The first attempt failed (or its replica went away): the key is free to claim again.

    async def _write(self, name: str, token: str, work: Callable[[], Awaitable[T]]) -> T:
        assert self._shared is not None and self._codec is not None
        renewing = asyncio.ensure_future(self._renew(name, token))
        try:
            result = await work()
        except BaseException:
            renewing.cancel()
            with contextlib.suppress(IdempotencyUnavailable):
                await self._shared.release(name, token)
            raise
        renewing.cancel()
        try:
            encoded = self._codec.encode(result)
        except TypeError:
            log.exception("an answer cannot be kept as JSON: repeats on other replicas will be refused")
            encoded = ""
        try:
            await self._shared.finish(name, token, encoded, self._window)
        except IdempotencyUnavailable:
            log.warning(
                "a keyed write was done but its answer could not be kept in Redis: for %.0f s, "
                "a repeat reaching another replica is refused or, after that, written again",
                LEASE_SECONDS,
            )
        return result

    async def _renew(self, name: str, token: str) -> None:
        assert self._shared is not None
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            with contextlib.suppress(IdempotencyUnavailable):
                await self._shared.renew(name, token, LEASE_SECONDS)

    def _decode(self, text: str) -> Any:
        assert self._codec is not None
        try:
            return self._codec.decode(text)
        except ValueError as exc:
            raise IdempotencyUnavailable(
                "this key's first write was done, but its answer cannot be read by this version of the "
                "gateway: nothing was sent again; query the objects to see the result"
            ) from exc


def _check(stored: str, fingerprint: str, operation: str, key: str) -> None:
    if stored != fingerprint:
        raise IdempotencyKeyReused(
            f"idempotencyKey {key!r} was already used for a different {operation} input"
        )
