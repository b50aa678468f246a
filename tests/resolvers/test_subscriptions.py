"""`Subscription.trainingEvents` over a real `graphql-transport-ws` WebSocket, fed by the sandbox's webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.data.context import Services
from gateway.data.events import InProcessEventBus, TrainingEvent, TrainingEventType
from gateway.settings import load_settings
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.damstra.records import DamstraUserInput
from sandbox.server import CREDENTIALS, Sandbox, serve_on_loopback
from tests.conftest import AS_ADMIN
from tests.ids import gid

SECRET = "subscription-test-secret"
BOUND_SECONDS = 5.0
EVENT_FIELDS = """type source occurredAt userId scheduleId cancellationReason
    user { id firstName } schedule { id status lesson { name } } lesson { name }"""


@dataclass
class Live:
    """The gateway and the sandbox, each on its own loopback socket, DAMSTRA's webhooks wired up."""

    address: str
    http: httpx.AsyncClient
    services: Services
    sandbox: Sandbox
    damstra: DamstraClient

    @property
    def bus(self) -> InProcessEventBus:
        return cast(InProcessEventBus, self.services.events)

    async def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        return cast(dict[str, Any], body["data"])

    async def subscribers(self, count: int) -> None:
        """Until the bus holds `count` subscribers: a change made before that would go unseen."""
        async with asyncio.timeout(BOUND_SECONDS):
            while self.bus.subscriber_count != count:  # noqa: ASYNC110 (polls state another task changes; no event to wait on)
                await asyncio.sleep(0.01)

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        arguments: str = "",
        variables: dict[str, Any] | None = None,
        fields: str = EVENT_FIELDS,
        **options: Any,
    ) -> AsyncIterator[ClientConnection]:
        signature = "($user: ID)" if variables and "user" in variables else ""
        query = f"subscription{signature} {{ trainingEvents{arguments} {{ {fields} }} }}"
        url = self.address.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], **options) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            message = {"query": query, "variables": variables or {}}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": message}))
            yield ws


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), BOUND_SECONDS))
    return message


async def next_event(ws: ClientConnection) -> dict[str, Any]:
    message = await next_message(ws)
    assert message["type"] == "next" and "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["trainingEvents"]
    return event


@pytest.fixture
def live_env() -> dict[str, str]:
    """More configuration for `live`'s gateway (a test parametrizes it)."""
    return {}


@pytest.fixture
async def live(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, live_env: dict[str, str]
) -> AsyncIterator[Live]:
    from gateway.server.app import build_services, create_app

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {
        **sandbox.gateway_env(sandbox_address, identity),
        **AS_ADMIN,
        "LEARNGRAPH_WEBHOOK_SECRET": SECRET,
        **live_env,
    }
    settings = load_settings(env)
    services = build_services(settings)
    damstra = DamstraClient.connect(
        sandbox.base_url(sandbox_address, Source.DAMSTRA), secret=SecretStr(CREDENTIALS[Source.DAMSTRA])
    )
    try:
        async with (
            serve_on_loopback(create_app(settings, services=services)) as address,
            httpx.AsyncClient(base_url=address) as http,
        ):
            damstra_controls = sandbox.controls[Source.DAMSTRA]
            damstra_controls.webhook_url = f"{address}/webhooks/damstra"
            damstra_controls.webhook_secret = SECRET
            yield Live(address, http, services, sandbox, damstra)
    finally:
        await damstra.aclose()
        await services.upstreams.aclose()


def schedulable_version(sandbox: Sandbox, user_id: int) -> tuple[int, str]:
    """A lesson version the user can be scheduled for now, and the lesson's name."""
    state = sandbox.world.damstra
    open_lessons = {
        s.lesson_id
        for s in state.schedules.values()
        if s.user_id == user_id and s.status in ("scheduled", "due", "overdue")
    }
    lesson = next(
        x
        for _, x in sorted(state.lessons.items())
        if x.status == "active" and x.lesson_id not in open_lessons
    )
    return lesson.lesson_version_id, lesson.name


USER_QUERY = """query($id: ID!) { user(id: $id) { firstName
    schedules(source: DAMSTRA, first: 100) { edges { node { id } } } } }"""


async def test_a_sandbox_change_reaches_the_subscriber_and_the_next_query_is_fresh(live: Live) -> None:
    person = next(p for p in live.sandbox.world.people if p.damstra_user_id)
    user_id = cast(int, person.damstra_user_id)
    user_gid = gid(f"User:damstra:{user_id}")
    damstra_log = live.sandbox.controls[Source.DAMSTRA].log

    before = (await live.data(USER_QUERY, {"id": user_gid}))["user"]
    await live.data(USER_QUERY, {"id": user_gid})
    # Two reads, one fetch of the user: the second came from the cache.
    reads = damstra_log.count("GET", f"/user/{user_id}")
    assert reads == damstra_log.count("GET", f"/user/{user_id}/lesson_schedule") + 1

    async with live.subscribe("(userId: $user)", {"user": user_gid}) as ws:
        await live.subscribers(1)

        # A schedule made straight in DAMSTRA: its webhook is the only way the gateway hears of it.
        version, lesson_name = schedulable_version(live.sandbox, user_id)
        (schedule_id,) = await live.damstra.schedule_user(user_id, [version])
        event = await next_event(ws)
        assert event["type"] == "SCHEDULE_CREATED" and event["source"] == "DAMSTRA"
        assert event["userId"] == user_gid and event["user"]["id"] == user_gid
        assert event["schedule"]["id"] == event["scheduleId"] == gid(f"Schedule:damstra:{schedule_id}")
        assert event["schedule"]["lesson"]["name"] == event["lesson"]["name"] == lesson_name
        assert datetime.fromisoformat(event["occurredAt"]) <= datetime.now(UTC)
        after = (await live.data(USER_QUERY, {"id": user_gid}))["user"]
        ids = [e["node"]["id"] for e in after["schedules"]["edges"]]
        assert gid(f"Schedule:damstra:{schedule_id}") in ids
        assert len(ids) == len(before["schedules"]["edges"]) + 1

        # A rename: the cached user must go, for the event and for the next query alike.
        await live.damstra.update_user(user_id, DamstraUserInput(first_name="Renamed"))
        event = await next_event(ws)
        assert event["type"] == "USER_UPDATED" and event["user"]["firstName"] == "Renamed"
        assert event["schedule"] is None and event["lesson"] is None
        assert (await live.data(USER_QUERY, {"id": user_gid}))["user"]["firstName"] == "Renamed"
        assert before["firstName"] != "Renamed"


async def test_type_and_user_filters(live: Live) -> None:
    people = [p for p in live.sandbox.world.people if p.damstra_user_id][:2]
    mine, other = (str(p.damstra_user_id) for p in people)
    now = datetime.now(UTC)

    def event(kind: TrainingEventType, user_id: str) -> TrainingEvent:
        return TrainingEvent(kind, Source.DAMSTRA, now, user_id=user_id)

    async with (
        live.subscribe("(types: [USER_INACTIVATED])", fields="type userId") as by_type,
        live.subscribe("(userId: $user)", {"user": gid(f"User:damstra:{mine}")}, "type userId") as by_user,
        live.subscribe(fields="type userId") as everything,
    ):
        await live.subscribers(3)
        for published in (
            event(TrainingEventType.USER_UPDATED, other),
            event(TrainingEventType.USER_UPDATED, mine),
            event(TrainingEventType.USER_INACTIVATED, other),
        ):
            assert await live.bus.publish(published)
        assert [(await next_event(by_type))["userId"]] == [gid(f"User:damstra:{other}")]
        assert [(await next_event(by_user))["type"]] == ["USER_UPDATED"]
        assert [(await next_event(everything))["type"] for _ in range(3)] == [
            "USER_UPDATED",
            "USER_UPDATED",
            "USER_INACTIVATED",
        ]
        # Nothing more is on its way to the filtered ones.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(by_type.recv(), 0.2)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(by_user.recv(), 0.2)


async def test_the_user_filter_covers_every_linked_account(live: Live) -> None:
    person = next(p for p in live.sandbox.world.people if p.damstra_user_id and p.iscout_user_id)
    found = await live.data(
        "query($id: ID!) { user(id: $id) { accounts { source nativeId } } }",
        {"id": gid(f"User:damstra:{person.damstra_user_id}")},
    )
    assert {"source": "ISCOUT", "nativeId": person.iscout_user_id} in found["user"]["accounts"]
    completed = TrainingEvent(
        TrainingEventType.SCHEDULE_COMPLETED, Source.ISCOUT, datetime.now(UTC), user_id=person.iscout_user_id
    )
    async with live.subscribe(
        "(userId: $user)", {"user": gid(f"User:iscout:{person.iscout_user_id}")}, "type source"
    ) as ws:
        await live.subscribers(1)
        assert await live.bus.publish(completed)
        assert await next_event(ws) == {"type": "SCHEDULE_COMPLETED", "source": "ISCOUT"}


async def test_an_unknown_user_is_an_error_with_a_code(live: Live) -> None:
    async with live.subscribe("(userId: $user)", {"user": gid("User:damstra:999999")}, "type") as ws:
        message = await next_message(ws)
        assert message["type"] == "next"
        (error,) = message["payload"]["errors"]
        assert error["extensions"]["code"] == "NOT_FOUND"
        assert (await next_message(ws))["type"] == "complete"
    assert live.bus.subscriber_count == 0


async def test_an_upstream_failure_in_an_event_is_reported_with_its_code(live: Live) -> None:
    user_id = str(next(p for p in live.sandbox.world.people if p.damstra_user_id).damstra_user_id)
    async with live.subscribe(fields="type user { id }") as ws:
        await live.subscribers(1)
        live.sandbox.controls[Source.DAMSTRA].faults.fail_next = 10
        await live.bus.publish(
            TrainingEvent(TrainingEventType.USER_UPDATED, Source.DAMSTRA, datetime.now(UTC), user_id=user_id)
        )
        message = await next_message(ws)
    payload = message["payload"]
    assert payload["data"]["trainingEvents"] == {"type": "USER_UPDATED", "user": None}
    assert [(e["extensions"]["code"], e["extensions"]["source"]) for e in payload["errors"]] == [
        ("UPSTREAM_UNAVAILABLE", "DAMSTRA")
    ]


async def test_a_client_that_goes_away_is_unsubscribed(live: Live) -> None:
    async with live.subscribe(fields="type") as first, live.subscribe(fields="type") as second:
        await live.subscribers(2)
        await first.send(json.dumps({"id": "1", "type": "complete"}))
        await live.subscribers(1)
        await second.close()
    await live.subscribers(0)


async def test_a_client_that_reads_nothing_does_not_hold_up_another(live: Live) -> None:
    user_id = str(next(p for p in live.sandbox.world.people if p.damstra_user_id).damstra_user_id)
    # The stalled client stops reading its socket once a few messages wait: it never sees the
    # server's closing frame either, so it gives up on a polite close quickly.
    async with (
        live.subscribe(fields="type", max_queue=4, close_timeout=0.2),
        live.subscribe(fields="type userId") as reading,
    ):
        await live.subscribers(2)
        for _ in range(50):
            event = TrainingEvent(TrainingEventType.USER_UPDATED, Source.DAMSTRA, datetime.now(UTC), user_id)
            await live.bus.publish(event)
        received = [await next_event(reading) for _ in range(50)]
        assert len(received) == 50
    await live.subscribers(0)


async def test_an_ended_subscription_starts_no_more_upstream_reads(live: Live) -> None:
    state = live.sandbox.world.damstra
    schedule = next(s for s in state.schedules.values() if s.user_id is not None)
    damstra = live.sandbox.controls[Source.DAMSTRA]
    # The schedule is read first, its lesson only once the schedule has answered.
    async with live.subscribe(fields="type schedule { id lesson { name } }") as ws:
        await live.subscribers(1)
        damstra.faults.latency_ms = 300
        damstra.log.clear()
        event = TrainingEvent(
            TrainingEventType.SCHEDULE_CREATED,
            Source.DAMSTRA,
            datetime.now(UTC),
            user_id=str(schedule.user_id),
            schedule_id=str(schedule.id),
        )
        await live.bus.publish(event)
        async with asyncio.timeout(BOUND_SECONDS):
            while not damstra.log.entries:  # noqa: ASYNC110 (the sandbox's log fills from another task)
                await asyncio.sleep(0.005)
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await live.subscribers(0)
        sent = len(damstra.log.entries)
        await asyncio.sleep(1.0)
    assert len(damstra.log.entries) == sent
    assert [e.path for e in damstra.log.entries] == [f"/lesson_schedule/{schedule.id}"]  # not the lesson


@pytest.mark.parametrize("live_env", [{"LEARNGRAPH_MAX_UPSTREAM_REQUESTS": "1"}])
async def test_each_event_is_answered_within_an_upstream_budget_of_its_own(live: Live) -> None:
    people = [p for p in live.sandbox.world.people if p.damstra_user_id][:3]
    async with live.subscribe(fields="userId user { id }") as ws:
        await live.subscribers(1)
        for person in people:
            event = TrainingEvent(
                TrainingEventType.USER_UPDATED,
                Source.DAMSTRA,
                datetime.now(UTC),
                user_id=str(person.damstra_user_id),
            )
            await live.bus.publish(event)
            answered = await next_event(ws)  # no UPSTREAM_BUDGET_EXCEEDED in it
            assert answered["user"]["id"] == answered["userId"]
    assert live.sandbox.controls[Source.DAMSTRA].log.count("GET", "/user/") >= 3


async def test_a_mutation_over_the_websocket_finishes_its_writes_when_the_client_leaves(live: Live) -> None:
    world = live.sandbox.world
    person = next(p for p in world.people if p.damstra_user_id and p.training_records_person_api_id)
    held = {
        r.package_api_id
        for r in world.training_records.records.values()
        if r.person_api_id == person.training_records_person_api_id
    }
    package = next(p for p in world.training_records.packages if p not in held)
    busy = {s.lesson_id for s in world.damstra.schedules.values() if s.user_id == person.damstra_user_id}
    lesson = next(
        x.lesson_id
        for x in world.damstra.lessons.values()
        if x.status == "active" and x.lesson_id not in busy
    )
    for controls in live.sandbox.controls.values():
        controls.faults.latency_ms = 100
    damstra, records = (live.sandbox.controls[s].log for s in (Source.DAMSTRA, Source.TRAINING_RECORDS))
    mutation = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
        results { lessonId userErrors { code } } } }"""
    input_value = {
        "userId": gid(f"User:damstra:{person.damstra_user_id}"),
        "lessonIds": [gid(f"Lesson:damstra:{lesson}"), gid(f"Lesson:training_records:{package}")],
    }
    url = live.address.replace("http://", "ws://") + "/graphql"
    async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        payload = {"query": mutation, "variables": {"input": input_value}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        async with asyncio.timeout(BOUND_SECONDS):
            while not damstra.count("POST", f"/user/{person.damstra_user_id}/lesson_schedule"):  # noqa: ASYNC110 (the sandbox's log fills from another task)
                await asyncio.sleep(0.005)
        assert records.count("POST") == 0

    def made() -> list[Any]:
        return [
            r
            for r in world.training_records.records.values()
            if r.person_api_id == person.training_records_person_api_id and r.package_api_id == package
        ]

    async with asyncio.timeout(BOUND_SECONDS):
        while not made():  # noqa: ASYNC110 (the sandbox's state changes in another task)
            await asyncio.sleep(0.01)
    assert records.count("POST") == 1
