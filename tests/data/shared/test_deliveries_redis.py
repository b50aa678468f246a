"""Webhook deliveries in Redis: a repeat reaching another replica is known as one; while Redis is away,
each replica's own memory still knows its own."""

from __future__ import annotations

import asyncio

from gateway.data.shared.deliveries import RedisDeliveries
from tests.data.shared.support import eventually, links, start
from tests.redis_server import RedisServer


async def test_a_delivery_is_first_on_one_replica_only(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = RedisDeliveries(a, 60), RedisDeliveries(b, 60)
        await start(a, b)
        firsts = await asyncio.gather(at_a.remember("body-1"), at_b.remember("body-1"))
        assert sorted(firsts) == [False, True]
        assert not await at_a.remember("body-1")
        assert not await at_b.remember("body-1")
        assert await at_b.remember("body-2")


async def test_a_delivery_is_forgotten_after_the_window(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = RedisDeliveries(a, 0.2), RedisDeliveries(b, 0.2)
        await start(a, b)
        assert await at_a.remember("body")
        assert not await at_b.remember("body")
        await asyncio.sleep(0.3)
        assert await at_b.remember("body")


async def test_while_redis_is_away_each_replica_remembers_its_own(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with links(redis_url, 1) as (a,):
        at_a = RedisDeliveries(a, 60)
        await start(a)
        assert await at_a.remember("before")
        redis_server.stop()
        assert await at_a.remember("during")  # refused by nothing: Redis is away, this memory answers
        assert not await at_a.remember("during")
        assert not await at_a.remember("before")
        await eventually(lambda: not a.available)
        assert not await at_a.remember("during")
        redis_server.restart()
        await eventually(lambda: a.available)
        assert await at_a.remember("after")
