"""The DAMSTRA connector's reads of lesson details, a schedule's questionnaire (whether it was passed),
both embedded players and the list filters by role and by schedule: against the sandbox, and the records
against the API document's own samples."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import pytest

from gateway.errors import UpstreamNotFound, UpstreamRejected
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.damstra.records import DamstraLesson, DamstraSchedule, DamstraUser
from sandbox.controls import RequestLog
from sandbox.server import Sandbox
from sandbox.world import DamstraState

# The API document's samples, as it prints them.
DOCUMENT_LESSON = {
    "lessonVersionId": 1,
    "lessonId": 1234,
    "name": "Lesson One",
    "duration": 133000,
    "status": "active",
    "inLibrary": False,
    "version": 1,
    "questionnaireType": 18,
    "clientId": 1,
    "lessonVersionCustomFields": [
        {
            "lessonVersionId": 22,
            "customFieldId": 111,
            "customFieldDescription": "Description of field",
            "fieldId": "customField1",
            "type": "string",
            "value": "Field Value",
            "id": 98765,
            "createdDate": "2015-10-29T15:28:59+0000",
            "modifiedDate": "2015-10-29T15:28:59+0000",
        }
    ],
    "createdDate": "2015-10-29T15:28:59+0000",
    "modifiedDate": "2015-10-29T15:28:59+0000",
}
DOCUMENT_LESSON_DETAILS = {
    "lessonVersionId": 1,
    "lessonId": 1234,
    "name": "Lesson One",
    "published": 65,
    "duration": 133000,
    "status": "active",
    "inLibrary": False,
    "version": 1,
    "clientId": 1,
}
DOCUMENT_USER = {
    "userName": "smithjohn",
    "firstName": "John",
    "lastName": "Smith",
    "emailAddress": "jsmith@yourorganisation.com",
    "mobileNumber": "0412 345 678",
    "phoneNumber": "94123456",
    "lastLoggedInDate": "2016-09-05T06:45:53.000Z",
    "active": True,
    "id": 12345,
    "createdDate": "2015-11-19T05:04:43.000Z",
    "modifiedDate": "2016-09-05T06:45:53.000Z",
}


@pytest.fixture
async def client(connect: Callable[..., DamstraClient]) -> AsyncIterator[DamstraClient]:
    damstra = connect(DamstraClient, Source.DAMSTRA)
    yield damstra
    await damstra.aclose()


@pytest.fixture
def state(sandbox: Sandbox) -> DamstraState:
    return sandbox.world.damstra


@pytest.fixture
def log(sandbox: Sandbox) -> RequestLog:
    return sandbox.controls[Source.DAMSTRA].log


# -- records off the document's samples ---------------------------------------------------------


def test_the_documents_user_sample_carries_phones_and_dates() -> None:
    user = DamstraUser.model_validate(DOCUMENT_USER)
    assert (user.phone_number, user.mobile_number) == ("94123456", "0412 345 678")
    assert user.last_logged_in_date is not None and user.last_logged_in_date.isoformat() == (
        "2016-09-05T06:45:53+00:00"
    )
    assert user.created_date is not None and user.created_date.isoformat() == "2015-11-19T05:04:43+00:00"
    # The other sample's shape: `2015-10-29T15:28:59+0000`.
    other = DamstraUser.model_validate({"id": 1, "createdDate": "2015-10-29T15:28:59+0000"})
    assert other.created_date is not None and other.created_date.isoformat() == "2015-10-29T15:28:59+00:00"


def test_the_documents_lesson_samples() -> None:
    lesson = DamstraLesson.model_validate(DOCUMENT_LESSON)
    assert (lesson.in_library, lesson.questionnaire_type) == (False, 18)
    (field,) = lesson.lesson_version_custom_fields or []
    assert (field.name, field.value, field.field_id) == (
        "Description of field",
        "Field Value",
        "customField1",
    )
    details = DamstraLesson.model_validate(DOCUMENT_LESSON_DETAILS)
    assert details.published == 65 and details.lesson_version_custom_fields is None
    assert (details.question_count, details.questionnaire_pass_rate, details.lesson_thumbnail) == (None,) * 3


def _schedule(**fields: Any) -> DamstraSchedule:
    return DamstraSchedule.model_validate({"id": 98765, "lessonId": 123, **fields})


def test_whether_a_schedule_was_passed() -> None:
    done = {"status": "completed", "lessonCompletedDate": "2016-08-24T16:00:00.000Z"}
    right = [{"correct": True}] * 7 + [{"correct": False}]
    assert _schedule(status="due").has_passed is None  # not completed: nothing to tell
    assert _schedule(**done, questionCount=0).has_passed is True  # no questions: nothing to fail
    assert _schedule(**done, questionCount=8, questionnairePassRate=80, questionResults=right).has_passed
    assert (
        _schedule(**done, questionCount=8, questionnairePassRate=90, questionResults=right).has_passed
        is False
    )
    # The document's sample: completed (by its dates), 8 questions, no results shown: it cannot tell.
    sample = _schedule(
        lessonCompletedDate="2016-08-24T16:00:00.000Z",
        questionResults=[],
        questionCount=8,
        questionnairePassRate=80,
    )
    assert sample.has_passed is None and sample.needs_detail_for_passed
    assert not _schedule(**done, questionCount=0).needs_detail_for_passed
    # Odd shapes read as unknown, never as a failure to parse.
    odd = _schedule(**done, questionCount="8", questionResults="n/a", questionnairePassRate=None)
    assert odd.question_count == 8 and odd.question_results == [] and odd.has_passed is None


# -- against the sandbox -----------------------------------------------------------------------


async def test_lesson_details_in_one_request(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    ids = sorted(state.lessons)[:30]
    log.clear()
    found = await client.get_lesson_details_by_id(ids)
    assert log.paths() == [
        f"GET /lessondetails?startIndex=0&maxResults={len(ids)}&lessonIds={'%2C'.join(map(str, ids))}"
    ]
    assert sorted(lesson.lesson_id for lesson in found) == ids
    for lesson in found:
        row = state.lessons[lesson.lesson_id]
        assert (lesson.question_count, lesson.questionnaire_pass_rate) == (row.question_count, row.pass_rate)
        assert lesson.lesson_thumbnail and str(row.lesson_version_id) in lesson.lesson_thumbnail
        assert [(f.field_id, f.name, f.value) for f in lesson.lesson_version_custom_fields or []] == (
            row.custom_fields
        )


async def test_a_schedules_detail_tells_whether_it_was_passed(
    client: DamstraClient, state: DamstraState
) -> None:
    completed = [s for _, s in sorted(state.schedules.items()) if s.status == "completed"]
    with_questions = [s for s in completed if state.lessons[s.lesson_id].question_count]
    assert any(s.passed for s in with_questions) and any(not s.passed for s in with_questions)
    for row in with_questions[:12]:
        assert (await client.get_lesson_schedule(row.id)).has_passed is row.passed
    listed = await client.user_schedules(with_questions[0].user_id, status="completed").all()
    assert listed and all(s.has_passed is None or s.question_count == 0 for s in listed)


async def test_the_player_for_every_lesson_type(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    due = next(s for _, s in sorted(state.schedules.items()) if s.status == "due")
    log.clear()
    url = await client.get_embed_url(due.id)
    narrow = await client.get_video_embed_url(due.id)
    assert log.paths() == [
        f"GET /embed_player/version/{due.id}",
        f"GET /embed_player?lessonScheduleId={due.id}",
    ]
    assert url == narrow and url.startswith(f"https://app.velpic.com/#player/{due.id}?embed=true&token=")
    done = next(s for _, s in sorted(state.schedules.items()) if s.status == "completed")
    with pytest.raises(UpstreamRejected) as rejected:
        await client.get_embed_url(done.id)
    assert rejected.value.upstream_code == 837
    with pytest.raises(UpstreamNotFound) as missing:
        await client.get_embed_url(7)
    assert missing.value.upstream_code == 840


async def test_users_by_role(client: DamstraClient, state: DamstraState, log: RequestLog) -> None:
    log.clear()
    page = await client.users(role_id=8, active_value="all").window(max_results=100)
    assert sorted(u.id for u in page.items) == sorted(uid for uid, u in state.users.items() if 8 in u.roles)
    assert parse_qs(log.entries[0].query)["roleId"] == ["8"]


async def test_ilt_sessions_by_lesson_schedule(
    client: DamstraClient, state: DamstraState, log: RequestLog
) -> None:
    attendee = next(a for _, a in sorted(state.attendees.items()))
    log.clear()
    page = await client.ilt_sessions(lesson_schedule_id=attendee.lesson_schedule_id).window()
    assert [s.id for s in page.items] == [attendee.session_id]
    assert parse_qs(log.entries[0].query)["lessonScheduleId"] == [str(attendee.lesson_schedule_id)]
