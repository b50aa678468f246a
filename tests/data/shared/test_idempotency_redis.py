"""Idempotency keys in Redis: one write per key across replicas, an open outcome settled by one repeat on
any replica; refused, not risked, while Redis is away."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from gateway.data.idempotency import (
    Attempt,
    Claimed,
    IdempotencyKeyReused,
    IdempotencyUnavailable,
    Outcome,
    SharedIdempotencyStore,
    Taken,
)
from gateway.data.shared.codec import ObjectCodec
from gateway.data.shared.idempotency import RedisKeys
from gateway.data.shared.link import RedisLink
from tests.data.shared.support import eventually, links, start
from tests.redis_server import RedisServer

CODEC = ObjectCodec(("tests",))


@dataclasses.dataclass
class Answer:
    written_by: str
    count: int


class Upstream:
    """Writes that count themselves; the first `open_runs` leave their outcome open."""

    def __init__(self, open_runs: int = 0) -> None:
        self.writes: list[str] = []
        self.open_runs = open_runs
        self.handed: list[Answer | None] = []  # the previous answer each write was handed

    def work(self, replica: str, delay: float = 0.05) -> Attempt[Answer]:
        async def write(previous: Outcome[Answer] | None) -> Outcome[Answer]:
            self.writes.append(replica)
            self.handed.append(previous.answer if previous is not None else None)
            await asyncio.sleep(delay)
            settled = len(self.writes) > self.open_runs
            return Outcome(Answer(replica, len(self.writes)), settled=settled, sent=True)

        return write


def store(link: RedisLink, window: float = 60) -> SharedIdempotencyStore:
    return SharedIdempotencyStore(window, RedisKeys(link), CODEC)


async def test_the_same_key_at_two_replicas_at_once_writes_once_and_both_get_its_answer(
    redis_url: str,
) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)
        upstream = Upstream()
        answers = await asyncio.gather(
            at_a.run("op", "k", "f", upstream.work("A")),
            at_b.run("op", "k", "f", upstream.work("B")),
            at_b.run("op", "k", "f", upstream.work("B")),
        )
        assert len(upstream.writes) == 1
        assert answers[0] == answers[1] == answers[2] == Answer(upstream.writes[0], 1)
        # Later repeats, on either replica, answer the same without writing.
        assert await at_b.run("op", "k", "f", upstream.work("B")) == answers[0]
        assert await at_a.run("op", "k", "f", upstream.work("A")) == answers[0]
        assert len(upstream.writes) == 1


async def test_keys_are_per_caller_and_operation_and_refuse_another_input(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)
        upstream = Upstream()
        await at_a.run("op", "k", "f", upstream.work("A"), caller="ann")
        await at_b.run("op", "k", "f", upstream.work("B"), caller="bob")
        await at_b.run("other", "k", "f", upstream.work("B"), caller="ann")
        assert upstream.writes == ["A", "B", "B"]
        with pytest.raises(IdempotencyKeyReused):
            await at_b.run("op", "k", "another input", upstream.work("B"), caller="ann")


async def test_a_failed_attempt_frees_the_key_for_the_next(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)

        async def broken(previous: Outcome[Answer] | None) -> Outcome[Answer]:
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await at_a.run("op", "k", "f", broken)
        upstream = Upstream()
        assert await at_b.run("op", "k", "f", upstream.work("B")) == Answer("B", 1)


async def test_a_replica_that_dies_mid_write_frees_its_key_when_its_lease_ends(redis_url: str) -> None:
    async with links(redis_url, 1) as (a,):
        keys = RedisKeys(a)
        await start(a)
        slot = "\x1f".join(("", "op", "k"))
        claim = await keys.claim(slot, "f", 0.3)  # and nobody renews it: the replica is gone
        assert isinstance(claim, Claimed)
        assert await keys.read(slot) == Taken("f")
        upstream = Upstream()
        assert await store(a).run("op", "k", "f", upstream.work("A")) == Answer("A", 1)


async def test_only_the_holder_finishes_or_releases_a_key(redis_url: str) -> None:
    async with links(redis_url, 1) as (a,):
        keys = RedisKeys(a)
        await start(a)
        claim = await keys.claim("s", "f", 30)
        assert isinstance(claim, Claimed)
        await keys.release("s", "not the token")
        await keys.finish("s", "not the token", "answer", 60)
        assert await keys.read("s") == Taken("f")
        await keys.finish("s", claim.token, "answer", 60)
        assert await keys.read("s") == Taken("f", "answer")
        await keys.release("s", claim.token)  # finished: the answer stays for the window
        assert await keys.read("s") == Taken("f", "answer")


async def test_while_redis_is_away_a_keyed_write_is_refused_before_it_is_sent(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with links(redis_url, 1) as (a,):
        at_a = store(a)
        await start(a)
        upstream = Upstream()
        first = await at_a.run("op", "done", "f", upstream.work("A"))
        redis_server.stop()
        with pytest.raises(IdempotencyUnavailable) as refused:
            await at_a.run("op", "k", "f", upstream.work("A"))
        assert "127.0.0.1" not in str(refused.value)  # the cause is logged, not told to the caller
        await eventually(lambda: not a.available)
        with pytest.raises(IdempotencyUnavailable):
            await at_a.run("op", "k", "f", upstream.work("A"))
        # What this process answered itself is still answered from memory; unkeyed writes go on.
        assert await at_a.run("op", "done", "f", upstream.work("A")) == first
        assert await at_a.run("op", None, "f", upstream.work("A")) == Answer("A", 2)
        assert upstream.writes == ["A", "A"]
        redis_server.restart()
        await eventually(lambda: a.available)
        assert await at_a.run("op", "k", "f", upstream.work("A")) == Answer("A", 3)


async def test_an_answer_another_version_cannot_read_is_refused_not_written_again(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a = store(a)
        at_b = SharedIdempotencyStore(60, RedisKeys(b), ObjectCodec(("elsewhere",)))
        await start(a, b)
        upstream = Upstream()
        await at_a.run("op", "k", "f", upstream.work("A"))
        with pytest.raises(IdempotencyUnavailable, match="cannot be read by this version"):
            await at_b.run("op", "k", "f", upstream.work("B"))
        assert upstream.writes == ["A"]


async def test_an_open_outcome_is_settled_by_one_repeat_on_any_replica_handed_it(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)
        upstream = Upstream(open_runs=1)
        first = await at_a.run("op", "k", "f", upstream.work("A"))
        assert first == Answer("A", 1)  # open: a repeat settles it
        # Two repeats at once, on two replicas: one settles, the other waits for its outcome.
        answers = await asyncio.gather(
            at_b.run("op", "k", "f", upstream.work("B")), at_a.run("op", "k", "f", upstream.work("A"))
        )
        assert len(upstream.writes) == 2 and answers[0] == answers[1] == Answer(upstream.writes[1], 2)
        assert upstream.handed == [None, first]
        # Settled: answered again everywhere, nothing written.
        assert await at_a.run("op", "k", "f", upstream.work("A")) == answers[0]
        assert await at_b.run("op", "k", "f", upstream.work("B")) == answers[0]
        assert len(upstream.writes) == 2
        assert at_a.settlings + at_b.settlings == 1


async def test_a_failed_settling_attempt_leaves_the_open_outcome_for_the_next(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)
        upstream = Upstream(open_runs=1)
        first = await at_a.run("op", "k", "f", upstream.work("A"))

        async def broken(previous: Outcome[Answer] | None) -> Outcome[Answer]:
            assert previous is not None and previous.answer == first
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await at_b.run("op", "k", "f", broken)
        assert await at_b.run("op", "k", "f", upstream.work("B")) == Answer("B", 2)
        assert upstream.handed == [None, first]


async def test_an_outcome_keeps_since_and_sent_across_replicas(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        at_a, at_b = store(a), store(b)
        await start(a, b)
        began = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        handed: list[Outcome[Answer] | None] = []

        async def open_write(previous: Outcome[Answer] | None) -> Outcome[Answer]:
            return Outcome(Answer("A", 1), settled=False, sent=True, since=began)

        async def settle(previous: Outcome[Answer] | None) -> Outcome[Answer]:
            handed.append(previous)
            return Outcome(Answer("B", 2), settled=True, sent=False, since=began)

        await at_a.run("op", "k", "f", open_write)
        assert await at_b.run("op", "k", "f", settle) == Answer("B", 2)
        assert handed == [Outcome(Answer("A", 1), settled=False, sent=True, since=began)]
