"""Training events through Redis: published on any replica, delivered to the subscribers of every one.

    bus = RedisEventBus(link)      # an EventBus (gateway.data.events)

An event is appended to the link's stream and each replica hands what it reads there to its own
subscribers, so every subscriber gets it once, wherever it is connected and wherever the event came
in. The echo check (a DAMSTRA webhook reporting a change LearnGraph just made) runs in Redis, in the
same script as the append: the write may go through one replica and its webhook land on another.
While Redis is away, events reach this replica's subscribers only, with this process's echo check.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from redis.asyncio import Redis

from gateway.data.events import (
    ECHO_WINDOW_SECONDS,
    EventFilter,
    InProcessEventBus,
    TrainingEvent,
    TrainingEventType,
)
from gateway.data.shared.link import FAILURES, PREFIX, STREAM, STREAM_LENGTH, RedisLink
from gateway.sources import Source

log = logging.getLogger("gateway.data.shared")

# KEYS: the stream, this event's echo count, its counterpart's (own events vs webhooks).
# ARGV: the echo window (ms, 0: no check), the stream's length, then the entry's fields.
PUBLISH = """
local window = tonumber(ARGV[1])
if window > 0 then
  local waiting = tonumber(redis.call('GET', KEYS[3]) or '0')
  if waiting > 0 then
    if waiting == 1 then redis.call('DEL', KEYS[3]) else redis.call('DECR', KEYS[3]) end
    return 0
  end
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], window)
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
return 1
"""
KIND = "event"


class RedisEventBus:
    def __init__(self, link: RedisLink, echo_window_seconds: float = ECHO_WINDOW_SECONDS) -> None:
        self._link = link
        self._local = InProcessEventBus(echo_window_seconds)  # this replica's subscribers
        self._window_ms = int(echo_window_seconds * 1000)
        self._publish_script = link.client.register_script(PUBLISH)
        link.on_entry(KIND, self._received)

    @property
    def subscriber_count(self) -> int:
        return self._local.subscriber_count

    async def publish(self, event: TrainingEvent) -> bool:
        if self._link.available:
            try:
                return await self._link.submit(lambda client: self._append(client, event))
            except FAILURES as exc:
                log.warning(
                    "Redis did not take a %s event (%s): only this replica's subscribers get it",
                    event.type.name,
                    exc,
                )
        return await self._local.publish(event)

    def subscribe(
        self, accepts: EventFilter | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[TrainingEvent]]:
        return self._local.subscribe(accepts)

    async def _append(self, client: Redis, event: TrainingEvent) -> bool:
        echo = hashlib.sha256(orjson.dumps([str(part) for part in event.echo_key])).hexdigest()[:32]
        own, webhook = f"{PREFIX}:echo:own:{echo}", f"{PREFIX}:echo:webhook:{echo}"
        mine, other = (webhook, own) if event.from_webhook else (own, webhook)
        fields = self._link.entry(KIND, encode_event(event))
        args: list[Any] = [self._window_ms, STREAM_LENGTH]
        for name, value in fields.items():
            args += [name, value]
        appended = await self._publish_script(keys=[STREAM, mine, other], args=args, client=client)
        return bool(appended)

    def _received(self, data: dict[str, Any]) -> None:
        try:
            event = decode_event(data)
        except (KeyError, ValueError) as exc:  # e.g. a kind of event a newer replica knows
            log.warning("skipping an event this version cannot read: %s", exc)
            return
        self._local.deliver(event)


def encode_event(event: TrainingEvent) -> dict[str, Any]:
    return {
        "type": event.type.value,
        "source": event.source.value,
        "occurredAt": event.occurred_at.isoformat(),
        "userId": event.user_id,
        "scheduleId": event.schedule_id,
        "lessonId": event.lesson_id,
        "cancellationReason": event.cancellation_reason,
        "fromWebhook": event.from_webhook,
    }


def decode_event(data: dict[str, Any]) -> TrainingEvent:
    return TrainingEvent(
        type=TrainingEventType(data["type"]),
        source=Source(data["source"]),
        occurred_at=datetime.fromisoformat(data["occurredAt"]),
        user_id=data.get("userId"),
        schedule_id=data.get("scheduleId"),
        lesson_id=data.get("lessonId"),
        cancellation_reason=data.get("cancellationReason"),
        from_webhook=bool(data.get("fromWebhook")),
    )
