"""scheduleLessons, completeLesson and unassignCourses against the sandbox: the upstream's state after
each write, every userError path, idempotent replay, and the unknown outcome of a timed-out write."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.errors import UpstreamUnavailable
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from sandbox.world import SeededPerson
from tests.conftest import Gateway
from tests.ids import damstra_user_id, gid, user_id

SCHEDULE = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    schedules { id source status lesson { name } dueDate }
    results { lessonId schedule { id } userErrors { field code } }
    userErrors { field message code } } }"""
COMPLETE = """mutation($input: CompleteLessonInput!) { completeLesson(input: $input) {
    schedule { id source status completedAt } userErrors { field message code } } }"""
UNASSIGN = """mutation($input: UnassignCoursesInput!) { unassignCourses(input: $input) {
    unassignedCount userErrors { field message code } } }"""
SETTLED = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    results { lessonId schedule { id } userErrors { field code } alreadyDone }
    userErrors { field message code } warnings { field message code } } }"""
SCHEDULES = """query($id: ID!) { user(id: $id) { schedules(first: 500) { edges { node { id source status
    lesson { id } } } } } }"""


def person_with(gateway: Gateway, *sources: Source) -> SeededPerson:
    keys = {
        Source.DAMSTRA: "damstra_user_id",
        Source.LEARNINGLOGIN: "learninglogin_login_id",
        Source.TRAINING_RECORDS: "training_records_person_api_id",
        Source.ISCOUT: "iscout_user_id",
    }
    return next(p for p in gateway.sandbox.world.people if all(getattr(p, keys[s]) for s in sources))


def unscheduled_lessons(gateway: Gateway, person: SeededPerson, count: int) -> list[int]:
    """Active DAMSTRA lessons the person has no open schedule for."""
    state = gateway.sandbox.world.damstra
    busy = {
        s.lesson_id
        for s in state.schedules.values()
        if s.user_id == person.damstra_user_id and s.status in ("scheduled", "due", "overdue")
    }
    free = [
        lesson.lesson_id
        for lesson in state.lessons.values()
        if lesson.status == "active" and lesson.lesson_id not in busy
    ]
    return free[:count]


def damstra_schedules_of(gateway: Gateway, person: SeededPerson, lesson_id: int) -> list[Any]:
    return [
        s
        for s in gateway.sandbox.world.damstra.schedules.values()
        if s.user_id == person.damstra_user_id and s.lesson_id == lesson_id
    ]


async def mutate(gateway: Gateway, query: str, field: str, input_value: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = (await gateway.data(query, {"input": input_value}))[field]
    return payload


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["userErrors"]]


# -- scheduleLessons ----------------------------------------------------------------------------


async def test_schedule_lessons_writes_damstra_in_one_call_and_the_next_query_shows_them(
    gateway: Gateway,
) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lessons = unscheduled_lessons(gateway, person, 2)
    before = await gateway.data(SCHEDULES, {"id": damstra_user_id(person.damstra_user_id)})
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:damstra:{n}") for n in lessons],
            "scheduleDate": "2026-12-01T09:00:00+10:00",
            "gracePeriod": {"amount": 14, "unit": "DAYS"},
        },
    )
    assert payload["userErrors"] == []
    assert len(payload["schedules"]) == 2
    assert gateway.log(Source.DAMSTRA).count("POST", f"/user/{person.damstra_user_id}/lesson_schedule") == 1
    for lesson_id, result in zip(lessons, payload["results"], strict=True):
        made = damstra_schedules_of(gateway, person, lesson_id)
        assert len(made) == 1 and made[0].status in ("scheduled", "due")
        assert made[0].start_date.isoformat() == "2026-11-30T23:00:00+00:00"
        assert (made[0].end_date - made[0].start_date).days == 14
        assert result["schedule"]["id"] == gid(f"Schedule:damstra:{made[0].id}")
    after = await gateway.data(SCHEDULES, {"id": damstra_user_id(person.damstra_user_id)})
    new_ids = {e["node"]["id"] for e in after["user"]["schedules"]["edges"]} - {
        e["node"]["id"] for e in before["user"]["schedules"]["edges"]
    }
    assert new_ids == {s["id"] for s in payload["schedules"]}


async def test_schedule_lessons_reports_each_lesson_and_writes_only_what_it_can(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    state = gateway.sandbox.world.damstra
    busy = next(
        s.lesson_id
        for s in state.schedules.values()
        if s.user_id == person.damstra_user_id and s.status in ("scheduled", "due", "overdue")
    )
    free = unscheduled_lessons(gateway, person, 1)[0]
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [
                gid(f"Lesson:damstra:{busy}"),
                gid(f"Lesson:damstra:{free}"),
                gid("Lesson:damstra:999999"),
                gid("Lesson:learninglogin:WHMIS"),
                gid("Group:damstra:200"),
            ],
        },
    )
    results = payload["results"]
    assert [r["userErrors"][0]["code"] if r["userErrors"] else None for r in results] == [
        "ALREADY_SCHEDULED",
        None,
        "NOT_FOUND",
        "NOT_SUPPORTED_BY_SOURCE",
        "INVALID_INPUT",
    ]
    assert results[2]["userErrors"][0]["field"] == ["lessonIds", "2"]
    assert len(damstra_schedules_of(gateway, person, free)) == 1
    assert len(payload["schedules"]) == 1


async def test_upstream_refusal_of_the_whole_call_reaches_every_item(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    # DAMSTRA refuses: the lesson is not active (the gateway's cached copy still says it is).
    await gateway.data(
        "query($id: ID!) { lesson(id: $id) { name } }", {"id": gid(f"Lesson:damstra:{lesson}")}
    )
    gateway.sandbox.world.damstra.lessons[lesson].status = "inactive"
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        },
    )
    assert codes(payload) == ["UPSTREAM_REJECTED"]
    assert (
        "not active" in payload["userErrors"][0]["message"]
        or "inactive" in payload["userErrors"][0]["message"]
    )
    assert damstra_schedules_of(gateway, person, lesson) == []


async def test_schedule_input_is_checked_before_any_upstream_call(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = gid(f"Lesson:damstra:{unscheduled_lessons(gateway, person, 1)[0]}")
    gateway.clear_logs()
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"userId": damstra_user_id(person.damstra_user_id), "lessonIds": []}, ["lessonIds"]),
        (
            {
                "userId": damstra_user_id(person.damstra_user_id),
                "lessonIds": [lesson],
                "gracePeriod": {"amount": 3},
            },
            ["gracePeriod", "unit"],
        ),
        (
            {
                "userId": damstra_user_id(person.damstra_user_id),
                "lessonIds": [lesson],
                "gracePeriod": {"amount": -1, "unit": "DAYS"},
            },
            ["gracePeriod", "amount"],
        ),
        ({"userId": gid("Lesson:damstra:1"), "lessonIds": [lesson]}, ["userId"]),
        ({"userId": "garbage", "lessonIds": [lesson]}, ["userId"]),
    ]
    for input_value, field in cases:
        payload = await mutate(gateway, SCHEDULE, "scheduleLessons", input_value)
        assert payload["userErrors"][0]["field"] == field, input_value
        assert codes(payload) == ["INVALID_INPUT"]
    assert sum(len(c.log.entries) for c in gateway.sandbox.controls.values()) == 0


async def test_an_unknown_user_is_not_found(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {"userId": gid("User:damstra:987654"), "lessonIds": [gid(f"Lesson:damstra:{lesson}")]},
    )
    assert payload["userErrors"][0]["field"] == ["userId"]
    assert codes(payload) == ["NOT_FOUND"]


async def test_scheduling_sends_the_least_the_upstream_allows(gateway: Gateway) -> None:
    """A DAMSTRA user ID is the account: no read of the user or their schedules before the write;
    the lesson's version id comes from the cache once read; the new schedule is read back."""
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    await gateway.data(
        "query($id: ID!) { lesson(id: $id) { name } }", {"id": gid(f"Lesson:damstra:{lesson}")}
    )
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        },
    )
    assert payload["userErrors"] == []
    log = gateway.log(Source.DAMSTRA)
    assert [(e.method, e.path) for e in log.entries] == [
        ("POST", f"/user/{person.damstra_user_id}/lesson_schedule"),
        ("GET", f"/lesson_schedule/{damstra_schedules_of(gateway, person, lesson)[0].id}"),
    ]


async def test_training_records_packages_become_records(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA, Source.TRAINING_RECORDS)
    state = gateway.sandbox.world.training_records
    held = {
        r.package_api_id
        for r in state.records.values()
        if r.person_api_id == person.training_records_person_api_id
    }
    package = next(p for p in state.packages if p not in held)
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:training_records:{package}")],
        },
    )
    assert payload["userErrors"] == []
    made = [
        r
        for r in state.records.values()
        if r.person_api_id == person.training_records_person_api_id and r.package_api_id == package
    ]
    assert len(made) == 1
    assert payload["schedules"][0]["id"] == gid(f"Schedule:training_records:{made[0].api_id}")
    again = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:training_records:{package}")],
        },
    )
    assert codes(again) == ["ALREADY_SCHEDULED"]
    dated = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:training_records:{package}")],
            "scheduleDate": "2026-12-01T00:00:00Z",
        },
    )
    assert codes(dated) == ["NOT_SUPPORTED_BY_SOURCE"]


async def test_a_person_without_an_account_in_the_lessons_source(gateway: Gateway) -> None:
    person = next(
        p for p in gateway.sandbox.world.people if p.damstra_user_id and not p.training_records_person_api_id
    )
    package = next(iter(gateway.sandbox.world.training_records.packages))
    payload = await mutate(
        gateway,
        SCHEDULE,
        "scheduleLessons",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonIds": [gid(f"Lesson:training_records:{package}")],
        },
    )
    assert codes(payload) == ["NO_ACCOUNT_IN_SOURCE"]


# -- idempotency and unknown outcomes ---------------------------------------------------------


async def test_a_repeated_idempotency_key_answers_the_first_result_without_a_second_write(
    gateway: Gateway,
) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lessons = unscheduled_lessons(gateway, person, 2)
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid(f"Lesson:damstra:{lessons[0]}")],
        "idempotencyKey": "k-1",
    }
    path = f"/user/{person.damstra_user_id}/lesson_schedule"
    gateway.clear_logs()
    first = await mutate(gateway, SCHEDULE, "scheduleLessons", input_value)
    second = await mutate(gateway, SCHEDULE, "scheduleLessons", input_value)
    assert first == second and first["userErrors"] == []
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 1
    assert len(damstra_schedules_of(gateway, person, lessons[0])) == 1

    concurrent = {**input_value, "lessonIds": [gid(f"Lesson:damstra:{lessons[1]}")], "idempotencyKey": "k-2"}
    answers = await asyncio.gather(
        *(mutate(gateway, SCHEDULE, "scheduleLessons", concurrent) for _ in range(3))
    )
    assert answers[0] == answers[1] == answers[2] and answers[0]["userErrors"] == []
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 2
    assert len(damstra_schedules_of(gateway, person, lessons[1])) == 1

    reused = await mutate(
        gateway, SCHEDULE, "scheduleLessons", {**input_value, "lessonIds": concurrent["lessonIds"]}
    )
    assert codes(reused) == ["IDEMPOTENCY_KEY_REUSED"]
    assert reused["userErrors"][0]["field"] == ["idempotencyKey"]


async def test_a_write_that_times_out_is_settled_by_its_repeat_without_a_second_write(
    loopback_gateway: Gateway,
) -> None:
    gateway = loopback_gateway
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    path = f"/user/{person.damstra_user_id}/lesson_schedule"
    # DAMSTRA makes the schedule but answers too late.
    gateway.sandbox.controls[Source.DAMSTRA].faults.slow_next_write = 1
    gateway.clear_logs()
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        "idempotencyKey": "t-1",
    }
    payload = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    assert codes(payload) == ["UPSTREAM_TIMEOUT"]
    assert "not re-sent" in payload["userErrors"][0]["message"]
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 1
    [made] = damstra_schedules_of(gateway, person, lesson)  # it did happen, once
    # The same key asks DAMSTRA, finds the schedule, and says so; it never sends the write again.
    again = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    assert again["userErrors"] == [] and again["warnings"] == []
    assert again["results"] == [
        {
            "lessonId": input_value["lessonIds"][0],
            "schedule": {"id": gid(f"Schedule:damstra:{made.id}")},
            "userErrors": [],
            "alreadyDone": True,
        }
    ]
    assert await mutate(gateway, SETTLED, "scheduleLessons", input_value) == again  # settled: answered again
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 1


async def test_a_repeat_after_the_upstream_was_down_writes_what_is_missing(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    path = f"/user/{person.damstra_user_id}/lesson_schedule"
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid("Lesson:iscout:T-1"), gid(f"Lesson:damstra:{lesson}")],
        "idempotencyKey": "down-1",
    }
    await gateway.data(
        "query($id: ID!) { lesson(id: $id) { name } }", {"id": gid(f"Lesson:damstra:{lesson}")}
    )
    faults = gateway.sandbox.controls[Source.DAMSTRA].faults
    faults.error_rate = 1.0  # DAMSTRA is down: the write fails (the lesson is cached)
    gateway.clear_logs()
    first = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    assert [codes(r) for r in first["results"]] == [["NOT_SUPPORTED_BY_SOURCE"], ["UPSTREAM_UNAVAILABLE"]]
    assert not damstra_schedules_of(gateway, person, lesson)
    faults.error_rate = 0.0  # back
    second = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    # The final item is answered as it was; the open one is settled now: written, once.
    assert second["results"][0] == first["results"][0]
    [made] = damstra_schedules_of(gateway, person, lesson)
    assert second["results"][1] == {
        "lessonId": input_value["lessonIds"][1],
        "schedule": {"id": gid(f"Schedule:damstra:{made.id}")},
        "userErrors": [],
        "alreadyDone": False,
    }
    assert codes(second) == ["NOT_SUPPORTED_BY_SOURCE"]
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 2  # the failed one, and this one
    assert await mutate(gateway, SETTLED, "scheduleLessons", input_value) == second
    assert gateway.log(Source.DAMSTRA).count("POST", path) == 2


async def test_a_schedule_not_read_back_is_done_with_a_warning(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]

    async def unreadable(self: DamstraClient, schedule_id: object) -> None:
        raise UpstreamUnavailable("damstra", "DAMSTRA answered HTTP 503")

    monkeypatch.setattr(DamstraClient, "get_lesson_schedule", unreadable)
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
        "idempotencyKey": "unread-1",
    }
    payload = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    [made] = damstra_schedules_of(gateway, person, lesson)
    assert payload["userErrors"] == [] and payload["results"][0]["userErrors"] == []
    [warning] = payload["warnings"]
    assert (warning["field"], warning["code"]) == (["lessonIds", "0"], "NOT_READ_BACK")
    assert str(made.id) in warning["message"]
    monkeypatch.undo()
    # Not read back is open: the repeat reads it, and finds it done.
    again = await mutate(gateway, SETTLED, "scheduleLessons", input_value)
    assert again["warnings"] == [] and again["results"][0]["alreadyDone"] is True
    assert again["results"][0]["schedule"] == {"id": gid(f"Schedule:damstra:{made.id}")}
    assert len(damstra_schedules_of(gateway, person, lesson)) == 1


# -- completeLesson -----------------------------------------------------------------------------


async def test_complete_lesson_completes_the_open_damstra_schedule(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    state = gateway.sandbox.world.damstra
    open_schedule = next(
        s
        for s in state.schedules.values()
        if s.user_id == person.damstra_user_id and s.status in ("due", "overdue")
    )
    confirmer = next(p for p in gateway.sandbox.world.people if p.damstra_user_id and p is not person)
    payload = await mutate(
        gateway,
        COMPLETE,
        "completeLesson",
        {
            "userId": damstra_user_id(person.damstra_user_id),
            "lessonId": gid(f"Lesson:damstra:{open_schedule.lesson_id}"),
            "completedAt": "2026-10-30T14:00:00-04:00",
            "completedById": damstra_user_id(confirmer.damstra_user_id),
        },
    )
    assert payload["userErrors"] == []
    assert open_schedule.status == "completed"
    assert (
        open_schedule.completed is not None
        and open_schedule.completed.isoformat() == "2026-10-30T18:00:00+00:00"
    )
    assert open_schedule.completed_by == confirmer.damstra_user_id
    assert payload["schedule"] == {
        "id": gid(f"Schedule:damstra:{open_schedule.id}"),
        "source": "DAMSTRA",
        "status": "COMPLETED",
        "completedAt": "2026-10-30T18:00:00Z",
    }
    shown = await gateway.data(
        "query($id: ID!) { schedule(id: $id) { status } }",
        {"id": gid(f"Schedule:damstra:{open_schedule.id}")},
    )
    assert shown["schedule"]["status"] == "COMPLETED"


async def test_complete_lesson_refusals(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA, Source.TRAINING_RECORDS)
    cases = [
        ({"lessonId": gid("Lesson:iscout:T-1")}, "NOT_SUPPORTED_BY_SOURCE", ["lessonId"]),
        ({"lessonId": gid("Lesson:damstra:999999")}, "NOT_FOUND", ["lessonId"]),
        (
            {"lessonId": gid("Lesson:damstra:1"), "completedAt": "2099-01-01T00:00:00Z"},
            "INVALID_INPUT",
            ["completedAt"],
        ),
        (
            # No open record: a completed one is created, and TRAINING_RECORDS refuses an unknown package.
            {"lessonId": gid("Lesson:training_records:never-assigned-pkg")},
            "UPSTREAM_REJECTED",
            ["lessonId"],
        ),
        (
            {"lessonId": gid("Lesson:damstra:1"), "startedAt": "2099-01-01T00:00:00Z"},
            "INVALID_INPUT",
            ["startedAt"],
        ),
        (
            {"lessonId": gid("Lesson:damstra:1"), "startedAt": "2026-10-01T00:00:00Z"},
            "NOT_SUPPORTED_BY_SOURCE",
            ["startedAt"],
        ),
    ]
    for extra, code, field in cases:
        payload = await mutate(
            gateway,
            COMPLETE,
            "completeLesson",
            {"userId": damstra_user_id(person.damstra_user_id), **extra},
        )
        assert (codes(payload), payload["userErrors"][0]["field"]) == ([code], field), extra


def training_records_user(gateway: Gateway, person_api_id: str) -> str:
    person = next(
        p for p in gateway.sandbox.world.people if p.training_records_person_api_id == person_api_id
    )
    if person.damstra_user_id:
        return damstra_user_id(person.damstra_user_id)
    return user_id("training_records", person_api_id)


def record_writes(gateway: Gateway) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (e.method, e.path, orjson.loads(e.body) if e.body else {})
        for e in gateway.log(Source.TRAINING_RECORDS).entries
        if e.method not in ("GET", "HEAD")
    ]


async def test_complete_lesson_on_an_open_training_record_replaces_it_with_put(gateway: Gateway) -> None:
    state = gateway.sandbox.world.training_records
    record = next(r for r in state.records.values() if r.date_completed is None and r.date_started is None)
    user = training_records_user(gateway, record.person_api_id)
    lesson = gid(f"Lesson:training_records:{record.package_api_id}")
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        COMPLETE,
        "completeLesson",
        {
            "userId": user,
            "lessonId": lesson,
            "completedAt": "2026-10-31T12:00:00Z",
            "startedAt": "2026-10-30T09:00:00Z",
        },
    )
    assert payload["userErrors"] == []
    held = state.records[record.api_id]  # the sandbox stores a replaced copy
    assert held.date_completed is not None and held.date_completed.isoformat() == "2026-10-31T12:00:00+00:00"
    assert held.date_started is not None and held.date_started.isoformat() == "2026-10-30T09:00:00+00:00"
    assert payload["schedule"]["status"] == "COMPLETED"
    # One write: the whole record, as the document's PUT body lists it.
    assert record_writes(gateway) == [
        (
            "PUT",
            f"/training/record/{record.api_id}/",
            {
                "api_id": record.api_id,
                "person_api_id": record.person_api_id,
                "package_api_id": record.package_api_id,
                "date_started": "2026-10-30T09:00:00Z",
                "date_completed": "2026-10-31T12:00:00Z",
            },
        )
    ]


async def test_complete_lesson_with_no_open_training_record_creates_a_completed_one(gateway: Gateway) -> None:
    state = gateway.sandbox.world.training_records
    record = next(r for r in state.records.values() if r.date_completed is None)
    person_api_id, package = record.person_api_id, record.package_api_id
    user = training_records_user(gateway, person_api_id)
    # A package the person holds no record of at all.
    held = {r.package_api_id for r in state.records.values() if r.person_api_id == person_api_id}
    fresh = next(p for p in sorted(state.packages) if p not in held)
    for target in (fresh, package):
        if target == package:  # ...and one whose only record is already completed
            await mutate(
                gateway,
                COMPLETE,
                "completeLesson",
                {"userId": user, "lessonId": gid(f"Lesson:training_records:{package}")},
            )
        before = set(state.records)
        gateway.clear_logs()
        payload = await mutate(
            gateway,
            COMPLETE,
            "completeLesson",
            {
                "userId": user,
                "lessonId": gid(f"Lesson:training_records:{target}"),
                "completedAt": "2026-10-31T12:00:00Z",
                "startedAt": "2026-10-29T08:30:00Z",
            },
        )
        assert payload["userErrors"] == [], target
        assert payload["schedule"]["status"] == "COMPLETED"
        (new_id,) = set(state.records) - before
        created = state.records[new_id]
        assert (created.person_api_id, created.package_api_id) == (person_api_id, target)
        assert created.date_completed is not None and created.date_started is not None
        assert created.date_completed.isoformat() == "2026-10-31T12:00:00+00:00"
        assert created.date_started.isoformat() == "2026-10-29T08:30:00+00:00"
        # ONE upstream write: the document's Create with the completion's dates.
        assert record_writes(gateway) == [
            (
                "POST",
                "/training/record/",
                {
                    "person_api_id": person_api_id,
                    "package_api_id": target,
                    "date_started": "2026-10-29T08:30:00Z",
                    "date_completed": "2026-10-31T12:00:00Z",
                },
            )
        ]
        assert payload["schedule"]["id"] == gid(f"Schedule:training_records:{new_id}")


async def test_complete_lesson_refuses_a_start_after_the_completion(gateway: Gateway) -> None:
    state = gateway.sandbox.world.training_records
    record = next(r for r in state.records.values() if r.date_completed is None)
    gateway.clear_logs()
    payload = await mutate(
        gateway,
        COMPLETE,
        "completeLesson",
        {
            "userId": training_records_user(gateway, record.person_api_id),
            "lessonId": gid(f"Lesson:training_records:{record.package_api_id}"),
            "completedAt": "2026-10-01T12:00:00Z",
            "startedAt": "2026-10-02T12:00:00Z",
        },
    )
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["startedAt"], "INVALID_INPUT")]
    assert record_writes(gateway) == []


async def test_schedule_lessons_records_a_training_records_start(gateway: Gateway) -> None:
    state = gateway.sandbox.world.training_records
    record = next(r for r in state.records.values() if r.date_completed is None)
    person_api_id = record.person_api_id
    held = {r.package_api_id for r in state.records.values() if r.person_api_id == person_api_id}
    fresh = next(p for p in sorted(state.packages) if p not in held)
    gateway.clear_logs()
    data = await gateway.data(
        """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
            schedules { id status startedAt } userErrors { field code } } }""",
        {
            "input": {
                "userId": training_records_user(gateway, person_api_id),
                "lessonIds": [gid(f"Lesson:training_records:{fresh}")],
                "startedAt": "2026-10-20T10:00:00Z",
            }
        },
    )
    payload = data["scheduleLessons"]
    assert payload["userErrors"] == []
    assert payload["schedules"][0]["startedAt"] == "2026-10-20T10:00:00Z"
    assert payload["schedules"][0]["status"] == "IN_PROGRESS"
    writes = record_writes(gateway)
    assert [(m, p, b.get("date_started")) for m, p, b in writes] == [
        ("POST", "/training/record/", "2026-10-20T10:00:00Z")
    ]


# -- unassignCourses ----------------------------------------------------------------------------


def learninglogin_person(gateway: Gateway) -> tuple[SeededPerson, str]:
    """A person whose identity entry names their LEARNINGLOGIN username, and their global ID."""
    world = gateway.sandbox.world
    for entry in world.identity_entries:
        if "learninglogin_username" in entry and "learninglogin_login_id" in entry:
            person = next(
                p for p in world.people if p.learninglogin_login_id == entry["learninglogin_login_id"]
            )
            if any(
                ts.login_id == person.learninglogin_login_id
                for ts in world.learninglogin.train_sessions.values()
            ):
                return person, user_id("learninglogin", person.learninglogin_login_id)
    raise AssertionError("no linked LEARNINGLOGIN person in the sandbox")


async def test_unassign_by_course_codes_removes_the_sessions_and_counts_them(gateway: Gateway) -> None:
    person, user = learninglogin_person(gateway)
    sessions = gateway.sandbox.world.learninglogin.train_sessions
    theirs = [ts for ts in sessions.values() if ts.login_id == person.learninglogin_login_id]
    code = theirs[0].course_code
    expected = sum(1 for ts in theirs if ts.course_code == code)
    payload = await mutate(
        gateway, UNASSIGN, "unassignCourses", {"userId": user, "courseCodes": [code, "NO-SUCH-COURSE"]}
    )
    assert payload["unassignedCount"] == expected
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["courseCodes", "1"])]
    assert not any(
        ts.login_id == person.learninglogin_login_id and ts.course_code == code for ts in sessions.values()
    )


async def test_unassign_that_matches_nothing_is_the_upstreams_not_found(gateway: Gateway) -> None:
    person, user = learninglogin_person(gateway)
    payload = await mutate(
        gateway, UNASSIGN, "unassignCourses", {"userId": user, "courseCodes": ["NO-SUCH-COURSE"]}
    )
    assert codes(payload) == ["NOT_FOUND"]
    # LEARNINGLOGIN's 200 "Could not find any corresponding train sessions.", as a refusal.
    assert payload["userErrors"][0]["message"] == "LEARNINGLOGIN found no train session to unassign"
    assert payload["unassignedCount"] == 0


async def test_unassign_by_schedule_ids_across_sources(gateway: Gateway) -> None:
    world = gateway.sandbox.world
    person, user = learninglogin_person(gateway)
    session = next(
        ts
        for ts in world.learninglogin.train_sessions.values()
        if ts.login_id == person.learninglogin_login_id
    )
    someone_elses = next(
        ts
        for ts in world.learninglogin.train_sessions.values()
        if ts.login_id != person.learninglogin_login_id
    )
    ids = [
        gid(f"Schedule:learninglogin:{session.id}"),
        gid(f"Schedule:learninglogin:{someone_elses.id}"),
        gid("Schedule:damstra:1"),
    ]
    if person.training_records_person_api_id:
        record = next(
            (
                r
                for r in world.training_records.records.values()
                if r.person_api_id == person.training_records_person_api_id
            ),
            None,
        )
    else:
        record = None
    if record is not None:
        ids.append(gid(f"Schedule:training_records:{record.api_id}"))
    payload = await mutate(gateway, UNASSIGN, "unassignCourses", {"userId": user, "scheduleIds": ids})
    assert session.id not in world.learninglogin.train_sessions
    assert someone_elses.id in world.learninglogin.train_sessions
    assert sorted((e["field"][1], e["code"]) for e in payload["userErrors"]) == [
        ("1", "NOT_FOUND"),
        ("2", "NOT_SUPPORTED_BY_SOURCE"),
    ]
    assert payload["unassignedCount"] == 1 + (record is not None)
    if record is not None:
        assert record.api_id not in world.training_records.records


async def test_unassign_needs_exactly_one_way(gateway: Gateway) -> None:
    _, user = learninglogin_person(gateway)
    extras: list[dict[str, Any]] = [
        {},
        {"courseCodes": ["A"], "scheduleIds": [gid("Schedule:learninglogin:1")]},
        {"courseCodes": []},
    ]
    for extra in extras:
        payload = await mutate(gateway, UNASSIGN, "unassignCourses", {"userId": user, **extra})
        assert codes(payload) == ["INVALID_INPUT"], extra


async def test_a_date_time_without_its_offset_is_refused_before_anything_runs(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = gid(f"Lesson:damstra:{unscheduled_lessons(gateway, person, 1)[0]}")
    gateway.clear_logs()
    body = await gateway.query(
        SCHEDULE,
        {
            "input": {
                "userId": damstra_user_id(person.damstra_user_id),
                "lessonIds": [lesson],
                "scheduleDate": "2026-12-01T09:00:00",
            }
        },
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "no UTC offset" in body["errors"][0]["message"]
    assert sum(len(c.log.entries) for c in gateway.sandbox.controls.values()) == 0
