"""Idempotency keys in Redis: one write per key across replicas; refused, not risked, while Redis is away."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest

from gateway.data.idempotency import (
    Claimed,
    IdempotencyKeyReused,
    IdempotencyStore,
    IdempotencyUnavailable,
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
    def __init__(self) -> None:
        self.writes: list[str] = []

    def work(self, replica: str, delay: float = 0.05) -> Callable[[], Awaitable[Answer]]:
        async def write() -> Answer:
            self.writes.append(replica)
            await asyncio.sleep(delay)
            return Answer(replica, len(self.writes))

        return write


def store(link: RedisLink, window: float = 60) -> IdempotencyStore:
    return IdempotencyStore(window, shared=RedisKeys(link), codec=CODEC)


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

        async def broken() -> Answer:
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
        at_b = IdempotencyStore(60, shared=RedisKeys(b), codec=ObjectCodec(("elsewhere",)))
        await start(a, b)
        upstream = Upstream()
        await at_a.run("op", "k", "f", upstream.work("A"))
        with pytest.raises(IdempotencyUnavailable, match="cannot be read by this version"):
            await at_b.run("op", "k", "f", upstream.work("B"))
        assert upstream.writes == ["A"]
