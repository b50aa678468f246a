"""Idempotency keys in Redis: the `SharedKeys` under `gateway.data.idempotency.IdempotencyStore`.

    store = SharedIdempotencyStore(window, RedisKeys(link), ObjectCodec(...))

A key is one Redis string, `{learngraph}:idem:<digest of caller, operation, key>`, holding JSON:
while an attempt runs `{"fingerprint", "token"}` (claimed in a script, with a lease the attempt
renews; `"previous"` too when it settles an open outcome), then `{"fingerprint", "result"}` for the
idempotency window, with `"open": true` while the outcome is unsettled: the next attempt with the same
fingerprint claims it again, handed that outcome, and a failed one puts it back. Only the holder of the token
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

# KEYS: the key. ARGV for CLAIM: the fingerprint, the new claim (JSON), the lease (ms); it answers
# what the key holds afterwards. ARGV otherwise: the token, then for FINISH the stored answer, the
# window (ms) and "1" when the outcome is open; for RENEW the lease; for RELEASE the window (ms).
CLAIM = """
local held = redis.call('GET', KEYS[1])
if held then
  local entry = cjson.decode(held)
  if entry['open'] == true and entry['token'] == nil and type(entry['result']) == 'string'
      and entry['fingerprint'] == ARGV[1] then
    local claim = cjson.decode(ARGV[2])
    claim['previous'] = entry['result']
    local encoded = cjson.encode(claim)
    redis.call('SET', KEYS[1], encoded, 'PX', ARGV[3])
    return encoded
  end
  return held
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return ARGV[2]
"""
FINISH = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local claim = cjson.decode(held)
if claim['token'] ~= ARGV[1] then return 0 end
local entry = {fingerprint = claim['fingerprint'], result = ARGV[2]}
if ARGV[4] == '1' then entry['open'] = true end
redis.call('SET', KEYS[1], cjson.encode(entry), 'PX', ARGV[3])
return 1
"""
RENEW = """
local held = redis.call('GET', KEYS[1])
if held and cjson.decode(held)['token'] == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
local claim = cjson.decode(held)
if claim['token'] ~= ARGV[1] then return 0 end
if type(claim['previous']) == 'string' and tonumber(ARGV[2]) > 0 then
  local entry = {fingerprint = claim['fingerprint'], result = claim['previous'], open = true}
  redis.call('SET', KEYS[1], cjson.encode(entry), 'PX', ARGV[2])
  return 1
end
return redis.call('DEL', KEYS[1])
"""


class RedisKeys:
    def __init__(self, link: RedisLink) -> None:
        self._link = link
        client = link.client
        self._claim, self._finish, self._renew, self._release = (
            client.register_script(CLAIM),
            client.register_script(FINISH),
            client.register_script(RENEW),
            client.register_script(RELEASE),
        )

    async def claim(self, slot: str, fingerprint: str, lease_seconds: float) -> Claimed | Taken:
        token = secrets.token_hex(16)
        held = orjson.dumps({"fingerprint": fingerprint, "token": token}).decode()
        name = _key(slot)

        async def claim(client: Redis) -> str | None:
            found = await self._claim(
                keys=[name], args=[fingerprint, held, _ms(lease_seconds)], client=client
            )
            return _text(found)

        found = await self._call(claim)
        if found is None:  # it expired between the two commands: a free key, try again
            return await self.claim(slot, fingerprint, lease_seconds)
        stored = _parse(found)
        # A claim the client re-sent after a dropped connection may find itself.
        if stored.get("token") == token:
            previous = stored.get("previous")
            return Claimed(token, previous if isinstance(previous, str) else None)
        return _taken(stored)

    async def renew(self, slot: str, token: str, lease_seconds: float) -> None:
        await self._call(
            lambda client: self._renew(keys=[_key(slot)], args=[token, _ms(lease_seconds)], client=client)
        )

    async def finish(
        self, slot: str, token: str, result: str, window_seconds: float, *, settled: bool = True
    ) -> None:
        kept = await self._call(
            lambda client: self._finish(
                keys=[_key(slot)],
                args=[token, result, _ms(window_seconds), "0" if settled else "1"],
                client=client,
            )
        )
        if not kept:
            # The claim expired (a write longer than its renewed lease?) or Redis lost it (a restart).
            log.warning("idempotency keys: a claim was gone when its write finished; its answer is not kept")

    async def release(self, slot: str, token: str, window_seconds: float = 0.0) -> None:
        window = _ms(window_seconds) if window_seconds > 0 else 0
        await self._call(lambda client: self._release(keys=[_key(slot)], args=[token, window], client=client))

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
