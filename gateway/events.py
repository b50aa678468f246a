"""Training events and the bus that carries them to subscribers.

DAMSTRA webhooks and LearnGraph's own mutations publish; `Subscription.trainingEvents` subscribes.

    await bus.publish(TrainingEvent(TrainingEventType.SCHEDULE_CREATED, Source.DAMSTRA, now,
                                    user_id="1023", schedule_id="1233"))
    async with bus.subscribe(lambda e: e.user_id == "1023") as events:
        async for event in events: ...

`EventBus` is the interface; `InProcessEventBus` is the single-process default (a Redis backend
can implement the same two methods for several replicas).
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

log = logging.getLogger("gateway.events")

# A subscriber that falls this far behind loses its oldest events rather than holding up the rest.
SUBSCRIBER_QUEUE_SIZE = 256
# DAMSTRA echoes a change LearnGraph itself made as a webhook moments later: one event is enough.
ECHO_WINDOW_SECONDS = 30.0


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
    """One change. Ids are native ids in `source`; a person's user id is their account there."""

    type: TrainingEventType
    source: Source
    occurred_at: datetime
    user_id: str | None = None
    schedule_id: str | None = None
    lesson_id: str | None = None

    @property
    def echo_key(self) -> tuple[object, ...]:
        return (self.type, self.source, self.user_id, self.schedule_id, self.lesson_id)


EventFilter = Callable[[TrainingEvent], bool]


class EventBus(Protocol):
    async def publish(self, event: TrainingEvent) -> bool:
        """Deliver to every current subscriber; False when dropped as an echo of one just published."""
        ...

    def subscribe(
        self, accepts: EventFilter | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[TrainingEvent]]: ...


class _Subscriber:
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
            self.dropped += 1
        self.queue.put_nowait(event)

    async def events(self) -> AsyncIterator[TrainingEvent]:
        while True:
            yield await self.queue.get()


class InProcessEventBus:
    def __init__(self, echo_window_seconds: float = ECHO_WINDOW_SECONDS) -> None:
        self._subscribers: set[_Subscriber] = set()
        self._recent: TTLCache[tuple[object, ...], bool] | None = (
            TTLCache(maxsize=10_000, ttl=echo_window_seconds) if echo_window_seconds > 0 else None
        )
        self.published = 0

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    async def publish(self, event: TrainingEvent) -> bool:
        if self._recent is not None:
            if event.echo_key in self._recent:
                return False
            self._recent[event.echo_key] = True
        self.published += 1
        for subscriber in list(self._subscribers):
            try:
                subscriber.offer(event)
            except Exception:  # a broken filter must not stop delivery to the others
                log.exception("event filter failed")
        return True

    @contextlib.asynccontextmanager
    async def subscribe(
        self, accepts: EventFilter | None = None
    ) -> AsyncIterator[AsyncIterator[TrainingEvent]]:
        subscriber = _Subscriber(accepts)
        self._subscribers.add(subscriber)
        try:
            yield subscriber.events()
        finally:
            self._subscribers.discard(subscriber)
