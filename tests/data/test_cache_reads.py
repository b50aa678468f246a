"""EntityCache.read_each_through: a list of keys read through the cache, the cached ones in place."""

from __future__ import annotations

import asyncio

import pytest

from gateway.data.cache import EntityCache
from gateway.settings import Settings

KIND = "damstra_schedules"


def cache(**settings: object) -> EntityCache:
    return EntityCache(Settings(**settings))


async def test_cached_keys_are_answered_in_place_and_the_rest_read_once_each() -> None:
    entities = cache()
    entities.set(KIND, "s", "1", ["one"])
    reads: list[str] = []

    async def read(key: str) -> list[str]:
        reads.append(key)
        await asyncio.sleep(0)
        if key == "bad":
            raise RuntimeError("upstream down")
        return [f"read {key}"]

    first, second = await asyncio.gather(
        entities.read_each_through(KIND, "s", ["1", "2", "bad"], read),
        entities.read_each_through(KIND, "s", ["2", "1"], read),
    )
    assert first[:2] == [["one"], ["read 2"]] and isinstance(first[2], RuntimeError)
    assert second == [["read 2"], ["one"]]
    assert reads == ["2", "bad"]  # the read of "2" in flight is shared; "1" never read
    assert entities.hits == 2 and entities.misses == 3  # one look-up per key asked
    # Stored as read_through stores: next time, "2" is a hit; a failure is not kept.
    assert await entities.read_each_through(KIND, "s", ["2"], read) == [["read 2"]]
    assert isinstance((await entities.read_each_through(KIND, "s", ["bad"], read))[0], RuntimeError)
    assert reads == ["2", "bad", "bad"]


@pytest.mark.parametrize("how", ["switched off", "refreshing"])
async def test_off_or_refreshing_every_key_is_read(how: str) -> None:
    base = cache(cross_request_cache=how != "switched off")
    base.set(KIND, "s", "1", ["old"])
    entities = base.refreshing([KIND]) if how == "refreshing" else base
    reads: list[str] = []

    async def read(key: str) -> list[str]:
        reads.append(key)
        return [f"new {key}"]

    assert await entities.read_each_through(KIND, "s", ["1", "2"], read) == [["new 1"], ["new 2"]]
    assert reads == ["1", "2"]
    if how == "refreshing":  # what was read afresh is stored for the next requests
        assert base.get(KIND, "s", "1") == ["new 1"]
