"""DAMSTRA's webhook posts, sent when `controls.webhook_url` is set.

    webhooks.fire(schedule_created(schedule, now))

Posts go out in the background, in order, and never hold up or fail the API answer that caused them.
The keys are the API document's, with its `userId` (completed, user events) vs `userID` (created, changed,
cancelled) spelling; every id is a string there.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from sandbox.controls import SandboxControls
from sandbox.damstra.formats import date_millis_z
from sandbox.world import DamstraScheduleRow, DamstraUserRow

log = logging.getLogger("sandbox.damstra")

SECRET_HEADER = "X-LearnGraph-Webhook-Secret"
Event = dict[str, Any]


class Webhooks:
    def __init__(self, controls: SandboxControls) -> None:
        self.controls = controls
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # held so pending posts are not garbage-collected
        self._last: asyncio.Task[None] | None = None

    def fire(self, *events: Event) -> None:
        url = self.controls.webhook_url
        if not url or not events:
            return
        # Stamped when sent, by the wall clock, as a real DAMSTRA's are: the sandbox's own clock runs
        # from the world's anchor, which may be days behind, and a receiver ignores stale deliveries.
        sent_at = _stamp(datetime.now(UTC))
        events = tuple({**event, "timeStamp": sent_at} for event in events)
        # Each batch waits for the one before, so a receiver sees events in the order they happened.
        task = asyncio.get_running_loop().create_task(self._post_all(url, list(events), self._last))
        self._last = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_all(self, url: str, events: list[Event], after: asyncio.Task[None] | None) -> None:
        if after is not None and not after.done() and after.get_loop() is asyncio.get_running_loop():
            await asyncio.wait([after])
        if self._client is None:
            # No keep-alive: nothing stays open between posts, so nothing needs closing.
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(5.0), limits=httpx.Limits(max_keepalive_connections=0)
            )
        headers = {"Content-Type": "application/json"}
        secret = self.controls.webhook_secret
        if secret:
            headers[SECRET_HEADER] = secret
        for event in events:
            try:
                response = await self._client.post(url, content=orjson.dumps(event), headers=headers)
                if response.status_code >= 400:
                    log.warning("webhook %s answered HTTP %s", event["name"], response.status_code)
            except httpx.HTTPError as exc:
                log.warning("webhook %s not delivered: %s", event["name"], type(exc).__name__)


def _stamp(at: datetime) -> str:
    return date_millis_z(at) or ""


def schedule_created(schedule: DamstraScheduleRow, at: datetime) -> Event:
    return {
        "name": "lesson.schedule.created",
        "lessonScheduleId": str(schedule.id),
        "userID": str(schedule.user_id),
        "timeStamp": _stamp(at),
    }


def schedule_completed(schedule: DamstraScheduleRow, at: datetime) -> Event:
    return {
        "name": "lesson.schedule.completed",
        "lessonScheduleId": str(schedule.id),
        "userId": str(schedule.user_id),
        "timeStamp": _stamp(at),
    }


def schedule_changed(schedule: DamstraScheduleRow, at: datetime) -> Event:
    return {
        "name": "lesson.schedule.changed",
        "scheduleDate": _stamp(schedule.start_date),
        "lessonScheduleId": str(schedule.id),
        "userID": str(schedule.user_id),
        "timeStamp": _stamp(at),
    }


def schedule_cancelled(schedule: DamstraScheduleRow, at: datetime, reason: str) -> Event:
    return {
        "name": "lesson.schedule.cancelled",
        "lessonScheduleId": str(schedule.id),
        "userID": str(schedule.user_id),
        "cancellationReason": reason,
        "timeStamp": _stamp(at),
    }


def user_created(user: DamstraUserRow, at: datetime) -> Event:
    return {
        "name": "user.account.created",
        "firstName": user.first_name,
        "lastName": user.last_name,
        "userName": user.user_name,
        "userId": str(user.id),
        "timeStamp": _stamp(at),
    }


def user_updated(user: DamstraUserRow, acting_user_id: int | None, at: datetime) -> Event:
    return {
        "name": "user.settings.updated",
        "userId": str(user.id),
        "actingUserId": str(acting_user_id) if acting_user_id is not None else "",
        "timeStamp": _stamp(at),
    }


def user_inactivated(user: DamstraUserRow, at: datetime) -> Event:
    return {
        "name": "user.account.inactivate",
        "userName": user.user_name,
        "userId": str(user.id),
        "timeStamp": _stamp(at),
    }
