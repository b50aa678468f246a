"""Training events and the bus that carries them to subscribers.

DAMSTRA webhooks and LearnGraph's own mutations publish; `Subscription.trainingEvents` subscribes.

    await bus.publish(TrainingEvent(TrainingEventType.SCHEDULE_CREATED, Source.DAMSTRA, now,
                                    user_id="1023", schedule_id="1233"))
    async with bus.subscribe(lambda e: e.user_id == "1023") as events:
        async for event in events: ...

`EventBus` is the interface; `InProcessEventBus` is the single-process default, and
`gateway.data.shared.bus.RedisEventBus` carries events between replicas through Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cachetools import TTLCache

from gateway.sources import Source

log = logging.getLogger("gateway.data.events")

# A subscriber that falls this far behind loses its oldest events rather than holding up the rest.
SUBSCRIBER_QUEUE_SIZE = 256
# DAMSTRA echoes a change LearnGraph itself made as a webhook moments later: one event is enough.
ECHO_WINDOW_SECONDS = 30.0
ECHO_MEMORY = 10_000


class TrainingEventType(enum.Enum):
    SCHEDULE_CREATED = "SCHEDULE_CREATED"
    SCHEDULE_CHANGED = "SCHEDULE_CHANGED"
    SCHEDULE_COMPLETED = "SCHEDULE_COMPLETED"
    SCHEDULE_CANCELLED = "SCHEDULE_CANCELLED"
    USER_CREATED = "USER_CREATED"
    USER_UPDATED = "USER_UPDATED"
    USER_INACTIVATED = "USER_INACTIVATED"


@dataclass(frozen=True)
class TrainingEvent:
    """One change. Ids are native ids in `source`; a person's user id is their account there.

    `from_webhook` marks what an upstream's webhook reported, as opposed to LearnGraph's own writes.
    """

    type: TrainingEventType
    source: Source
    occurred_at: datetime
    user_id: str | None = None
    schedule_id: str | None = None
    lesson_id: str | None = None
    cancellation_reason: str | None = None
    from_webhook: bool = False

    @property
    def echo_key(self) -> tuple[object, ...]:
        # Webhooks name no lesson, so the lesson a write knows about must not tell the two apart.
        return (self.type, self.source, self.user_id, self.schedule_id)


EventFilter = Callable[[TrainingEvent], bool]


class EventBus(Protocol):
    async def publish(self, event: TrainingEvent) -> bool:
        """Deliver to every current subscriber; False when dropped as an echo of one just published."""
        ...

    def subscribe(
        self, accepts: EventFilter | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[TrainingEvent]]: ...


class _Subscriber:
    """One subscriber's bounded queue, read as an async iterator."""

    def __init__(self, accepts: EventFilter | None) -> None:
        self.accepts = accepts
        self.queue: asyncio.Queue[TrainingEvent] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.dropped = 0

    def offer(self, event: TrainingEvent) -> None:
        if self.accepts is not None and not self.accepts(event):
            return
        if self.queue.full():
            # Never wait on a slow reader: drop its oldest event instead.
            self.queue.get_nowait()
            if not self.dropped:
                log.warning("a subscriber fell %d events behind; dropping its oldest", SUBSCRIBER_QUEUE_SIZE)
            self.dropped += 1
        self.queue.put_nowait(event)

    # A plain iterator rather than an async generator: nothing is left to finalise when it is dropped.
    def __aiter__(self) -> _Subscriber:
        return self

    async def __anext__(self) -> TrainingEvent:
        return await self.queue.get()


class _EchoFilter:
    """Pairs LearnGraph's own events with the webhooks that report the same change.

    Whichever of the pair arrives second is dropped, so the order in which a write's answer
    and its webhook reach the gateway does not matter. Two webhooks never cancel each other:
    DAMSTRA may really change the same schedule twice.
    """

    def __init__(self, window_seconds: float) -> None:
        self._own: TTLCache[tuple[object, ...], int] = TTLCache(ECHO_MEMORY, window_seconds)
        self._webhook: TTLCache[tuple[object, ...], int] = TTLCache(ECHO_MEMORY, window_seconds)

    def is_echo(self, event: TrainingEvent) -> bool:
        key = event.echo_key
        mine, other = (self._webhook, self._own) if event.from_webhook else (self._own, self._webhook)
        waiting = other.get(key, 0)
        if waiting:
            if waiting == 1:
                del other[key]
            else:
                other[key] = waiting - 1
            return True
        mine[key] = mine.get(key, 0) + 1
        return False


class InProcessEventBus:
    def __init__(self, echo_window_seconds: float = ECHO_WINDOW_SECONDS) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._echoes = _EchoFilter(echo_window_seconds) if echo_window_seconds > 0 else None
        self.published = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def publish(self, event: TrainingEvent) -> bool:
        if self._echoes is not None and self._echoes.is_echo(event):
            return False
        self.deliver(event)
        return True

    def deliver(self, event: TrainingEvent) -> None:
        """To this process's subscribers, with no echo check (done by whoever published it)."""
        self.published += 1
        for subscriber in list(self._subscribers):
            try:
                subscriber.offer(event)
            except Exception:  # a broken filter must not stop delivery to the others
                log.exception("event filter failed")

    @contextlib.asynccontextmanager
    async def subscribe(
        self, accepts: EventFilter | None = None
    ) -> AsyncIterator[AsyncIterator[TrainingEvent]]:
        subscriber = _Subscriber(accepts)
        self._subscribers.add(subscriber)
        try:
            yield subscriber
        finally:
            self._subscribers.discard(subscriber)
