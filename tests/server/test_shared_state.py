"""Two gateways sharing one Redis and one sandbox, in this process: keys, caches and events hold across
them, and while Redis is away reads go on, keyed writes are refused, and all comes back by itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.data.events import TrainingEventType
from gateway.sources import Source
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.data.shared.support import eventually
from tests.ids import damstra_user_id, gid
from tests.redis_server import RedisServer


def fired_now() -> str:
    """A fresh timeStamp, to the microsecond: a body like no other before (not a duplicate, not stale)."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


SECRET = "shared-state-test-secret"
SCHEDULE = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    schedules { id status lesson { name } } results { lessonId schedule { id } userErrors { code } }
    userErrors { field message code } } }"""
UPDATE = """mutation($input: UpdateUserInput!) { updateUser(input: $input) {
    user { id firstName } userErrors { field message code } } }"""
NAME = "query($id: ID!) { user(id: $id) { firstName } }"


@contextlib.asynccontextmanager
async def replica(
    sandbox: Sandbox, transport: httpx.ASGITransport, identity: Path, url: str
) -> AsyncIterator[Gateway]:
    env = {"LEARNGRAPH_REDIS_URL": url, "LEARNGRAPH_WEBHOOK_SECRET": SECRET}
    async with contextlib.asynccontextmanager(_serve_gateway)(
        sandbox, IN_PROCESS, identity, transport, env
    ) as g:
        yield g


@pytest.fixture
async def pair(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, redis_url: str
) -> AsyncIterator[tuple[Gateway, Gateway]]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    async with (
        replica(sandbox, sandbox_transport, identity, redis_url) as a,
        replica(sandbox, sandbox_transport, identity, redis_url) as b,
    ):
        yield a, b


def free_lessons(sandbox: Sandbox, user: int, count: int) -> list[int]:
    state = sandbox.world.damstra
    open_statuses = ("scheduled", "due", "overdue")
    busy = {s.lesson_id for s in state.schedules.values() if s.user_id == user and s.status in open_statuses}
    active = [lesson.lesson_id for lesson in state.lessons.values() if lesson.status == "active"]
    return [lesson for lesson in active if lesson not in busy][:count]


def schedule_input(sandbox: Sandbox, key: str | None, user: int = 10003) -> dict[str, Any]:
    lesson = free_lessons(sandbox, user, 1)[0]
    return {
        "userId": damstra_user_id(user),
        "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        "idempotencyKey": key,
    }


async def schedule(gateway: Gateway, input_value: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = (await gateway.data(SCHEDULE, {"input": input_value}))["scheduleLessons"]
    return payload


async def test_one_key_at_both_replicas_at_once_writes_once_and_both_answer_alike(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    input_value = schedule_input(a.sandbox, "same-key")
    a.clear_logs()
    answers = await asyncio.gather(
        schedule(a, input_value), schedule(b, input_value), schedule(b, input_value)
    )
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["userErrors"] == [] and answers[0]["schedules"][0]["status"]
    assert a.writes(Source.DAMSTRA) == ["POST /user/10003/lesson_schedule"]
    # Later, on either replica: the same answer, nothing written.
    assert await schedule(b, input_value) == answers[0]
    assert a.writes(Source.DAMSTRA) == ["POST /user/10003/lesson_schedule"]


async def test_a_write_through_one_replica_is_read_through_the_other(pair: tuple[Gateway, Gateway]) -> None:
    a, b = pair
    user = damstra_user_id(10003)
    before = (await b.data(NAME, {"id": user}))["user"]["firstName"]  # B caches the user now
    assert (await b.data(NAME, {"id": user}))["user"]["firstName"] == before
    updated = (await a.data(UPDATE, {"input": {"userId": user, "firstName": "Renamed"}}))["updateUser"]
    assert updated["userErrors"] == []
    assert (await b.data(NAME, {"id": user}))["user"]["firstName"] == "Renamed"


SCHEDULES = (
    "query($id: ID!) { user(id: $id) { schedules(first: 500, source: DAMSTRA) { edges { node { id } } } } }"
)


async def test_a_schedule_webhook_or_write_at_one_replica_drops_the_other_s_cached_list(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    user = damstra_user_id(10003)

    async def ids_at_b() -> set[str]:
        data = await b.data(SCHEDULES, {"id": user})
        return {e["node"]["id"] for e in data["user"]["schedules"]["edges"]}

    before = await ids_at_b()  # B keeps the list now
    rows = a.sandbox.world.damstra.schedules
    gone = next(i for i, row in rows.items() if row.user_id == 10003)
    del rows[gone]  # changed upstream behind both replicas' backs
    assert await ids_at_b() == before
    hook = {"name": "lesson.schedule.cancelled", "lessonScheduleId": str(gone), "userId": "10003"}
    posted = await a.http.post(
        "/webhooks/damstra",
        json={**hook, "timeStamp": fired_now()},
        headers={"X-LearnGraph-Webhook-Secret": SECRET},
    )
    assert posted.status_code == 202
    after = await ids_at_b()
    assert after == before - {gid(f"Schedule:damstra:{gone}")}
    # A write through A: B's list is dropped before A answers.
    payload = await schedule(a, schedule_input(a.sandbox, None))
    assert payload["userErrors"] == []
    assert await ids_at_b() == after | {payload["schedules"][0]["id"]}


async def test_a_webhook_at_one_replica_reaches_the_other_s_subscribers_once(
    pair: tuple[Gateway, Gateway],
) -> None:
    a, b = pair
    async with b.services.events.subscribe() as at_b, a.services.events.subscribe() as at_a:
        hook = {"name": "user.settings.updated", "userId": "10003", "timeStamp": fired_now()}
        posted = await a.http.post(
            "/webhooks/damstra", json=hook, headers={"X-LearnGraph-Webhook-Secret": SECRET}
        )
        assert posted.status_code == 202
        for stream in (at_b, at_a):
            event = await asyncio.wait_for(anext(stream), 5)
            assert (event.type, event.user_id) == (TrainingEventType.USER_UPDATED, "10003")
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(stream), 0.3)
        # The same delivery sent again, to the other replica: known there as a repeat, not published.
        again = await b.http.post(
            "/webhooks/damstra", json=hook, headers={"X-LearnGraph-Webhook-Secret": SECRET}
        )
        assert (again.status_code, again.json()["status"]) == (202, "duplicate")
        for stream in (at_b, at_a):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(anext(stream), 0.3)


async def test_while_redis_is_away_reads_go_on_and_keyed_writes_are_refused_until_it_is_back(
    pair: tuple[Gateway, Gateway], redis_server: RedisServer
) -> None:
    a, b = pair
    user = damstra_user_id(10003)
    redis_server.stop()
    assert (await b.data(NAME, {"id": user}))["user"]["firstName"]
    a.clear_logs()
    refused = await schedule(a, schedule_input(a.sandbox, "while-away"))
    assert [e["code"] for e in refused["userErrors"]] == ["IDEMPOTENCY_UNAVAILABLE"]
    assert refused["userErrors"][0]["field"] == ["idempotencyKey"]
    assert a.writes(Source.DAMSTRA) == []  # nothing was sent
    await eventually(lambda: not a.services.shared.available)
    ready = await a.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["redis"]["status"] == "unavailable"
    # A write without a key risks nothing to repeat: it goes through.
    unkeyed = await schedule(a, schedule_input(a.sandbox, None))
    assert unkeyed["userErrors"] == []
    redis_server.restart()
    await eventually(lambda: a.services.shared.available and b.services.shared.available)
    assert (await a.http.get("/readyz")).json()["redis"] == {"status": "ok"}
    written = await schedule(b, schedule_input(a.sandbox, "while-away"))
    assert written["userErrors"] == []
    await test_a_write_through_one_replica_is_read_through_the_other(pair)
