"""The gate in front of each upstream's connections: at most n at once, the rest first come first
served, a wait that times out or is cancelled leaves its place to the next in line."""

from __future__ import annotations

import asyncio

import pytest

from gateway.upstreams.gate import Gate


async def test_places_go_in_the_order_they_were_asked_for() -> None:
    gate = Gate(2)
    order: list[int] = []

    async def holder(n: int) -> None:
        await gate.acquire(None)
        order.append(n)
        await asyncio.sleep(0.01)
        gate.release()

    await asyncio.gather(*(holder(n) for n in range(8)))
    assert order == list(range(8)) and gate.try_acquire() and gate.try_acquire() and not gate.try_acquire()


async def test_a_wait_that_times_out_leaves_no_trace() -> None:
    gate = Gate(1)
    await gate.acquire(None)
    with pytest.raises(TimeoutError):
        await gate.acquire(0.01)
    assert gate.waiting == 0
    later = asyncio.ensure_future(gate.acquire(None))
    await asyncio.sleep(0)
    assert gate.waiting == 1
    gate.release()  # to the one still waiting, not to the one that gave up
    await later
    assert not gate.try_acquire()
    gate.release()
    assert gate.try_acquire()


async def test_a_place_handed_to_a_cancelled_wait_goes_to_the_next() -> None:
    gate = Gate(1)
    await gate.acquire(None)
    first = asyncio.ensure_future(gate.acquire(None))
    second = asyncio.ensure_future(gate.acquire(None))
    await asyncio.sleep(0)
    gate.release()  # first is handed the place ...
    first.cancel()  # ... and cancelled before it could run: the place moves on
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)
    assert gate.waiting == 0 and not gate.try_acquire()


async def test_nobody_jumps_the_queue() -> None:
    gate = Gate(1)
    await gate.acquire(None)
    waiting = asyncio.ensure_future(gate.acquire(None))
    await asyncio.sleep(0)
    gate.release()  # handed to the one waiting, even before it runs
    assert not gate.try_acquire()
    await waiting
