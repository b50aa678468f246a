"""Idempotency keys in Redis: the `SharedKeys` under `gateway.data.idempotency.IdempotencyStore`.

    store = IdempotencyStore(window, shared=RedisKeys(link), codec=ObjectCodec(...))

A key is one Redis string, `{learngraph}:idem:<digest of caller, operation, key>`, holding JSON:
while the first attempt runs `{"fingerprint", "token"}` (set with SET NX and a lease the attempt
renews), then `{"fingerprint", "result"}` for the idempotency window. Only the holder of the token
may finish or release it (checked in a script). Every failure to reach Redis is
IdempotencyUnavailable, and so is asking while the link knows Redis is away: no waiting on a
connection timeout.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis

from gateway.data.idempotency import Claimed, IdempotencyUnavailable, Taken
from gateway.data.shared.link import FAILURES, PREFIX, RedisLink

T = TypeVar("T")
log = logging.getLogger("gateway.data.shared")

# What the caller reads (the cause, naming hosts, goes to the log only).
UNAVAILABLE = (
    "idempotency keys cannot be checked right now (their shared store is unreachable), so the write "
    "was not sent; try again shortly"
)

# KEYS: the key. ARGV: the token, then for FINISH the stored answer and the window (ms), for RENEW the lease.
FINISH = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local claim = cjson.decode(held)
if claim['token'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], cjson.encode({fingerprint = claim['fingerprint'], result = ARGV[2]}), 'PX', ARGV[3])
return 1
"""
RENEW = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['token'] == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisKeys:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        client = link.client
        self._finish, self._renew, self._release = (
            client.register_script(FINISH),
            client.register_script(RENEW),
            client.register_script(RELEASE),
        )

    async def claim(self, slot: str, fingerprint: str, lease_seconds: float) -> Claimed | Taken:
        token = secrets.token_hex(16)
        held = orjson.dumps({"fingerprint": fingerprint, "token": token}).decode()
        name = _key(slot)

        async def claim(client: Redis) -> str | None:
            if await client.set(name, held, nx=True, px=_ms(lease_seconds)):
                return held
            return _text(await client.get(name))

        found = await self._call(claim)
        if found is None:  # it expired between the two commands: a free key, try again
            return await self.claim(slot, fingerprint, lease_seconds)
        stored = _parse(found)
        # A claim the client re-sent after a dropped connection may find itself.
        if stored.get("token") == token:
            return Claimed(token)
        return _taken(stored)

    async def renew(self, slot: str, token: str, lease_seconds: float) -> None:
        await self._call(
            lambda client: self._renew(keys=[_key(slot)], args=[token, _ms(lease_seconds)], client=client)
        )

    async def finish(self, slot: str, token: str, result: str, window_seconds: float) -> None:
        kept = await self._call(
            lambda client: self._finish(
                keys=[_key(slot)], args=[token, result, _ms(window_seconds)], client=client
            )
        )
        if not kept:
            # The claim expired (a write longer than its renewed lease?) or Redis lost it (a restart).
            log.warning("idempotency keys: a claim was gone when its write finished; its answer is not kept")

    async def release(self, slot: str, token: str) -> None:
        await self._call(lambda client: self._release(keys=[_key(slot)], args=[token], client=client))

    async def read(self, slot: str) -> Taken | None:
        async def get(client: Redis) -> str | None:
            return _text(await client.get(_key(slot)))

        found = await self._call(get)
        return None if found is None else _taken(_parse(found))

    async def _call(self, command: Callable[[Redis], Awaitable[T]]) -> T:
        if not self._link.available:
            raise IdempotencyUnavailable(UNAVAILABLE)
        try:
            return await command(self._link.client)
        except FAILURES as exc:
            log.warning("idempotency keys: Redis failed (%s: %s)", type(exc).__name__, exc)
            raise IdempotencyUnavailable(UNAVAILABLE) from exc


def _key(slot: str) -> str:
    return f"{PREFIX}:idem:{hashlib.sha256(slot.encode()).hexdigest()}"


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _parse(found: str) -> dict[str, Any]:
    try:
        stored = orjson.loads(found)
    except orjson.JSONDecodeError:
        stored = None
    if not isinstance(stored, dict) or not isinstance(stored.get("fingerprint"), str):
        log.error("idempotency keys: an entry in Redis is not readable")
        raise IdempotencyUnavailable(UNAVAILABLE)
    return stored


def _taken(stored: dict[str, Any]) -> Taken:
    result = stored.get("result")
    return Taken(stored["fingerprint"], result if isinstance(result, str) else None)
