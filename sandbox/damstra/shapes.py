"""World objects as DAMSTRA writes them: its API document's field names, order and date shapes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter
from typing import Any

from sandbox.damstra.common import CLIENT_ID, OPEN_STATUSES
from sandbox.damstra.formats import date_millis_z, date_offset, date_perth, date_plain
from sandbox.world import (
    STATUS_ACTIVE,
    DamstraAttendeeRow,
    DamstraGroupRow,
    DamstraILTSessionRow,
    DamstraLessonRow,
    DamstraScheduleRow,
    DamstraState,
    DamstraUserRow,
)

# Only `published: 65` (an active lesson) and `statusId: 94` (completed) appear in the API document;
# the other codes are the sandbox's own, kept distinct so nothing reads them by accident.
PUBLISHED = {"active": 65, "inactive": 66, "never": 67, "rendering": 68, "error": 69}
SCHEDULE_STATUS_IDS = {"scheduled": 90, "due": 91, "overdue": 92, "completed": 94, "cancelled": 95}
ILT_STATES = {1: "upcoming", 2: "inprogress", 3: "past"}


# -- users and groups -----------------------------------------------------------------------------


@dataclass
class Memberships:
    """Which active groups the users of one answer belong to and supervise, built once per answer."""

    member_of: dict[int, list[int]]
    supervisor_of: dict[int, list[int]]

    @classmethod
    def of(cls, state: DamstraState, users: Iterable[DamstraUserRow]) -> Memberships:
        # Only the users being rendered (a page): the groups' lists are the truth, read as they are now.
        wanted = {user.id for user in users}
        member_of: dict[int, list[int]] = defaultdict(list)
        supervisor_of: dict[int, list[int]] = defaultdict(list)
        for group in sorted(state.groups.values(), key=attrgetter("id")):
            if not group.active:
                continue
            for ids, found in ((group.member_ids, member_of), (group.supervisor_ids, supervisor_of)):
                if not wanted.isdisjoint(ids):
                    for uid in ids:
                        if uid in wanted:
                            found[uid].append(group.id)
        return cls(member_of, supervisor_of)


def user_json(user: DamstraUserRow, memberships: Memberships) -> dict[str, Any]:
    return {
        "id": user.id,
        "userName": user.user_name,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "emailAddress": user.email_address,
        "phoneNumber": user.phone_number,
        "mobileNumber": user.mobile_number,
        "employeeNumber": user.employee_number,
        "clientStatusId": user.client_status_id,
        "active": user.client_status_id == STATUS_ACTIVE,
        "groups": [{"id": gid} for gid in memberships.member_of.get(user.id, [])],
        "groupsSupervised": [{"id": gid} for gid in memberships.supervisor_of.get(user.id, [])],
        "roles": list(user.roles),
        "clientId": CLIENT_ID,
        "timeZone": user.time_zone,
        "lastLoggedInDate": date_offset(user.last_logged_in),
        "createdDate": date_offset(user.created),
        "modifiedDate": date_offset(user.modified),
    }


def group_json(group: DamstraGroupRow) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "parentId": group.parent_id,
        "description": group.description,
        "memberCount": len(group.member_ids),
        "createdDate": date_plain(group.created),
        "clientId": CLIENT_ID,
    }


# -- lessons and schedules --------------------------------------------------------------------------


QUESTIONNAIRE_TYPE = 18  # the lesson list's sample; the schedule samples say 19 (the sandbox keeps both)


def _custom_fields(lesson: DamstraLessonRow) -> list[dict[str, Any]]:
    return [
        {
            "lessonVersionId": lesson.lesson_version_id,
            "customFieldId": 110 + n,
            "customFieldDescription": description,
            "fieldId": field_id,
            "type": "string",
            "value": value,
            "id": lesson.lesson_version_id * 10 + n,
            "createdDate": date_offset(lesson.created),
            "modifiedDate": date_offset(lesson.modified),
        }
        for n, (field_id, description, value) in enumerate(lesson.custom_fields, 1)
    ]


def _thumbnail(version_id: int) -> str:
    return f"https://app.velpic.com/downloads/lessons/{version_id}/thumbnail.png"


def lesson_json(lesson: DamstraLessonRow) -> dict[str, Any]:
    return {
        "lessonVersionId": lesson.lesson_version_id,
        "lessonId": lesson.lesson_id,
        "name": lesson.name,
        "duration": lesson.duration_ms,
        "status": lesson.status,
        "inLibrary": lesson.lesson_id % 6 == 5,
        "version": lesson.version,
        "questionnaireType": QUESTIONNAIRE_TYPE,
        "clientId": CLIENT_ID,
        "lessonVersionCustomFields": _custom_fields(lesson),
        "createdDate": date_offset(lesson.created),
        "modifiedDate": date_offset(lesson.modified),
    }


def lesson_details_json(lesson: DamstraLessonRow) -> dict[str, Any]:
    """The document's details item, with the questionnaire data "details" promises, under the names
    the lesson schedule gives the same facts (`questionCount`, `questionnairePassRate`, `lessonThumbnail`)."""
    return {
        "lessonVersionId": lesson.lesson_version_id,
        "lessonId": lesson.lesson_id,
        "name": lesson.name,
        "published": PUBLISHED.get(lesson.status, 0),
        "duration": lesson.duration_ms,
        "status": lesson.status,
        "inLibrary": lesson.lesson_id % 6 == 5,
        "version": lesson.version,
        "clientId": CLIENT_ID,
        "questionnaireType": QUESTIONNAIRE_TYPE,
        "questionCount": lesson.question_count,
        "questionnairePassRate": lesson.pass_rate,
        "thumbnailId": lesson.lesson_version_id * 1000 + 1,
        "lessonThumbnail": _thumbnail(lesson.lesson_version_id),
        "lessonVersionCustomFields": _custom_fields(lesson),
    }


def _full_name(state: DamstraState, user_id: int | None) -> str | None:
    user = state.users.get(user_id) if user_id is not None else None
    return f"{user.first_name} {user.last_name}" if user else None


def _lesson_extras(lesson: DamstraLessonRow | None, schedule: DamstraScheduleRow) -> dict[str, Any]:
    version_id = schedule.lesson_version_id
    duration = lesson.duration_ms if lesson else 0
    return {
        "lessonName": lesson.name if lesson else None,
        "version": lesson.version if lesson else version_id % 10,
        "lessonDuration": duration,
        "chapterCount": max(1, duration // 120_000),
        "thumbnailId": version_id * 1000 + 1,
        "lessonThumbnail": _thumbnail(version_id),
        "questionCount": lesson.question_count if lesson else 8,
        "questionnairePassRate": lesson.pass_rate if lesson else 80,
    }


def question_results(lesson: DamstraLessonRow | None, schedule: DamstraScheduleRow) -> list[dict[str, Any]]:
    """A completed schedule's answers (the document: "question results, includes questions and answers"),
    a share correct that passes the pass mark exactly when the schedule passed."""
    count = lesson.question_count if lesson else 8
    if schedule.status != "completed" or count == 0:
        return []
    needed = -(-count * (lesson.pass_rate if lesson else 80) // 100)  # the fewest correct that pass
    right = count if schedule.passed else max(0, needed - 1)
    return [
        {
            "questionId": schedule.lesson_version_id * 100 + n,
            "question": f"Question {n}",
            "answer": f"Answer {n}{'' if n <= right else ' (wrong)'}",
            "correct": n <= right,
        }
        for n in range(1, count + 1)
    ]


def schedule_json(state: DamstraState, schedule: DamstraScheduleRow) -> dict[str, Any]:
    """An item of `GET /user/{userId}/lesson_schedule`."""
    lesson = state.lessons.get(schedule.lesson_id)
    user = state.users.get(schedule.user_id)
    extras = _lesson_extras(lesson, schedule)
    return {
        "lessonName": extras["lessonName"],
        "lessonId": schedule.lesson_id,
        "lessonVersionId": schedule.lesson_version_id,
        "version": extras["version"],
        "userId": schedule.user_id,
        "startDate": date_millis_z(schedule.start_date),
        "endDate": date_millis_z(schedule.end_date),
        "lessonStartedDate": date_millis_z(schedule.started),
        "lessonCompletedDate": date_millis_z(schedule.completed),
        "userFirstName": user.first_name if user else None,
        "userLastName": user.last_name if user else None,
        "lessonDuration": extras["lessonDuration"],
        "progress": schedule.progress,
        "chapterCount": extras["chapterCount"],
        "questionnaireType": 19,
        "questionCount": extras["questionCount"],
        "scheduleType": schedule.schedule_type,
        "typeId": 81,
        "thumbnailId": extras["thumbnailId"],
        "lessonThumbnail": extras["lessonThumbnail"],
        "status": schedule.status,
        "statusId": SCHEDULE_STATUS_IDS[schedule.status],
        "completionTypeId": 77,
        "lessonCompletedBy": schedule.completed_by,
        "lessonCompletedByName": _full_name(state, schedule.completed_by),
        "lessonEvolution": 129,
        "id": schedule.id,
        "createdDate": date_millis_z(schedule.created),
        "modifiedDate": date_millis_z(schedule.modified),
    }


def schedule_detail_json(state: DamstraState, schedule: DamstraScheduleRow) -> dict[str, Any]:
    """`GET /lesson_schedule/{id}`: the document's big object, plus the list item's `status`, `statusId` and
    `scheduleType` (the same entity; without them a single schedule's status could only be guessed)."""
    lesson = state.lessons.get(schedule.lesson_id)
    user = state.users.get(schedule.user_id)
    extras = _lesson_extras(lesson, schedule)
    version_id = schedule.lesson_version_id
    return {
        "startDate": date_millis_z(schedule.start_date),
        "endDate": date_millis_z(schedule.end_date),
        # The API document's completed example says `active: false`: open schedules are the active ones.
        "active": schedule.status in OPEN_STATUSES,
        "userId": schedule.user_id,
        "clientId": CLIENT_ID,
        "clientName": "LearnGraph Sandbox Pty Ltd",
        "lessonVersionId": version_id,
        "lessonId": schedule.lesson_id,
        "version": extras["version"],
        "lessonName": extras["lessonName"],
        "lessonDuration": extras["lessonDuration"],
        "lessonEvolution": 129,
        "thumbnailId": extras["thumbnailId"],
        "lessonThumbnail": extras["lessonThumbnail"],
        "lessonStartedDate": date_millis_z(schedule.started),
        "lessonCompletedDate": date_millis_z(schedule.completed),
        "lessonCompletedBy": schedule.completed_by,
        "lessonCompletedByName": _full_name(state, schedule.completed_by),
        "reminders": [],
        "questionResults": question_results(lesson, schedule),
        "questionCount": extras["questionCount"],
        "questionnaireType": 19,
        "userFirstName": user.first_name if user else None,
        "userLastName": user.last_name if user else None,
        "userUserName": user.user_name if user else None,
        "userEmployeeNumber": user.employee_number if user else None,
        "userGroups": [],
        "supervisors": [],
        "published": PUBLISHED.get(lesson.status, 0) if lesson else 0,
        "completionTypeId": 77,
        "typeId": 81,
        "questionnairePassRate": extras["questionnairePassRate"],
        "progress": schedule.progress,
        "scheduleOverEmailAttempted": True,
        "overdueEmailAttempted": schedule.status == "overdue",
        "movieId": version_id * 100 + 7,
        "moviePhysicalURI": f"download/lessons/{schedule.lesson_id}/movieFile.mp4",
        "movieSizeInBytes": extras["lessonDuration"] * 59,
        "chapterCount": extras["chapterCount"],
        "status": schedule.status,
        "statusId": SCHEDULE_STATUS_IDS[schedule.status],
        "scheduleType": schedule.schedule_type,
        "id": schedule.id,
        "createdDate": date_millis_z(schedule.created),
        "modifiedDate": date_millis_z(schedule.modified),
    }


# -- ILT sessions ------------------------------------------------------------------------------


def ilt_state(session: DamstraILTSessionRow, now: datetime) -> int:
    """1 upcoming, 2 in progress, 3 past: from the session's times, whatever its status."""
    if now < session.start:
        return 1
    return 2 if now < session.end else 3


def ilt_session_json(state: DamstraState, session: DamstraILTSessionRow) -> dict[str, Any]:
    """A list item (and the answer to a create)."""
    instructor = state.users.get(session.instructor_id)
    return {
        "id": session.id,
        "statusId": session.status_id,
        "instructorId": session.instructor_id,
        "instructorFirstName": instructor.first_name if instructor else None,
        "instructorLastName": instructor.last_name if instructor else None,
        "lessonId": session.lesson_id,
        "notes": session.notes,
        "numberOfPlaces": session.number_of_places,
        "startDatetime": date_perth(session.start),
        "endDatetime": date_perth(session.end),
        "location": session.location,
        "createdDate": date_perth(session.created),
        "modifiedDate": date_perth(session.modified),
    }


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def ilt_session_detail_json(
    state: DamstraState, session: DamstraILTSessionRow, attendees: list[DamstraAttendeeRow], now: datetime
) -> dict[str, Any]:
    lesson = state.lessons.get(session.lesson_id)
    return {
        "id": session.id,
        "instructorId": session.instructor_id,
        "statusId": session.status_id,
        "lessonId": session.lesson_id,
        "lessonName": lesson.name if lesson else None,
        "instructorLed": lesson.instructor_led if lesson else True,
        "notes": session.notes,
        "numberOfAttendees": len(attendees),
        "numberOfPlaces": session.number_of_places,
        "startDatetime": date_perth(session.start),
        "endDatetime": date_perth(session.end),
        "location": session.location,
        "state": ILT_STATES[ilt_state(session, now)],
        "attendanceRate": _percent(sum(a.attended for a in attendees), len(attendees)),
        "passRate": _percent(sum(a.passed for a in attendees), len(attendees)),
        "iltSessionCancellationTraineeNotificationEnabled": session.trainee_notification,
        "iltSessionCancellationInstructorNotificationEnabled": session.instructor_notification,
        "createdDate": date_perth(session.created),
        "modifiedDate": date_perth(session.modified),
    }


def attendee_json(state: DamstraState, attendee: DamstraAttendeeRow) -> dict[str, Any]:
    user = state.users.get(attendee.user_id)
    registrar = state.users.get(attendee.registering_user_id)
    return {
        "id": attendee.id,
        "userId": attendee.user_id,
        "sessionId": attendee.session_id,
        "lessonScheduleId": attendee.lesson_schedule_id,
        "userName": user.user_name if user else None,
        "firstName": user.first_name if user else None,
        "lastName": user.last_name if user else None,
        "registeringUserId": attendee.registering_user_id,
        "registeringUserFirstName": registrar.first_name if registrar else None,
        "registeringUserLastName": registrar.last_name if registrar else None,
        "passed": attendee.passed,
        "attended": attendee.attended,
        "createdDate": date_perth(attendee.created),
        "modifiedDate": date_perth(attendee.modified),
    }
