"""Lesson schedules: get, a user's list, schedule, complete, certificate; and the embedded player's URL."""

from __future__ import annotations

import base64
import calendar
import uuid
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.damstra import webhooks
from sandbox.damstra.certificate import certificate_pdf
from sandbox.damstra.common import (
    OPEN_STATUSES,
    ApiError,
    DamstraApi,
    bad_request,
    body_object,
    error_body,
    field_datetime,
    field_int,
    field_ints,
    field_str,
    json_response,
    page_of,
    path_id,
    query_int,
    route,
)
from sandbox.damstra.shapes import SCHEDULE_STATUS_IDS, schedule_detail_json, schedule_json
from sandbox.world import DamstraLessonRow, DamstraScheduleRow

DEFAULT_GRACE_DAYS = 14  # "the default grace period for the account": the sandbox account's is two weeks


async def get_schedule(api: DamstraApi, request: Request) -> Response:
    schedule = api.schedule(path_id(request, "lessonScheduleId"))
    return json_response(schedule_detail_json(api.state, schedule))


async def list_user_schedules(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    status = request.query_params.get("status") or "all"
    if status != "all" and status not in SCHEDULE_STATUS_IDS:
        raise bad_request("status must be one of all, scheduled, due, overdue, completed, cancelled")
    found = [s for s in api.state.schedules_of(user.id) if status == "all" or s.status == status]
    # The API document's answer has no `meta` here: a page shorter than asked is the last one.
    return json_response({"results": [schedule_json(api.state, s) for s in page_of(found, request)]})


def _open_schedule(api: DamstraApi, user_id: int, lesson_id: int) -> DamstraScheduleRow | None:
    return next(
        (
            s
            for s in api.state.schedules_of(user_id)
            if s.lesson_id == lesson_id and s.status in OPEN_STATUSES
        ),
        None,
    )


def _add_months(start: datetime, months: int) -> datetime:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def _due(body: dict[str, Any], start: datetime) -> datetime:
    amount = field_int(body, "gracePeriod")  # the API document sends it as a string: "14"
    unit = field_str(body, "gracePeriodUnit")
    if amount is not None and unit is None:
        raise bad_request("gracePeriodUnit is required when gracePeriod is given", "Missing field")
    if unit is not None and unit not in ("days", "months"):
        raise bad_request("gracePeriodUnit must be days or months")
    if amount is not None and amount < 0:
        raise bad_request("gracePeriod must not be negative")
    if amount is None:
        return start + timedelta(days=DEFAULT_GRACE_DAYS)
    return start + timedelta(days=amount) if unit == "days" else _add_months(start, amount)


def _schedulable(api: DamstraApi, user_id: int, version_id: int) -> DamstraLessonRow:
    lesson = api.state.lesson_by_version(version_id)
    if lesson is None:
        raise ApiError(
            404, error_body(404, f"Lesson version with id {version_id} not found", "Lesson not found")
        )
    if lesson.status != "active":
        raise bad_request(
            f"Lesson {lesson.lesson_id} is {lesson.status} and cannot be scheduled", "Lesson not active"
        )
    if _open_schedule(api, user_id, lesson.lesson_id) is not None:
        raise ApiError(409, {"error": "Lesson Schedule already exists"})
    return lesson


def _new_schedule(
    api: DamstraApi,
    user_id: int,
    lesson: DamstraLessonRow,
    span: tuple[datetime, datetime],
    status: str,
    now: datetime,
) -> DamstraScheduleRow:
    start, end = span
    schedule = DamstraScheduleRow(
        id=api.state.new_id(),
        user_id=user_id,
        lesson_id=lesson.lesson_id,
        lesson_version_id=lesson.lesson_version_id,
        start_date=start,
        end_date=end,
        status=status,
        progress=0,
        created=now,
        modified=now,
    )
    api.state.schedules[schedule.id] = schedule
    return schedule


async def schedule_user(api: DamstraApi, request: Request) -> Response:
    user = api.user(path_id(request, "userId"))
    body = await body_object(request)
    version_ids = list(dict.fromkeys(field_ints(body, "lessonVersionIds")))
    if not version_ids:
        raise bad_request("lessonVersionIds must name at least one lesson version", "Missing field")
    now = api.now()
    start = field_datetime(body, "scheduleDate") or now
    end = _due(body, start)
    lessons = [_schedulable(api, user.id, vid) for vid in version_ids]  # all checked before any is made
    status = "scheduled" if start > now else "due"
    made = [_new_schedule(api, user.id, lesson, (start, end), status, now) for lesson in lessons]
    api.webhooks.fire(*(webhooks.schedule_created(s, now) for s in made))
    return json_response({"ids": [s.id for s in made]})


def _lesson_named(api: DamstraApi, body: dict[str, Any]) -> DamstraLessonRow:
    lesson_id, version_id = field_int(body, "lessonId"), field_int(body, "lessonVersionId")
    if lesson_id is None and version_id is None:
        raise bad_request("lessonId or lessonVersionId is required", "Missing field")
    if lesson_id is not None:
        lesson = api.lesson(lesson_id)
        if version_id is not None and version_id != lesson.lesson_version_id:
            raise bad_request(f"Lesson version {version_id} is not a version of lesson {lesson_id}")
        return lesson
    found = api.state.lesson_by_version(version_id)
    if found is None:
        raise ApiError(
            404, error_body(404, f"Lesson version with id {version_id} not found", "Lesson not found")
        )
    return found


async def complete_lesson(api: DamstraApi, request: Request) -> Response:
    """Completes the user's open schedule for the lesson, or records a new, completed one."""
    user = api.user(path_id(request, "userId"))
    body = await body_object(request)
    lesson = _lesson_named(api, body)
    now = api.now()
    completed = field_datetime(body, "completedDate") or now
    by = field_int(body, "manuallyCompletedByUserId")
    if by is not None:
        api.user(by)
    schedule = _open_schedule(api, user.id, lesson.lesson_id)
    events = []
    if schedule is None:
        schedule = _new_schedule(api, user.id, lesson, (completed, completed), "completed", now)
        events.append(webhooks.schedule_created(schedule, now))
    schedule.status, schedule.passed, schedule.progress = "completed", True, lesson.duration_ms
    schedule.started = schedule.started or completed
    schedule.completed, schedule.completed_by = completed, by if by is not None else api.api_user_id
    schedule.modified = now
    events.append(webhooks.schedule_completed(schedule, now))
    api.webhooks.fire(*events)
    return json_response({"ids": [schedule.id]})


async def certificate(api: DamstraApi, request: Request) -> Response:
    schedule = api.schedule(path_id(request, "lessonScheduleId"))
    if schedule.status != "completed" or not schedule.passed or schedule.completed is None:
        raise ApiError(
            404,
            error_body(
                404,
                f"Lesson schedule {schedule.id} has no certificate: only a passed, completed schedule has one",
                "Certificate not available",
            ),
        )
    user = api.state.users.get(schedule.user_id)
    lesson = api.state.lessons.get(schedule.lesson_id)
    pdf = certificate_pdf(
        "Certificate of Completion",
        [
            f"This certifies that {user.first_name} {user.last_name}" if user else f"User {schedule.user_id}",
            f"completed {lesson.name if lesson else f'lesson {schedule.lesson_id}'}",
            f"on {schedule.completed:%d %B %Y}.",
            f"Lesson schedule {schedule.id}",
        ],
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="certificate-{schedule.id}.pdf"'},
    )


# -- the embedded player ----------------------------------------------------------------------------


def _embed_url(api: DamstraApi, schedule_id: int) -> Response:
    schedule = api.schedule(schedule_id)  # 840 when unknown
    # 837 / 836 answer 409: the schedule exists but its state rules the player out.
    if schedule.status == "completed":
        raise ApiError(409, {"internalCode": 837, "error": "This lesson schedule is completed"})
    if schedule.status == "cancelled":
        raise ApiError(409, {"internalCode": 836, "error": "This lesson schedule is cancelled"})
    # The document's token is a base64-encoded UUID; a stable one per schedule keeps the sandbox repeatable.
    token = base64.b64encode(str(uuid.uuid5(uuid.NAMESPACE_URL, f"damstra/schedule/{schedule.id}")).encode())
    return json_response(
        {"embedUrl": f"https://app.velpic.com/#player/{schedule.id}?embed=true&token={token.decode()}"}
    )


async def embed_player(api: DamstraApi, request: Request) -> Response:
    schedule_id = query_int(request, "lessonScheduleId")
    if schedule_id is None:
        raise bad_request("lessonScheduleId is required", "Missing parameter")
    return _embed_url(api, schedule_id)


async def embed_player_version(api: DamstraApi, request: Request) -> Response:
    return _embed_url(api, path_id(request, "lessonScheduleId"))


def routes(api: DamstraApi) -> list[Route]:
    return [
        route("/lesson_schedule/{lessonScheduleId}", get_schedule, api),
        route("/lesson_schedule/{lessonScheduleId}/certificate", certificate, api),
        route("/lesson_schedule/{userId}/complete_lesson", complete_lesson, api, ["POST"]),
        route("/user/{userId}/lesson_schedule", list_user_schedules, api),
        route("/user/{userId}/lesson_schedule", schedule_user, api, ["POST"]),
        route("/embed_player", embed_player, api),
        route("/embed_player/version/{lessonScheduleId}", embed_player_version, api),
    ]
