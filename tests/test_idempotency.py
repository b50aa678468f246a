"""The idempotency store: one write per key and input, concurrent duplicates included; a settled outcome
answered again, an open one handed to the attempt that settles it."""

from __future__ import annotations

import asyncio

import pytest

from gateway.data.idempotency import IdempotencyKeyReused, InProcessIdempotencyStore, Outcome


class Counter:
    """An attempt that counts its runs, answering the count; unsettled while `open_runs` last."""

    def __init__(self, open_runs: int = 0) -> None:
        self.calls = 0
        self.open_runs = open_runs
        self.handed: list[int | None] = []  # the previous answer each run was handed

    async def work(self, previous: Outcome[int] | None) -> Outcome[int]:
        self.calls += 1
        self.handed.append(previous.answer if previous is not None else None)
        await asyncio.sleep(0.01)
        return Outcome(self.calls, settled=self.calls > self.open_runs, sent=True)


async def test_repeats_answer_the_first_settled_result() -> None:
    store, counter = InProcessIdempotencyStore(60), Counter()
    assert await store.run("op", "k", "f", counter.work) == 1
    assert await store.run("op", "k", "f", counter.work) == 1
    assert counter.calls == 1 and store.replays == 1 and store.settlings == 0


async def test_concurrent_duplicates_wait_for_the_first() -> None:
    store, counter = InProcessIdempotencyStore(60), Counter()
    answers = await asyncio.gather(*(store.run("op", "k", "f", counter.work) for _ in range(5)))
    assert answers == [1] * 5 and counter.calls == 1


async def test_a_repeat_of_an_open_outcome_runs_again_handed_it_until_one_settles() -> None:
    store, counter = InProcessIdempotencyStore(60), Counter(open_runs=2)
    assert await store.run("op", "k", "f", counter.work) == 1  # open
    assert await store.run("op", "k", "f", counter.work) == 2  # still open
    assert await store.run("op", "k", "f", counter.work) == 3  # settled
    assert await store.run("op", "k", "f", counter.work) == 3
    assert counter.handed == [None, 1, 2]
    assert (store.settlings, store.replays) == (2, 1)


async def test_no_key_or_no_window_runs_every_time() -> None:
    counter = Counter()
    await InProcessIdempotencyStore(60).run("op", None, "f", counter.work)
    store = InProcessIdempotencyStore(0)
    await store.run("op", "k", "f", counter.work)
    await store.run("op", "k", "f", counter.work)
    assert counter.calls == 3 and counter.handed == [None] * 3


async def test_keys_are_per_operation_and_caller_and_refuse_another_input() -> None:
    store, counter = InProcessIdempotencyStore(60), Counter()
    await store.run("a", "k", "f", counter.work)
    await store.run("b", "k", "f", counter.work)
    await store.run("a", "k", "f", counter.work, caller="someone else")
    assert counter.calls == 3
    with pytest.raises(IdempotencyKeyReused):
        await store.run("a", "k", "other input", counter.work)
    with pytest.raises(IdempotencyKeyReused):  # an open outcome's key is no freer
        open_store = InProcessIdempotencyStore(60)
        await open_store.run("a", "k", "f", Counter(open_runs=1).work)
        await open_store.run("a", "k", "other input", counter.work)


async def test_a_failed_attempt_is_forgotten() -> None:
    store = InProcessIdempotencyStore(60)

    async def broken(previous: Outcome[int] | None) -> Outcome[int]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run("op", "k", "f", broken)
    counter = Counter()
    assert await store.run("op", "k", "f", counter.work) == 1
    assert counter.handed == [None]


async def test_a_failed_settling_attempt_leaves_the_open_outcome_for_the_next() -> None:
    store, counter = InProcessIdempotencyStore(60), Counter(open_runs=1)
    assert await store.run("op", "k", "f", counter.work) == 1

    async def broken(previous: Outcome[int] | None) -> Outcome[int]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run("op", "k", "f", broken)
    assert await store.run("op", "k", "f", counter.work) == 2
    assert counter.handed == [None, 1]


async def test_a_caller_that_goes_away_does_not_cancel_the_write() -> None:
    store = InProcessIdempotencyStore(60)
    done = asyncio.Event()

    async def slow(previous: Outcome[str] | None) -> Outcome[str]:
        await asyncio.sleep(0.05)
        done.set()
        return Outcome("written", settled=True)

    first = asyncio.ensure_future(store.run("op", "k", "f", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await store.run("op", "k", "f", slow) == "written"
    assert done.is_set()


async def test_entries_expire_with_the_window() -> None:
    store, counter = InProcessIdempotencyStore(0.05), Counter()
    await store.run("op", "k", "f", counter.work)
    await asyncio.sleep(0.1)
    await store.run("op", "k", "f", counter.work)
    assert counter.calls == 2 and counter.handed == [None, None]
