"""Instructor-led training sessions, their attendees, and what completing or cancelling one does."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.damstra import webhooks
from sandbox.damstra.common import (
    OPEN_STATUSES,
    ApiError,
    DamstraApi,
    bad_request,
    body_object,
    empty_response,
    error_body,
    field_bool,
    field_datetime,
    field_int,
    field_ints,
    field_str,
    json_response,
    not_found,
    paged,
    path_id,
    query_int,
    route,
    to_int,
)
from sandbox.damstra.shapes import (
    ILT_STATES,
    attendee_json,
    ilt_session_detail_json,
    ilt_session_json,
    ilt_state,
)
from sandbox.world import DamstraAttendeeRow, DamstraILTSessionRow, DamstraScheduleRow

ACTIVE, COMPLETED, CANCELLED = 1, 2, 3
DEFAULT_PLACES = 20
# The only cancellation reason the API document shows; it promises a table of others that it never gives.
CANCELLATION_REASON = "SCHEDULE_CANCELLED_MANUALLY"


def _attendees(api: DamstraApi, session_id: int) -> list[DamstraAttendeeRow]:
    return api.state.attendees_of(session_id)


def _choice(request: Request, name: str, allowed: range | dict[int, str]) -> int | None:
    value = query_int(request, name)
    if value is not None and value not in allowed:
        raise bad_request(f"{name} must be one of {', '.join(map(str, allowed))}")
    return value


async def list_sessions(api: DamstraApi, request: Request) -> Response:
    state = _choice(request, "state", ILT_STATES)
    status = _choice(request, "status", range(1, 4))
    instructor = query_int(request, "instructorId")
    schedule_id = query_int(request, "lessonScheduleId")
    # A schedule's sessions are the ones it is registered in (attendees link the two).
    registered = api.state.sessions_registering(schedule_id) if schedule_id is not None else None
    now = api.now()
    found = [
        s
        for _, s in sorted(api.state.ilt_sessions.items())
        if (state is None or ilt_state(s, now) == state)
        and (status is None or s.status_id == status)
        and (instructor is None or s.instructor_id == instructor)
        and (registered is None or s.id in registered)
    ]
    return json_response(paged(found, request, lambda s: ilt_session_json(api.state, s)))


def _detail(api: DamstraApi, session: DamstraILTSessionRow) -> Response:
    return json_response(ilt_session_detail_json(api.state, session, _attendees(api, session.id), api.now()))


async def get_session(api: DamstraApi, request: Request) -> Response:
    return _detail(api, api.session(path_id(request, "iltSessionId")))


def _places(body: dict[str, Any]) -> int | None:
    places = field_int(body, "numberOfPlaces")
    if places is not None and places < 0:
        raise bad_request("numberOfPlaces must not be negative")
    return places


async def create_session(api: DamstraApi, request: Request) -> Response:
    body = await body_object(request)
    lesson = api.lesson(field_int(body, "lessonId", required=True) or 0)
    instructor = api.user(field_int(body, "instructorId", required=True) or 0)
    start = field_datetime(body, "startDatetime", required=True)
    end = field_datetime(body, "endDatetime", required=True)
    assert start is not None and end is not None
    if end < start:
        raise bad_request("endDatetime must not be before startDatetime")
    now = api.now()
    session = DamstraILTSessionRow(
        id=api.state.new_id(),
        lesson_id=lesson.lesson_id,
        instructor_id=instructor.id,
        status_id=ACTIVE,
        notes=field_str(body, "notes") or "",
        number_of_places=DEFAULT_PLACES if (places := _places(body)) is None else places,
        start=start,
        end=end,
        location=field_str(body, "location", required=True) or "",
        created=now,
        modified=now,
    )
    api.state.ilt_sessions[session.id] = session
    return json_response(ilt_session_json(api.state, session))


async def update_session(api: DamstraApi, request: Request) -> Response:
    session = api.session(path_id(request, "iltSessionId"))
    body = await body_object(request)
    instructor = field_int(body, "instructorId")
    status = field_int(body, "statusId")
    if status is not None and status not in (ACTIVE, COMPLETED, CANCELLED):
        raise bad_request("statusId must be 1, 2 or 3")
    start = field_datetime(body, "startDatetime") or session.start
    end = field_datetime(body, "endDatetime") or session.end
    if end < start:
        raise bad_request("endDatetime must not be before startDatetime")
    places = _places(body)
    if instructor is not None:
        session.instructor_id = api.user(instructor).id
    if status is not None:
        session.status_id = status
    for key, attr in (("notes", "notes"), ("location", "location")):
        if (text := field_str(body, key)) is not None:
            setattr(session, attr, text)
    if places is not None:
        session.number_of_places = places
    now = api.now()
    moved = start != session.start
    session.start, session.end, session.modified = start, end, now
    if moved:
        # The attendees' schedules start with the session, so moving it changes them.
        changed = []
        for schedule in _open_schedules(api, session):
            schedule.start_date, schedule.modified = start, now
            changed.append(webhooks.schedule_changed(schedule, now))
        api.webhooks.fire(*changed)
    return _detail(api, session)


def _open_schedules(api: DamstraApi, session: DamstraILTSessionRow) -> list[DamstraScheduleRow]:
    schedules = (api.state.schedules.get(a.lesson_schedule_id) for a in _attendees(api, session.id))
    return [s for s in schedules if s is not None and s.status in OPEN_STATUSES]


def _refuse_if(session: DamstraILTSessionRow, status: int, doing: str) -> None:
    if session.status_id == status:
        word = "cancelled" if status == CANCELLED else "completed"
        raise ApiError(
            400, error_body(400, f"ILT session {session.id} is {word}: it cannot be {doing}", "Invalid state")
        )


async def complete_session(api: DamstraApi, request: Request) -> Response:
    """Completes the session and every open lesson schedule registered in it."""
    session = api.session(path_id(request, "iltSessionId"))
    _refuse_if(session, CANCELLED, "completed")
    now = api.now()
    lesson = api.state.lessons.get(session.lesson_id)
    passed = {a.lesson_schedule_id: a.passed for a in _attendees(api, session.id)}
    events = []
    for schedule in _open_schedules(api, session):
        schedule.status, schedule.passed = "completed", passed.get(schedule.id, False)
        schedule.completed, schedule.completed_by, schedule.modified = now, session.instructor_id, now
        schedule.progress = lesson.duration_ms if lesson else schedule.progress
        events.append(webhooks.schedule_completed(schedule, now))
    session.status_id, session.modified = COMPLETED, now
    api.webhooks.fire(*events)
    return empty_response()


async def cancel_session(api: DamstraApi, request: Request) -> Response:
    """Cancels the session and the open lesson schedules registered in it (as the seeded world has them)."""
    session = api.session(path_id(request, "iltSessionId"))
    body = await body_object(request)
    _refuse_if(session, COMPLETED, "cancelled")
    trainees = field_bool(body, "iltSessionCancellationTraineeNotificationEnabled")
    instructors = field_bool(body, "iltSessionCancellationInstructorNotificationEnabled")
    now = api.now()
    if trainees is not None:
        session.trainee_notification = trainees
    if instructors is not None:
        session.instructor_notification = instructors
    events = []
    for schedule in _open_schedules(api, session):
        schedule.status, schedule.modified = "cancelled", now
        events.append(webhooks.schedule_cancelled(schedule, now, CANCELLATION_REASON))
    session.status_id, session.modified = CANCELLED, now
    api.webhooks.fire(*events)
    return empty_response()


async def bulk_register(api: DamstraApi, request: Request) -> Response:
    """ "The users will need to be scheduled to the lesson before registering": an open schedule each."""
    session = api.session(path_id(request, "iltSessionId"))
    user_ids = list(dict.fromkeys(field_ints(await body_object(request), "userIds")))
    _refuse_if(session, CANCELLED, "registered for")
    _refuse_if(session, COMPLETED, "registered for")
    for uid in user_ids:
        api.user(uid)
    open_schedules: dict[int, DamstraScheduleRow] = {}  # each user's oldest open schedule for the lesson
    for uid in user_ids:
        for schedule in api.state.schedules_of(uid):
            if schedule.lesson_id == session.lesson_id and schedule.status in OPEN_STATUSES:
                open_schedules[uid] = schedule
                break
    missing = [uid for uid in user_ids if uid not in open_schedules]
    if missing:
        body = error_body(
            400,
            f"Users {', '.join(map(str, missing))} are not scheduled for lesson {session.lesson_id}",
            "Users not scheduled",
        )
        raise ApiError(400, {**body, "userIds": missing})
    registered = {a.user_id for a in _attendees(api, session.id)}
    now = api.now()
    for uid in user_ids:
        if uid in registered:
            continue
        attendee = DamstraAttendeeRow(
            id=api.state.new_id(),
            user_id=uid,
            session_id=session.id,
            lesson_schedule_id=open_schedules[uid].id,
            registering_user_id=api.api_user_id or session.instructor_id,
            passed=False,
            attended=False,
            created=now,
            modified=now,
        )
        api.state.attendees[attendee.id] = attendee
    return empty_response()


async def bulk_deregister(api: DamstraApi, request: Request) -> Response:
    session = api.session(path_id(request, "iltSessionId"))
    user_ids = set(field_ints(await body_object(request), "userIds"))
    for attendee in _attendees(api, session.id):
        if attendee.user_id in user_ids:
            del api.state.attendees[attendee.id]
    return empty_response()


async def list_attendees(api: DamstraApi, request: Request) -> Response:
    session = api.session(path_id(request, "iltSessionId"))
    attendees = _attendees(api, session.id)
    render = functools.partial(attendee_json, api.state)
    if "startIndex" in request.query_params or "maxResults" in request.query_params:
        return json_response(paged(attendees, request, render))
    # The API document gives no paging parameters here: without them, every attendee comes back.
    meta = {"totalResultCount": len(attendees), "startIndex": 0, "endIndex": len(attendees)}
    return json_response({"results": [render(a) for a in attendees], "meta": meta})


async def save_progress(api: DamstraApi, request: Request) -> Response:
    session = api.session(path_id(request, "iltSessionId"))
    entries = (await body_object(request)).get("attendees")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise bad_request("attendees must be a list of {id, passed, attended}", "Missing field")
    mine = {a.id: a for a in _attendees(api, session.id)}
    updates = []
    for entry in entries:
        attendee_id = to_int(entry.get("id"), "attendees.id")
        if attendee_id not in mine:
            raise not_found("Attendee", attendee_id)
        updates.append((mine[attendee_id], field_bool(entry, "passed"), field_bool(entry, "attended")))
    now = api.now()
    for attendee, passed, attended in updates:
        if passed is not None:
            attendee.passed = passed
        if attended is not None:
            attendee.attended = attended
        attendee.modified = now
    return empty_response()


def routes(api: DamstraApi) -> list[Route]:
    return [
        route("/ilt_session", list_sessions, api),
        route("/ilt_session", create_session, api, ["POST"]),
        route("/ilt_session/{iltSessionId}", get_session, api),
        route("/ilt_session/{iltSessionId}", update_session, api, ["PATCH"]),
        route("/ilt_session/{iltSessionId}/complete", complete_session, api, ["POST"]),
        route("/ilt_session/{iltSessionId}/cancel_session", cancel_session, api, ["POST"]),
        route("/ilt_session/{iltSessionId}/bulk_register", bulk_register, api, ["POST"]),
        route("/ilt_session/{iltSessionId}/bulk_deregister", bulk_deregister, api, ["POST"]),
        route("/ilt_session/{iltSessionId}/attendees", list_attendees, api),
        route("/ilt_session/{iltSessionId}/save_progress", save_progress, api, ["POST"]),
    ]
