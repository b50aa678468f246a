"""Links to the test Redis, as separate replicas would hold them, and waiting for what happens later."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from gateway.data.shared.link import RedisLink


@contextlib.asynccontextmanager
async def links(url: str, count: int = 2) -> AsyncIterator[list[RedisLink]]:
    """`count` started links to one Redis: one per replica."""
    made = [RedisLink.from_url(url) for _ in range(count)]
    try:
        yield made
    finally:
        for link in made:
            await link.aclose()


async def start(*started: RedisLink) -> None:
    for link in started:
        await link.start()
        assert link.available, link.problem


async def eventually(check: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        await asyncio.sleep(0.02)
