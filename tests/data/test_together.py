"""Loaders.together: works handed in in one tick are answered in one tick, whenever each is done."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from gateway.data.loaders import Loaders


def loaders() -> Loaders:
    return Loaders(cast(Any, None), cast(Any, None))  # `together` reads neither


async def test_works_of_one_tick_are_released_together_failures_included() -> None:
    group = loaders()
    loop = asyncio.get_running_loop()
    released: dict[str, float] = {}

    async def work(name: str, delay: float, fail: bool = False) -> str:
        await asyncio.sleep(delay)
        if fail:
            raise ValueError(name)
        return name

    async def caller(name: str, delay: float, fail: bool = False) -> str:
        try:
            return await group.together(work(name, delay, fail))
        finally:
            released[name] = loop.time()

    results = await asyncio.gather(
        caller("quick", 0), caller("slow", 0.05), caller("broken", 0.01, fail=True), return_exceptions=True
    )
    assert list(results[:2]) == ["quick", "slow"] and isinstance(results[2], ValueError)
    assert max(released.values()) - min(released.values()) < 0.01  # all at the slow one's end
    # A later tick starts a group of its own: not held back by the first.
    assert await group.together(work("later", 0)) == "later"


async def test_a_cancelled_caller_leaves_and_the_others_are_released() -> None:
    group = loaders()
    stuck = asyncio.Event()

    async def never() -> str:
        await stuck.wait()
        return "never"

    async def quick() -> str:
        return "quick"

    hanging = asyncio.ensure_future(group.together(never()))
    answered = asyncio.ensure_future(group.together(quick()))
    await asyncio.sleep(0.01)
    assert not answered.done()  # waits for its group
    hanging.cancel()
    assert await answered == "quick"
    with pytest.raises(asyncio.CancelledError):
        await hanging
