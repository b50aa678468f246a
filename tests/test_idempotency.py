"""The idempotency store: one write per key and input, concurrent duplicates included."""

from __future__ import annotations

import asyncio

import pytest

from gateway.data.idempotency import IdempotencyKeyReused, IdempotencyStore


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def work(self) -> int:
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.calls


async def test_repeats_answer_the_first_result() -> None:
    store, counter = IdempotencyStore(60), Counter()
    assert await store.run("op", "k", "f", counter.work) == 1
    assert await store.run("op", "k", "f", counter.work) == 1
    assert counter.calls == 1 and store.replays == 1


async def test_concurrent_duplicates_wait_for_the_first() -> None:
    store, counter = IdempotencyStore(60), Counter()
    answers = await asyncio.gather(*(store.run("op", "k", "f", counter.work) for _ in range(5)))
    assert answers == [1] * 5 and counter.calls == 1


async def test_no_key_or_no_window_runs_every_time() -> None:
    counter = Counter()
    await IdempotencyStore(60).run("op", None, "f", counter.work)
    store = IdempotencyStore(0)
    await store.run("op", "k", "f", counter.work)
    await store.run("op", "k", "f", counter.work)
    assert counter.calls == 3


async def test_keys_are_per_operation_and_refuse_another_input() -> None:
    store, counter = IdempotencyStore(60), Counter()
    await store.run("a", "k", "f", counter.work)
    await store.run("b", "k", "f", counter.work)
    assert counter.calls == 2
    with pytest.raises(IdempotencyKeyReused):
        await store.run("a", "k", "other input", counter.work)


async def test_a_failed_attempt_is_forgotten() -> None:
    store = IdempotencyStore(60)

    async def broken() -> int:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run("op", "k", "f", broken)
    counter = Counter()
    assert await store.run("op", "k", "f", counter.work) == 1


async def test_a_caller_that_goes_away_does_not_cancel_the_write() -> None:
    store = IdempotencyStore(60)
    done = asyncio.Event()

    async def slow() -> str:
        await asyncio.sleep(0.05)
        done.set()
        return "written"

    first = asyncio.ensure_future(store.run("op", "k", "f", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await store.run("op", "k", "f", slow) == "written"
    assert done.is_set()


async def test_entries_expire_with_the_window() -> None:
    store, counter = IdempotencyStore(0.05), Counter()
    await store.run("op", "k", "f", counter.work)
    await asyncio.sleep(0.1)
    await store.run("op", "k", "f", counter.work)
    assert counter.calls == 2
