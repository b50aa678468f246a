"""The in-process event bus: delivery, filters, slow and departed subscribers, echoes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from gateway.data.events import SUBSCRIBER_QUEUE_SIZE, InProcessEventBus, TrainingEvent, TrainingEventType
from gateway.sources import Source

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def created(schedule_id: str, user_id: str = "10001", *, from_webhook: bool = False) -> TrainingEvent:
    return TrainingEvent(
        TrainingEventType.SCHEDULE_CREATED,
        Source.DAMSTRA,
        NOW,
        user_id=user_id,
        schedule_id=schedule_id,
        from_webhook=from_webhook,
    )


async def take(events: AsyncIterator[TrainingEvent], count: int) -> list[TrainingEvent]:
    async with asyncio.timeout(1):
        return [await anext(events) for _ in range(count)]


async def test_every_subscriber_gets_what_its_filter_accepts() -> None:
    bus = InProcessEventBus()
    async with bus.subscribe() as everything, bus.subscribe(lambda e: e.user_id == "10002") as one_user:
        for event in (created("1", "10001"), created("2", "10002"), created("3", "10001")):
            assert await bus.publish(event)
        assert [e.schedule_id for e in await take(everything, 3)] == ["1", "2", "3"]
        assert [e.schedule_id for e in await take(one_user, 1)] == ["2"]
    assert bus.published == 3


async def test_a_slow_subscriber_never_holds_up_the_publisher_or_a_fast_one() -> None:
    bus = InProcessEventBus()
    burst = SUBSCRIBER_QUEUE_SIZE * 3
    async with bus.subscribe() as slow, bus.subscribe() as fast:
        received: list[str] = []

        async def read_fast() -> None:
            async for event in fast:
                received.append(event.schedule_id or "")
                if len(received) == burst:
                    return

        reader = asyncio.create_task(read_fast())
        async with asyncio.timeout(1):  # `slow` never reads: publishing must still not wait
            for number in range(burst):
                await bus.publish(created(str(number)))
                await asyncio.sleep(0)
            await reader
        assert received == [str(n) for n in range(burst)]
        # The slow one kept only the newest events, and lost the oldest.
        kept = await take(slow, SUBSCRIBER_QUEUE_SIZE)
        assert kept[0].schedule_id == str(burst - SUBSCRIBER_QUEUE_SIZE)
        assert kept[-1].schedule_id == str(burst - 1)


async def test_a_subscriber_that_goes_away_is_removed() -> None:
    bus = InProcessEventBus()

    async def listen() -> None:
        async with bus.subscribe() as events:
            async for _ in events:
                pass

    task = asyncio.create_task(listen())
    async with asyncio.timeout(1):
        while bus.subscriber_count != 1:  # noqa: ASYNC110 (polls state another task changes; no event to wait on)
            await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert bus.subscriber_count == 0
    assert await bus.publish(created("1"))  # nobody left to deliver to is no failure


async def test_a_failing_filter_does_not_stop_delivery_to_the_others() -> None:
    bus = InProcessEventBus()

    def broken(event: TrainingEvent) -> bool:
        raise RuntimeError("boom")

    async with bus.subscribe(broken), bus.subscribe() as healthy:
        assert await bus.publish(created("1"))
        assert [e.schedule_id for e in await take(healthy, 1)] == ["1"]


@pytest.mark.parametrize("webhook_first", [False, True], ids=["write-then-webhook", "webhook-then-write"])
async def test_the_webhook_echo_of_our_own_write_is_dropped_in_either_order(webhook_first: bool) -> None:
    bus = InProcessEventBus()
    own = TrainingEvent(TrainingEventType.SCHEDULE_CREATED, Source.DAMSTRA, NOW, "10001", "55", lesson_id="7")
    echo = created("55", from_webhook=True)  # a webhook names no lesson: still the same change
    first, second = (echo, own) if webhook_first else (own, echo)
    async with bus.subscribe() as events:
        assert await bus.publish(first)
        assert not await bus.publish(second)
        assert await bus.publish(created("56", from_webhook=True))
        assert [e.schedule_id for e in await take(events, 2)] == ["55", "56"]


async def test_repeated_webhooks_are_real_changes_not_echoes() -> None:
    bus = InProcessEventBus()
    changed = TrainingEvent(
        TrainingEventType.SCHEDULE_CHANGED, Source.DAMSTRA, NOW, "10001", "55", from_webhook=True
    )
    assert await bus.publish(changed)
    assert await bus.publish(changed)
    # Two writes of our own each have their echo; a third webhook is news.
    own = TrainingEvent(TrainingEventType.USER_UPDATED, Source.DAMSTRA, NOW, "10001")
    echo = TrainingEvent(TrainingEventType.USER_UPDATED, Source.DAMSTRA, NOW, "10001", from_webhook=True)
    assert await bus.publish(own) and await bus.publish(own)
    assert [await bus.publish(echo) for _ in range(3)] == [False, False, True]


async def test_echo_suppression_can_be_switched_off() -> None:
    bus = InProcessEventBus(echo_window_seconds=0)
    assert await bus.publish(created("1"))
    assert await bus.publish(created("1", from_webhook=True))
