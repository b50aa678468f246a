"""Local caches, shared drops: an invalidation on one replica empties the same entries on every other."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from gateway.data.cache import MISSING, EntityCache
from gateway.data.shared.invalidation import share_invalidations
from gateway.data.shared.link import RedisLink
from gateway.settings import Settings
from tests.data.shared.support import eventually, links, start
from tests.redis_server import RedisServer


def cache_on(link: RedisLink) -> EntityCache:
    cache = EntityCache(Settings())
    share_invalidations(cache, link)
    return cache


def fill(*caches: EntityCache) -> None:
    for cache in caches:
        for user in ("1", "2"):
            cache.set("user", "scope", user, f"user {user}")
        cache.set("group", "scope", "10", "group 10")
        cache.set("access", "scope", "caller", "visible set")
        cache.set("lesson", "scope", "5", "lesson 5")


async def test_one_replica_s_invalidation_drops_the_entries_everywhere(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = cache_on(a), cache_on(b)
        await start(a, b)
        fill(at_a, at_b)
        at_a.invalidate("user", "scope", "1")
        await a.flush()
        await eventually(lambda: at_b.get("user", "scope", "1") is MISSING)
        for cache in (at_a, at_b):
            assert cache.get("user", "scope", "1") is MISSING
            assert cache.get("user", "scope", "2") == "user 2"
            # A user's record is what a caller's visible set is read from.
            assert cache.get("access", "scope", "caller") is MISSING
            assert cache.get("lesson", "scope", "5") == "lesson 5"
        at_b.invalidate("group", "scope")
        at_b.invalidate_training_records("scope")
        await b.flush()
        await eventually(lambda: at_a.get("group", "scope", "10") is MISSING)


async def test_while_redis_is_away_the_cache_is_suspended_and_comes_back_empty(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = cache_on(a), cache_on(b)
        await start(a, b)
        fill(at_a, at_b)
        redis_server.stop()
        await eventually(lambda: at_a.suspended and at_b.suspended)
        # Nothing is served (another replica's drop cannot reach this one) and nothing is kept.
        assert at_b.get("lesson", "scope", "5") is MISSING
        at_b.set("lesson", "scope", "6", "lesson 6")
        calls = []

        async def read() -> str:
            calls.append(1)
            return "fresh"

        assert await at_b.read_through("training_records", "scope", "all", read) == "fresh"
        assert await at_b.read_through("training_records", "scope", "all", read) == "fresh"
        assert len(calls) == 2
        at_a.invalidate("user", "scope", "1")  # cannot be sent: every replica will empty its cache
        redis_server.restart()
        await eventually(lambda: not at_a.suspended and not at_b.suspended)
        assert at_b.get("lesson", "scope", "6") is MISSING
        fill(at_a, at_b)
        at_b.invalidate("lesson", "scope", "5")
        await b.flush()
        await eventually(lambda: at_a.get("lesson", "scope", "5") is MISSING)


async def test_a_drop_that_could_not_be_sent_empties_every_replica_once_redis_takes_commands(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = cache_on(a), cache_on(b)
        await start(a, b)
        fill(at_a, at_b)
        # A's one append fails (its connection dropped then, say) while Redis and B carry on.
        xadd = a.client.xadd
        failures = iter([redis.ConnectionError("connection reset")])

        async def flaky(*args: Any, **kwargs: Any) -> Any:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return await xadd(*args, **kwargs)

        monkeypatch.setattr(a.client, "xadd", flaky)
        at_a.invalidate("user", "scope", "1")
        await a.flush()
        assert at_b.get("user", "scope", "1") == "user 1"  # not told
        at_a.invalidate("lesson", "scope", "other")  # the next command sends the reset first
        await a.flush()
        await eventually(lambda: at_b.get("lesson", "scope", "5") is MISSING)
        assert at_b.get("user", "scope", "1") is MISSING
