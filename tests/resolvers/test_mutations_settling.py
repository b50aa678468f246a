"""A repeat with the same idempotencyKey settles what the first attempt left open: it asks the upstream,
writes only what is missing (`alreadyDone`), or, where the upstream cannot say, answers OUTCOME_UNKNOWN.

The first attempt's answer is lost on purpose: the upstream does the write, then the connector raises
the timeout a slow answer would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.data.callers import Caller, Role
from gateway.errors import UpstreamTimeout
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from tests.conftest import Gateway
from tests.ids import damstra_user_id, gid
from tests.resolvers.test_mutations_ilt import ACTIVE, attendees, scheduled_outsider, session_id
from tests.resolvers.test_mutations_scheduling import learninglogin_person, person_with, unscheduled_lessons

ERRORS = "userErrors { field code } warnings { field code }"
REGISTRATION = "session { id } results { userId registered alreadyDone userErrors { code } } " + ERRORS


def lose_answers(monkeypatch: pytest.MonkeyPatch, client: type[Any], method: str) -> list[int]:
    """`client.method` still writes, but its answer never arrives (a timeout); the calls are counted."""
    original: Callable[..., Awaitable[Any]] = getattr(client, method)
    calls: list[int] = []

    async def lost(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        await original(self, *args, **kwargs)
        raise UpstreamTimeout(self.source.value, f"{self.source.name} did not answer in time")

    monkeypatch.setattr(client, method, lost)
    return calls


async def mutate(gateway: Gateway, field: str, input_type: str, value: dict[str, Any], selection: str) -> Any:
    query = f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ {selection} }} }}"
    return (await gateway.data(query, {"input": value}))[field]


async def test_registration_is_settled_by_asking_for_the_attendees(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    uid = scheduled_outsider(gateway, ACTIVE)
    calls = lose_answers(monkeypatch, DamstraClient, "bulk_register")
    value = {"sessionId": session_id(ACTIVE), "userIds": [damstra_user_id(uid)], "idempotencyKey": "r-1"}
    first = await mutate(gateway, "registerForILTSession", "ILTRegistrationInput", value, REGISTRATION)
    assert first["userErrors"] == [{"field": ["userIds", "0"], "code": "UPSTREAM_TIMEOUT"}]
    assert uid in {a.user_id for a in attendees(gateway, ACTIVE)}  # it happened
    again = await mutate(gateway, "registerForILTSession", "ILTRegistrationInput", value, REGISTRATION)
    assert again["userErrors"] == [] and again["warnings"] == []
    assert again["results"] == [
        {"userId": damstra_user_id(uid), "registered": True, "alreadyDone": True, "userErrors": []}
    ]
    assert len(calls) == 1


async def test_deregistration_is_settled_too(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = attendees(gateway, ACTIVE)[0].user_id
    assert uid is not None
    calls = lose_answers(monkeypatch, DamstraClient, "bulk_deregister")
    value = {"sessionId": session_id(ACTIVE), "userIds": [damstra_user_id(uid)], "idempotencyKey": "d-1"}
    first = await mutate(gateway, "deregisterFromILTSession", "ILTRegistrationInput", value, REGISTRATION)
    assert first["userErrors"] == [{"field": ["userIds", "0"], "code": "UPSTREAM_TIMEOUT"}]
    again = await mutate(gateway, "deregisterFromILTSession", "ILTRegistrationInput", value, REGISTRATION)
    # Not registered any more: done by the first attempt, not NOT_REGISTERED.
    assert again["userErrors"] == []
    assert again["results"][0] | {"userErrors": []} == {
        "userId": damstra_user_id(uid),
        "registered": False,
        "alreadyDone": True,
        "userErrors": [],
    }
    assert len(calls) == 1


async def test_a_completion_is_settled_by_the_completion_it_left(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lesson = unscheduled_lessons(gateway, person, 1)[0]
    calls = lose_answers(monkeypatch, DamstraClient, "complete_lesson")
    value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonId": gid(f"Lesson:damstra:{lesson}"),
        "idempotencyKey": "c-1",
    }
    selection = f"schedule {{ id status }} alreadyDone {ERRORS}"
    first = await mutate(gateway, "completeLesson", "CompleteLessonInput", value, selection)
    assert first["userErrors"] == [{"field": ["lessonId"], "code": "UPSTREAM_TIMEOUT"}]
    [made] = [
        s
        for s in gateway.sandbox.world.damstra.schedules.values()
        if s.user_id == person.damstra_user_id and s.lesson_id == lesson and s.status == "completed"
    ]
    again = await mutate(gateway, "completeLesson", "CompleteLessonInput", value, selection)
    assert again == {
        "schedule": {"id": gid(f"Schedule:damstra:{made.id}"), "status": "COMPLETED"},
        "alreadyDone": True,
        "userErrors": [],
        "warnings": [],
    }
    assert len(calls) == 1


async def test_an_unassign_is_settled_by_the_sessions_gone(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    person, user = learninglogin_person(gateway)
    sessions = gateway.sandbox.world.learninglogin.train_sessions
    code = next(ts.course_code for ts in sessions.values() if ts.login_id == person.learninglogin_login_id)
    calls = lose_answers(monkeypatch, LearningLoginClient, "unassign_courses")
    value = {"userId": user, "courseCodes": [code], "idempotencyKey": "u-1"}
    selection = f"unassignedCount alreadyDone {ERRORS}"
    first = await mutate(gateway, "unassignCourses", "UnassignCoursesInput", value, selection)
    assert first["userErrors"] == [{"field": ["courseCodes"], "code": "UPSTREAM_TIMEOUT"}]
    again = await mutate(gateway, "unassignCourses", "UnassignCoursesInput", value, selection)
    assert again == {"unassignedCount": 0, "alreadyDone": True, "userErrors": [], "warnings": []}
    assert len(calls) == 1


async def test_a_login_link_is_never_made_twice_blindly(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = lose_answers(monkeypatch, DamstraClient, "generate_login_url")
    value = {"userId": damstra_user_id(10_000), "expiresIn": "DAY", "idempotencyKey": "l-1"}
    selection = f"url {ERRORS}"
    first = await mutate(gateway, "generateLoginUrl", "GenerateLoginUrlInput", value, selection)
    assert [e["code"] for e in first["userErrors"]] == ["UPSTREAM_TIMEOUT"]
    again = await mutate(gateway, "generateLoginUrl", "GenerateLoginUrlInput", value, selection)
    assert again == {"url": None, "userErrors": [{"field": None, "code": "OUTCOME_UNKNOWN"}], "warnings": []}
    assert len(calls) == 1


async def test_a_first_attempt_that_sent_nothing_is_simply_run_again(gateway: Gateway) -> None:
    faults = gateway.sandbox.controls[Source.DAMSTRA].faults
    faults.error_rate = 1.0  # the user cannot be read: nothing is sent
    value = {"userId": damstra_user_id(10_000), "expiresIn": "DAY", "idempotencyKey": "l-2"}
    selection = f"url {ERRORS}"
    first = await mutate(gateway, "generateLoginUrl", "GenerateLoginUrlInput", value, selection)
    assert [e["code"] for e in first["userErrors"]] == ["UPSTREAM_UNAVAILABLE"]
    assert [e for e in gateway.log(Source.DAMSTRA).entries if e.method == "POST"] == []
    faults.error_rate = 0.0
    again = await mutate(gateway, "generateLoginUrl", "GenerateLoginUrlInput", value, selection)
    assert again["userErrors"] == [] and again["url"]


async def test_another_callers_key_never_answers_you(gateway: Gateway) -> None:
    person = person_with(gateway, Source.DAMSTRA)
    lessons = unscheduled_lessons(gateway, person, 1)
    value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid(f"Lesson:damstra:{lessons[0]}")],
        "idempotencyKey": "shared-key",
    }
    selection = f"results {{ alreadyDone userErrors {{ code }} }} {ERRORS}"
    async with (
        gateway.as_caller(Caller("ana", Role.ADMIN)) as ana,
        gateway.as_caller(Caller("ben", Role.ADMIN)) as ben,
    ):
        mine = await mutate(ana, "scheduleLessons", "ScheduleLessonsInput", value, selection)
        theirs = await mutate(ben, "scheduleLessons", "ScheduleLessonsInput", value, selection)
    assert mine["userErrors"] == []
    # Ben's request ran: DAMSTRA refused the second schedule, where a replay would have answered Ana's.
    assert [e["code"] for e in theirs["userErrors"]] == ["ALREADY_SCHEDULED"]


def test_every_mutation_payload_has_warnings() -> None:
    from graphql import get_named_type

    from resolvers.schema import schema

    mutation = schema._schema.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        payload = get_named_type(field.type)
        warnings = payload.fields.get("warnings")
        assert warnings is not None and str(warnings.type) == "[UserError!]!", name
