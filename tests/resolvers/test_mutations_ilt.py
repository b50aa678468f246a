"""The DAMSTRA ILT writes end to end: the sandbox's state after each, what was sent, and what was refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.sources import Source
from sandbox.server import MOUNTS
from sandbox.world import (
    ROLE_INSTRUCTOR,
    DamstraAttendeeRow,
    DamstraScheduleRow,
    DamstraState,
)
from tests.conftest import QUICK_LOOPBACK_TIMEOUT_SECONDS, Gateway
from tests.ids import damstra_user_id, gid, user_id
from tests.resolvers.graph_support import iso

ERRORS = "userErrors { field message code }"
SESSION = "session { id status startsAt endsAt location notes capacity instructor { id } lesson { id } }"
CREATE = f"""mutation($input: CreateILTSessionInput!) {{ createILTSession(input: $input) {{ {SESSION} {ERRORS} }} }}"""
UPDATE = f"""mutation($input: UpdateILTSessionInput!) {{ updateILTSession(input: $input) {{ {SESSION} {ERRORS} }} }}"""
COMPLETE = f"""mutation($input: CompleteILTSessionInput!) {{ completeILTSession(input: $input) {{
    {SESSION} schedules {{ id status }} {ERRORS} }} }}"""
CANCEL = f"""mutation($input: CancelILTSessionInput!) {{ cancelILTSession(input: $input) {{
    {SESSION} schedules {{ id status }} {ERRORS} }} }}"""
SAVE = f"""mutation($input: SaveILTAttendanceInput!) {{ saveILTAttendance(input: $input) {{
    session {{ id attendanceRate passRate }}
    results {{ userId saved attendee {{ attended passed user {{ id }} }} {ERRORS} }} {ERRORS} }} }}"""
REGISTER = f"""mutation($input: ILTRegistrationInput!) {{ registerForILTSession(input: $input) {{
    session {{ id attendeeCount }} results {{ userId registered {ERRORS} }} {ERRORS} }} }}"""
DEREGISTER = f"""mutation($input: ILTRegistrationInput!) {{ deregisterFromILTSession(input: $input) {{
    session {{ id attendeeCount }} results {{ userId registered {ERRORS} }} {ERRORS} }} }}"""
READ = """query($id: ID!) { iltSession(id: $id) { id status startsAt endsAt location notes capacity
    instructor { id } attendees { user { id } attended passed schedule { status } } } }"""

ACTIVE, COMPLETED, CANCELLED = 400, 401, 408  # sessions of the seeded world (seed 7, 50 people)
DAMSTRA = MOUNTS[Source.DAMSTRA]


def session_id(native: int) -> str:
    return gid(f"ILTSession:damstra:{native}")


def state(gateway: Gateway) -> DamstraState:
    return gateway.sandbox.world.damstra


def attendees(gateway: Gateway, native: int) -> list[DamstraAttendeeRow]:
    return sorted(
        (a for a in state(gateway).attendees.values() if a.session_id == native), key=lambda a: a.id
    )


def open_schedules(gateway: Gateway, native: int) -> list[DamstraScheduleRow]:
    schedules = (state(gateway).schedules[a.lesson_schedule_id] for a in attendees(gateway, native))
    return [s for s in schedules if s.status in ("scheduled", "due", "overdue")]


def writes(gateway: Gateway) -> list[str]:
    return gateway.writes(Source.DAMSTRA)


def bodies(gateway: Gateway) -> list[Any]:
    return [orjson.loads(e.body) for e in gateway.log(Source.DAMSTRA).entries if e.method != "GET"]


def codes(payload: dict[str, Any]) -> dict[str, str]:
    return {".".join(e["field"] or ["input"]): e["code"] for e in payload["userErrors"]}


@contextlib.asynccontextmanager
async def recorded(gateway: Gateway) -> AsyncIterator[list[TrainingEvent]]:
    """Every event published while the block runs."""
    seen: list[TrainingEvent] = []

    def keep(event: TrainingEvent) -> bool:
        seen.append(event)
        return False

    async with gateway.services.events.subscribe(keep):
        yield seen


def create_input(gateway: Gateway, **changes: Any) -> dict[str, Any]:
    lesson = next(lesson for lesson in state(gateway).lessons.values() if lesson.instructor_led)
    instructor = next(u for u in state(gateway).users.values() if ROLE_INSTRUCTOR in u.roles)
    return {
        "lessonId": gid(f"Lesson:damstra:{lesson.lesson_id}"),
        "instructorId": damstra_user_id(instructor.id),
        "startsAt": "2026-12-03T09:00:00+08:00",
        "endsAt": "2026-12-03T13:00:00+08:00",
        "location": "Depot 7",
        "notes": "Bring boots.",
        "capacity": 10,
        **changes,
    }


# -- gateways whose first DAMSTRA write fails ----------------------------------------------------


@pytest.fixture
def loopback_timeout_seconds() -> float:
    return QUICK_LOOPBACK_TIMEOUT_SECONDS


@pytest.fixture
def refusing_gateway(gateway: Gateway, sandbox_transport: httpx.ASGITransport) -> Gateway:
    """The gateway whose first DAMSTRA write DAMSTRA refuses (400); the reads before it pass."""
    faults = gateway.sandbox.controls[Source.DAMSTRA].faults
    faults.error_status = 400
    app = sandbox_transport.app
    armed = True

    async def refuse_first_write(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal armed
        if (
            armed
            and scope["type"] == "http"
            and scope["method"] != "GET"
            and scope["path"].startswith(DAMSTRA)
        ):
            armed = False
            faults.fail_next = 1
        await app(scope, receive, send)

    sandbox_transport.app = refuse_first_write
    return gateway


# -- createILTSession ---------------------------------------------------------------------------


async def test_create_writes_the_session_and_answers_it_read_back(gateway: Gateway) -> None:
    value = create_input(gateway)
    before = set(state(gateway).ilt_sessions)
    gateway.clear_logs()
    payload = (await gateway.data(CREATE, {"input": value}))["createILTSession"]

    assert payload["userErrors"] == []
    [new_id] = set(state(gateway).ilt_sessions) - before
    stored = state(gateway).ilt_sessions[new_id]
    assert stored.start == datetime(2026, 12, 3, 1, tzinfo=UTC)
    assert stored.end == datetime(2026, 12, 3, 5, tzinfo=UTC)
    assert (stored.location, stored.notes, stored.number_of_places, stored.status_id) == (
        "Depot 7",
        "Bring boots.",
        10,
        1,
    )
    assert damstra_user_id(stored.instructor_id) == value["instructorId"]
    assert writes(gateway) == ["POST /ilt_session"]

    session = payload["session"]
    assert session["id"] == session_id(new_id)
    assert (session["status"], session["startsAt"], session["endsAt"]) == (
        "ACTIVE",
        "2026-12-03T01:00:00Z",
        "2026-12-03T05:00:00Z",
    )
    assert (session["lesson"]["id"], session["instructor"]["id"]) == (
        value["lessonId"],
        value["instructorId"],
    )
    read = (await gateway.data(READ, {"id": session["id"]}))["iltSession"]
    assert (read["location"], read["capacity"], read["attendees"]) == ("Depot 7", 10, [])


async def test_create_names_every_bad_field_and_sends_nothing(gateway: Gateway) -> None:
    value = create_input(
        gateway,
        lessonId=damstra_user_id(10000),
        instructorId="not-an-id",
        startsAt="2026-12-03T09:00:00Z",
        endsAt="2026-12-03T09:00:00Z",
        location="  ",
        capacity=-1,
    )
    gateway.clear_logs()
    payload = (await gateway.data(CREATE, {"input": value}))["createILTSession"]
    assert payload["session"] is None
    assert codes(payload) == {
        "lessonId": "INVALID_INPUT",
        "instructorId": "INVALID_INPUT",
        "endsAt": "INVALID_INPUT",
        "location": "INVALID_INPUT",
        "capacity": "INVALID_INPUT",
    }
    assert all(source_log.entries == [] for source_log in (gateway.log(s) for s in Source))


async def test_create_for_a_lesson_of_another_source_is_not_supported(gateway: Gateway) -> None:
    gateway.clear_logs()
    value = create_input(gateway, lessonId=gid("Lesson:learninglogin:FIRE-101"))
    payload = (await gateway.data(CREATE, {"input": value}))["createILTSession"]
    assert codes(payload) == {"lessonId": "NOT_SUPPORTED_BY_SOURCE"}
    assert gateway.log(Source.DAMSTRA).entries == []


async def test_create_with_unknown_lesson_and_instructor_writes_nothing(gateway: Gateway) -> None:
    gateway.clear_logs()
    value = create_input(gateway, lessonId=gid("Lesson:damstra:999999"), instructorId=damstra_user_id(999999))
    payload = (await gateway.data(CREATE, {"input": value}))["createILTSession"]
    assert codes(payload) == {"lessonId": "NOT_FOUND", "instructorId": "NOT_FOUND"}
    assert writes(gateway) == []


async def test_an_instructor_without_a_damstra_account_is_refused(gateway: Gateway) -> None:
    person = next(p for p in gateway.sandbox.world.people if p.damstra_user_id is None and p.iscout_user_id)
    gateway.clear_logs()
    value = create_input(gateway, instructorId=user_id("iscout", person.iscout_user_id))
    payload = (await gateway.data(CREATE, {"input": value}))["createILTSession"]
    assert codes(payload) == {"instructorId": "NO_ACCOUNT_IN_SOURCE"}
    assert writes(gateway) == []


async def test_create_replays_by_idempotency_key_and_writes_once(gateway: Gateway) -> None:
    value = create_input(gateway, idempotencyKey="create-1")
    gateway.clear_logs()
    first = await gateway.data(CREATE, {"input": value})
    again = await gateway.data(CREATE, {"input": value})
    assert first == again
    assert writes(gateway) == ["POST /ilt_session"]

    # Concurrent duplicates wait for the first rather than racing it.
    racing = create_input(gateway, idempotencyKey="create-2", location="Depot 8")
    answers = await asyncio.gather(*(gateway.data(CREATE, {"input": racing}) for _ in range(3)))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["createILTSession"]["session"]["location"] == "Depot 8"
    assert len(writes(gateway)) == 2

    reused = await gateway.data(CREATE, {"input": {**value, "location": "Elsewhere"}})
    assert codes(reused["createILTSession"]) == {"idempotencyKey": "IDEMPOTENCY_KEY_REUSED"}
    assert len(writes(gateway)) == 2


# -- updateILTSession ---------------------------------------------------------------------------


async def test_update_changes_the_fields_given_and_moves_the_attendees_schedules(gateway: Gateway) -> None:
    stored = state(gateway).ilt_sessions[ACTIVE]
    notes, instructor = stored.notes, stored.instructor_id
    moving = open_schedules(gateway, ACTIVE)
    assert len(moving) >= 2
    new_start = stored.start + timedelta(days=2)
    value = {
        "sessionId": session_id(ACTIVE),
        "startsAt": iso(new_start),
        "endsAt": iso(new_start + timedelta(hours=3)),
        "location": "Head Office L3",
        "capacity": 30,
    }
    gateway.clear_logs()
    async with recorded(gateway) as events:
        payload = (await gateway.data(UPDATE, {"input": value}))["updateILTSession"]

    assert payload["userErrors"] == []
    assert (stored.start, stored.end, stored.location, stored.number_of_places) == (
        new_start,
        new_start + timedelta(hours=3),
        "Head Office L3",
        30,
    )
    assert (stored.notes, stored.instructor_id) == (notes, instructor)  # not given: unchanged
    assert all(s.start_date == new_start for s in moving)
    assert writes(gateway) == [f"PATCH /ilt_session/{ACTIVE}"]
    # DAMSTRA's documented PATCH requires instructorId and location: the unchanged instructor rides along.
    assert bodies(gateway)[0]["instructorId"] == instructor
    assert "notes" not in bodies(gateway)[0]
    assert sorted((e.type, e.schedule_id, e.user_id) for e in events) == sorted(
        (TrainingEventType.SCHEDULE_CHANGED, str(s.id), str(s.user_id)) for s in moving
    )
    assert payload["session"]["startsAt"] == iso(new_start)

    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    assert (read["startsAt"], read["location"], read["capacity"], read["notes"]) == (
        iso(new_start),
        "Head Office L3",
        30,
        notes,
    )


async def test_update_without_a_new_start_moves_no_schedule_and_publishes_nothing(gateway: Gateway) -> None:
    new_instructor = next(
        u.id
        for u in state(gateway).users.values()
        if ROLE_INSTRUCTOR in u.roles and u.id != state(gateway).ilt_sessions[ACTIVE].instructor_id
    )
    value = {
        "sessionId": session_id(ACTIVE),
        "notes": "Moved to the yard.",
        "instructorId": damstra_user_id(new_instructor),
    }
    async with recorded(gateway) as events:
        payload = (await gateway.data(UPDATE, {"input": value}))["updateILTSession"]
    assert payload["userErrors"] == []
    assert payload["session"]["instructor"]["id"] == damstra_user_id(new_instructor)
    assert state(gateway).ilt_sessions[ACTIVE].notes == "Moved to the yard."
    assert state(gateway).ilt_sessions[ACTIVE].instructor_id == new_instructor
    assert events == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"input": "INVALID_INPUT"}),
        ({"capacity": -3, "location": ""}, {"capacity": "INVALID_INPUT", "location": "INVALID_INPUT"}),
        (
            {"startsAt": "2026-12-03T10:00:00Z", "endsAt": "2026-12-03T09:00:00Z"},
            {"endsAt": "INVALID_INPUT"},
        ),
        ({"sessionId": gid("Lesson:damstra:1003"), "notes": "x"}, {"sessionId": "INVALID_INPUT"}),
        ({"sessionId": gid("ILTSession:iscout:abc"), "notes": "x"}, {"sessionId": "NOT_SUPPORTED_BY_SOURCE"}),
        ({"instructorId": gid("Lesson:damstra:1003")}, {"instructorId": "INVALID_INPUT"}),
    ],
)
async def test_update_refuses_bad_input_before_any_request(
    gateway: Gateway, changes: dict[str, Any], expected: dict[str, str]
) -> None:
    gateway.clear_logs()
    value = {"sessionId": session_id(ACTIVE), **changes}
    payload = (await gateway.data(UPDATE, {"input": value}))["updateILTSession"]
    assert (payload["session"], codes(payload)) == (None, expected)
    assert gateway.log(Source.DAMSTRA).entries == []


async def test_update_checks_one_end_against_the_sessions_other_end(gateway: Gateway) -> None:
    stored = state(gateway).ilt_sessions[ACTIVE]
    gateway.clear_logs()
    value = {"sessionId": session_id(ACTIVE), "endsAt": iso(stored.start - timedelta(hours=1))}
    payload = (await gateway.data(UPDATE, {"input": value}))["updateILTSession"]
    assert codes(payload) == {"endsAt": "INVALID_INPUT"}
    assert writes(gateway) == []


async def test_update_of_an_unknown_session_is_not_found(gateway: Gateway) -> None:
    gateway.clear_logs()
    payload = (await gateway.data(UPDATE, {"input": {"sessionId": session_id(999999), "notes": "x"}}))[
        "updateILTSession"
    ]
    assert codes(payload) == {"sessionId": "NOT_FOUND"}
    assert writes(gateway) == []


# -- completeILTSession -------------------------------------------------------------------------


async def test_complete_closes_the_session_and_its_open_schedules(gateway: Gateway) -> None:
    closing = open_schedules(gateway, ACTIVE)
    gateway.clear_logs()
    async with recorded(gateway) as events:
        payload = (await gateway.data(COMPLETE, {"input": {"sessionId": session_id(ACTIVE)}}))[
            "completeILTSession"
        ]

    assert payload["userErrors"] == []
    assert state(gateway).ilt_sessions[ACTIVE].status_id == 2
    assert all(s.status == "completed" for s in closing)
    assert writes(gateway) == [f"POST /ilt_session/{ACTIVE}/complete"]
    assert payload["session"]["status"] == "COMPLETED"
    assert sorted(s["id"] for s in payload["schedules"]) == sorted(
        gid(f"Schedule:damstra:{s.id}") for s in closing
    )
    assert {s["status"] for s in payload["schedules"]} == {"COMPLETED"}
    assert sorted((e.type, e.schedule_id, e.user_id, e.lesson_id) for e in events) == sorted(
        (TrainingEventType.SCHEDULE_COMPLETED, str(s.id), str(s.user_id), str(s.lesson_id)) for s in closing
    )

    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    assert read["status"] == "COMPLETED"
    assert {a["schedule"]["status"] for a in read["attendees"]} == {"COMPLETED"}


async def test_completing_a_cancelled_session_is_refused_by_damstra(gateway: Gateway) -> None:
    gateway.clear_logs()
    async with recorded(gateway) as events:
        payload = (await gateway.data(COMPLETE, {"input": {"sessionId": session_id(CANCELLED)}}))[
            "completeILTSession"
        ]
    assert codes(payload) == {"sessionId": "SESSION_CANCELLED"}
    assert (payload["session"], payload["schedules"], events) == (None, [], [])
    assert writes(gateway) == [f"POST /ilt_session/{CANCELLED}/complete"]
    assert state(gateway).ilt_sessions[CANCELLED].status_id == 3


@pytest.mark.parametrize(
    ("raw", "code", "requests"),
    [
        (gid("Lesson:damstra:1003"), "INVALID_INPUT", 0),
        ("bm9wZQ==", "INVALID_INPUT", 0),
        (gid("ILTSession:training_records:x"), "NOT_SUPPORTED_BY_SOURCE", 0),
        (session_id(999999), "NOT_FOUND", 1),
    ],
)
async def test_complete_names_the_bad_session_id(
    gateway: Gateway, raw: str, code: str, requests: int
) -> None:
    gateway.clear_logs()
    payload = (await gateway.data(COMPLETE, {"input": {"sessionId": raw}}))["completeILTSession"]
    assert codes(payload) == {"sessionId": code}
    assert len(gateway.log(Source.DAMSTRA).entries) == requests
    assert writes(gateway) == []


async def test_a_write_timeout_is_settled_by_its_repeat_and_sent_once(loopback_gateway: Gateway) -> None:
    gateway = loopback_gateway
    # DAMSTRA completes the session but answers too late.
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    value = {"sessionId": session_id(ACTIVE), "idempotencyKey": "complete-400"}
    async with recorded(gateway) as events:
        payload = (await gateway.data(COMPLETE, {"input": value}))["completeILTSession"]
        # The same key finds the session completed and says so: it is never re-sent.
        again = (await gateway.data(COMPLETE, {"input": value}))["completeILTSession"]
    assert codes(payload) == {"input": "UPSTREAM_TIMEOUT"}
    assert "may or may not" in payload["userErrors"][0]["message"]
    assert again["userErrors"] == [] and again["session"]["status"] == "COMPLETED"
    assert writes(gateway) == [f"POST /ilt_session/{ACTIVE}/complete"]
    assert state(gateway).ilt_sessions[ACTIVE].status_id == 2  # it did happen
    assert events == []


# -- cancelILTSession ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("switches", "sent"),
    [
        ({}, (True, True)),
        ({"notifyTrainees": False}, (False, True)),
        ({"notifyInstructor": False}, (True, False)),
    ],
)
async def test_cancel_closes_the_session_with_the_notification_switches(
    gateway: Gateway, switches: dict[str, bool], sent: tuple[bool, bool]
) -> None:
    closing = open_schedules(gateway, ACTIVE)
    gateway.clear_logs()
    async with recorded(gateway) as events:
        payload = (await gateway.data(CANCEL, {"input": {"sessionId": session_id(ACTIVE), **switches}}))[
            "cancelILTSession"
        ]

    assert payload["userErrors"] == []
    stored = state(gateway).ilt_sessions[ACTIVE]
    assert stored.status_id == 3
    assert (stored.trainee_notification, stored.instructor_notification) == sent
    assert all(s.status == "cancelled" for s in closing)
    assert writes(gateway) == [f"POST /ilt_session/{ACTIVE}/cancel_session"]
    assert bodies(gateway) == [
        {
            "iltSessionCancellationTraineeNotificationEnabled": sent[0],
            "iltSessionCancellationInstructorNotificationEnabled": sent[1],
        }
    ]
    assert payload["session"]["status"] == "CANCELLED"
    assert {s["status"] for s in payload["schedules"]} == {"CANCELLED"}
    assert len(payload["schedules"]) == len(closing)
    assert sorted((e.type, e.schedule_id, e.user_id) for e in events) == sorted(
        (TrainingEventType.SCHEDULE_CANCELLED, str(s.id), str(s.user_id)) for s in closing
    )
    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    assert read["status"] == "CANCELLED"


async def test_cancelling_a_completed_session_is_refused_by_damstra(gateway: Gateway) -> None:
    gateway.clear_logs()
    payload = (await gateway.data(CANCEL, {"input": {"sessionId": session_id(COMPLETED)}}))[
        "cancelILTSession"
    ]
    assert codes(payload) == {"sessionId": "SESSION_COMPLETED"}
    assert writes(gateway) == [f"POST /ilt_session/{COMPLETED}/cancel_session"]
    assert state(gateway).ilt_sessions[COMPLETED].status_id == 2


async def test_cancel_of_an_unknown_session_is_not_found(gateway: Gateway) -> None:
    gateway.clear_logs()
    payload = (await gateway.data(CANCEL, {"input": {"sessionId": session_id(999999)}}))["cancelILTSession"]
    assert codes(payload) == {"sessionId": "NOT_FOUND"}
    assert writes(gateway) == []


# -- saveILTAttendance --------------------------------------------------------------------------


async def test_save_attendance_writes_the_good_rows_and_answers_each(gateway: Gateway) -> None:
    first, second, *_ = attendees(gateway, ACTIVE)
    outsider = next(
        uid
        for uid in sorted(state(gateway).users)
        if uid not in {a.user_id for a in attendees(gateway, ACTIVE)}
    )
    rows: list[dict[str, Any]] = [
        {"userId": damstra_user_id(first.user_id), "attended": True, "passed": True},
        {"userId": damstra_user_id(second.user_id), "attended": True},
        {"userId": damstra_user_id(outsider), "attended": True},
        {"userId": "garbage", "passed": True},
        {"userId": damstra_user_id(first.user_id)},
        {"userId": damstra_user_id(999999), "attended": False},
    ]
    gateway.clear_logs()
    payload = (await gateway.data(SAVE, {"input": {"sessionId": session_id(ACTIVE), "attendance": rows}}))[
        "saveILTAttendance"
    ]

    assert (first.attended, first.passed, second.attended, second.passed) == (True, True, True, False)
    assert writes(gateway) == [f"POST /ilt_session/{ACTIVE}/save_progress"]
    assert bodies(gateway) == [
        {
            "attendees": [
                {"id": first.id, "passed": True, "attended": True},
                {"id": second.id, "attended": True},
            ]
        }
    ]
    results = payload["results"]
    assert [r["saved"] for r in results] == [True, True, False, False, False, False]
    assert [r["userId"] for r in results] == [row["userId"] for row in rows]
    assert results[0]["attendee"] == {"attended": True, "passed": True, "user": {"id": rows[0]["userId"]}}
    assert [[e["code"] for e in r["userErrors"]] for r in results] == [
        [],
        [],
        ["NOT_REGISTERED"],
        ["INVALID_INPUT"],
        ["INVALID_INPUT"],
        ["NOT_FOUND"],
    ]
    assert results[2]["userErrors"][0]["field"] == ["attendance", "2", "userId"]
    assert len(payload["userErrors"]) == 4
    assert payload["session"]["attendanceRate"] > 0

    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    by_user = {a["user"]["id"]: a for a in read["attendees"]}
    assert (by_user[rows[0]["userId"]]["attended"], by_user[rows[0]["userId"]]["passed"]) == (True, True)
    assert by_user[rows[1]["userId"]]["attended"] is True


async def test_save_attendance_with_nothing_valid_sends_nothing(gateway: Gateway) -> None:
    gateway.clear_logs()
    empty = (await gateway.data(SAVE, {"input": {"sessionId": session_id(ACTIVE), "attendance": []}}))[
        "saveILTAttendance"
    ]
    assert codes(empty) == {"attendance": "INVALID_INPUT"}
    rows = [{"userId": gid("Lesson:damstra:1003"), "attended": True}, {"userId": damstra_user_id(10000)}]
    invalid = (await gateway.data(SAVE, {"input": {"sessionId": session_id(ACTIVE), "attendance": rows}}))[
        "saveILTAttendance"
    ]
    assert [r["userErrors"][0]["field"] for r in invalid["results"]] == [
        ["attendance", "0", "userId"],
        ["attendance", "1"],
    ]
    assert gateway.log(Source.DAMSTRA).entries == []


async def test_save_attendance_refuses_a_person_listed_twice(gateway: Gateway) -> None:
    first = attendees(gateway, ACTIVE)[0]
    rows = [
        {"userId": damstra_user_id(first.user_id), "attended": True},
        {"userId": damstra_user_id(first.user_id), "attended": False},
    ]
    payload = (await gateway.data(SAVE, {"input": {"sessionId": session_id(ACTIVE), "attendance": rows}}))[
        "saveILTAttendance"
    ]
    assert [r["saved"] for r in payload["results"]] == [True, False]
    assert codes(payload) == {"attendance.1": "INVALID_INPUT"}
    assert first.attended is True


# -- every write: an upstream refusal is a userError and changes nothing --------------------------


@pytest.mark.parametrize(
    ("mutation", "name", "value"),
    [
        (CREATE, "createILTSession", None),
        (UPDATE, "updateILTSession", {"sessionId": session_id(ACTIVE), "notes": "x"}),
        (COMPLETE, "completeILTSession", {"sessionId": session_id(ACTIVE)}),
        (CANCEL, "cancelILTSession", {"sessionId": session_id(ACTIVE)}),
    ],
)
async def test_a_refused_write_is_a_user_error(
    refusing_gateway: Gateway, mutation: str, name: str, value: dict[str, Any] | None
) -> None:
    gateway = refusing_gateway
    before = (len(state(gateway).ilt_sessions), state(gateway).ilt_sessions[ACTIVE].notes)
    payload = (await gateway.data(mutation, {"input": value or create_input(gateway)}))[name]
    assert codes(payload) == {"input": "UPSTREAM_REJECTED"}
    assert payload["session"] is None
    assert len(writes(gateway)) == 1
    assert (len(state(gateway).ilt_sessions), state(gateway).ilt_sessions[ACTIVE].notes) == before
    assert state(gateway).ilt_sessions[ACTIVE].status_id == 1


async def test_a_refused_attendance_save_fails_each_row(refusing_gateway: Gateway) -> None:
    gateway = refusing_gateway
    first, second, *_ = attendees(gateway, ACTIVE)
    rows = [{"userId": damstra_user_id(a.user_id), "attended": True} for a in (first, second)]
    payload = (await gateway.data(SAVE, {"input": {"sessionId": session_id(ACTIVE), "attendance": rows}}))[
        "saveILTAttendance"
    ]
    assert codes(payload) == {"attendance.0": "UPSTREAM_REJECTED", "attendance.1": "UPSTREAM_REJECTED"}
    assert [r["saved"] for r in payload["results"]] == [False, False]
    assert len(writes(gateway)) == 1
    assert (first.attended, second.attended) == (False, False)


# -- registerForILTSession / deregisterFromILTSession ---------------------------------------------


def scheduled_outsider(gateway: Gateway, native: int) -> int:
    """A DAMSTRA user not registered for the session, given an open schedule for its lesson."""
    session = state(gateway).ilt_sessions[native]
    registered = {a.user_id for a in attendees(gateway, native)}
    uid = next(uid for uid in sorted(state(gateway).users) if uid not in registered)
    schedule_id = state(gateway).new_id()
    start = session.start - timedelta(days=7)
    state(gateway).schedules[schedule_id] = DamstraScheduleRow(
        id=schedule_id,
        user_id=uid,
        lesson_id=session.lesson_id,
        lesson_version_id=state(gateway).lessons[session.lesson_id].lesson_version_id,
        start_date=start,
        end_date=start + timedelta(days=30),
        status="scheduled",
        progress=0,
        created=start,
        modified=start,
    )
    return uid


def unscheduled_outsider(gateway: Gateway, native: int, besides: int) -> int:
    lesson = state(gateway).ilt_sessions[native].lesson_id
    registered = {a.user_id for a in attendees(gateway, native)}
    open_for_lesson = {
        s.user_id
        for s in state(gateway).schedules.values()
        if s.lesson_id == lesson and s.status in ("scheduled", "due", "overdue")
    }
    return next(
        uid for uid in sorted(state(gateway).users) if uid not in registered | open_for_lesson | {besides}
    )


async def test_register_registers_the_scheduled_and_names_the_unscheduled(gateway: Gateway) -> None:
    scheduled = scheduled_outsider(gateway, ACTIVE)
    unscheduled = unscheduled_outsider(gateway, ACTIVE, scheduled)
    count = len(attendees(gateway, ACTIVE))
    ids = [damstra_user_id(scheduled), damstra_user_id(unscheduled)]
    gateway.clear_logs()
    payload = (await gateway.data(REGISTER, {"input": {"sessionId": session_id(ACTIVE), "userIds": ids}}))[
        "registerForILTSession"
    ]

    assert scheduled in {a.user_id for a in attendees(gateway, ACTIVE)}
    assert unscheduled not in {a.user_id for a in attendees(gateway, ACTIVE)}
    assert writes(gateway) == [f"POST /ilt_session/{ACTIVE}/bulk_register"]
    assert bodies(gateway) == [{"userIds": [scheduled]}]
    assert [(r["userId"], r["registered"]) for r in payload["results"]] == [(ids[0], True), (ids[1], False)]
    assert codes(payload) == {"userIds.1": "NOT_SCHEDULED_FOR_LESSON"}
    assert payload["session"]["attendeeCount"] == count + 1
    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    assert ids[0] in {a["user"]["id"] for a in read["attendees"]}


async def test_deregister_removes_the_registered_and_names_the_rest(gateway: Gateway) -> None:
    registered = attendees(gateway, ACTIVE)[0].user_id
    stranger = unscheduled_outsider(gateway, ACTIVE, registered)
    ids = [damstra_user_id(registered), damstra_user_id(stranger)]
    gateway.clear_logs()
    async with recorded(gateway) as events:
        payload = (
            await gateway.data(DEREGISTER, {"input": {"sessionId": session_id(ACTIVE), "userIds": ids}})
        )["deregisterFromILTSession"]

    assert registered not in {a.user_id for a in attendees(gateway, ACTIVE)}
    assert bodies(gateway) == [{"userIds": [registered]}]
    assert [(r["userId"], r["registered"]) for r in payload["results"]] == [(ids[0], False), (ids[1], False)]
    assert codes(payload) == {"userIds.1": "NOT_REGISTERED"}
    assert [(e.type, e.user_id) for e in events] == [(TrainingEventType.SCHEDULE_CHANGED, str(registered))]
    read = (await gateway.data(READ, {"id": session_id(ACTIVE)}))["iltSession"]
    assert ids[0] not in {a["user"]["id"] for a in read["attendees"]}


@pytest.mark.parametrize("mutation", [REGISTER, DEREGISTER])
@pytest.mark.parametrize(
    ("raw", "code"), [(gid("Lesson:damstra:1003"), "INVALID_INPUT"), (session_id(999999), "NOT_FOUND")]
)
async def test_registration_names_a_bad_session(gateway: Gateway, mutation: str, raw: str, code: str) -> None:
    gateway.clear_logs()
    body = await gateway.data(mutation, {"input": {"sessionId": raw, "userIds": [damstra_user_id(10000)]}})
    payload = next(iter(body.values()))
    assert (payload["session"], codes(payload)) == (None, {"sessionId": code})
    assert writes(gateway) == []
    if code == "INVALID_INPUT":
        assert gateway.log(Source.DAMSTRA).entries == []
