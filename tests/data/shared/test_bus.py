"""Events through Redis: published on one replica, delivered once to the subscribers of every replica."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.data.shared.bus import RedisEventBus, decode_event, encode_event
from gateway.sources import Source
from tests.data.shared.support import eventually, links, start
from tests.redis_server import RedisServer


def event(
    user_id: str = "1023", *, from_webhook: bool = False, lesson_id: str | None = None
) -> TrainingEvent:
    return TrainingEvent(
        TrainingEventType.SCHEDULE_CREATED,
        Source.DAMSTRA,
        datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        user_id=user_id,
        schedule_id="1233",
        lesson_id=lesson_id,
        from_webhook=from_webhook,
    )


async def drain(events: AsyncIterator[TrainingEvent], wait: float = 0.3) -> list[TrainingEvent]:
    """Whatever arrives within `wait` of the last one."""
    got = []
    while True:
        try:
            got.append(await asyncio.wait_for(anext(events), wait))
        except TimeoutError:
            return got


def test_an_event_survives_its_wire_form() -> None:
    original = event(lesson_id="77")
    assert decode_event(encode_event(original)) == original


async def test_every_replica_s_subscribers_get_each_event_once(redis_url: str) -> None:
    async with links(redis_url, 3) as (a, b, c):
        buses = [RedisEventBus(link) for link in (a, b, c)]
        await start(a, b, c)
        async with buses[1].subscribe() as on_b, buses[2].subscribe() as on_c, buses[0].subscribe() as on_a:
            assert await buses[0].publish(event("1")) is True
            assert await buses[2].publish(event("2")) is True
            for stream in (on_a, on_b, on_c):
                assert [e.user_id for e in await drain(stream)] == ["1", "2"]


async def test_a_webhook_echoing_a_write_made_through_another_replica_is_dropped(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        on_a, on_b = RedisEventBus(a), RedisEventBus(b)
        await start(a, b)
        async with on_b.subscribe() as events:
            assert await on_a.publish(event(lesson_id="55")) is True  # our write, through A
            assert await on_b.publish(event(from_webhook=True)) is False  # DAMSTRA's echo, at B
            # DAMSTRA may really change it again: a second webhook is news.
            assert await on_b.publish(event(from_webhook=True)) is True
            got = await drain(events)
        assert [(e.from_webhook, e.lesson_id) for e in got] == [(False, "55"), (True, None)]


async def test_filters_run_where_the_subscriber_is(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        on_a, on_b = RedisEventBus(a), RedisEventBus(b)
        await start(a, b)
        async with on_b.subscribe(lambda e: e.user_id == "2") as events:
            for user in ("1", "2", "3"):
                await on_a.publish(event(user))
            assert [e.user_id for e in await drain(events)] == ["2"]


async def test_without_redis_events_stay_on_their_replica_and_all_resumes_when_it_is_back(
    redis_server: RedisServer, redis_url: str
) -> None:
    async with links(redis_url) as (a, b):
        on_a, on_b = RedisEventBus(a), RedisEventBus(b)
        await start(a, b)
        async with on_a.subscribe() as at_a, on_b.subscribe() as at_b:
            redis_server.stop()
            await eventually(lambda: not a.available and not b.available)
            assert await on_a.publish(event("alone")) is True
            # The echo check goes on in this process meanwhile.
            assert await on_a.publish(event("alone", from_webhook=True)) is False
            assert [e.user_id for e in await drain(at_a)] == ["alone"]
            assert await drain(at_b) == []
            redis_server.restart()
            await eventually(lambda: a.available and b.available)
            assert await on_a.publish(event("back")) is True
            assert [e.user_id for e in await drain(at_b)] == ["back"]
            assert [e.user_id for e in await drain(at_a)] == ["back"]


async def test_a_replica_whose_connection_dropped_reads_on_from_where_it_was(redis_url: str) -> None:
    async with links(redis_url) as (a, b):
        on_a, on_b = RedisEventBus(a), RedisEventBus(b)
        await start(a, b)
        async with on_b.subscribe() as at_b:
            # Redis closes B's connections (Redis itself stays up): what A publishes meanwhile still reaches B.
            killer = a.client
            await killer.client_kill_filter(_type="normal", skipme=True)
            await on_a.publish(event("meanwhile"))
            await eventually(lambda: b.available)
            assert [e.user_id for e in await drain(at_b, 1.0)] == ["meanwhile"]
