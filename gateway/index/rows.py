"""What the index holds, as plain values: one dataclass per kind, built from the typed upstream records.

    rows = [schedule_from_damstra(s) for s in schedules]       # the indexed columns filled in one place
    await index.upsert_schedules(rows)
    record = rows[0].record()                                  # the DamstraSchedule again

The sync writes rows made here and the reads rebuild records from `payload`, so both sides agree on
what each column means. Ids are strings, as everywhere above the connectors.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar

from pydantic import BaseModel

from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.damstra.records import (
    DamstraAttendee,
    DamstraGroup,
    DamstraLesson,
    DamstraSchedule,
    DamstraUser,
)
from gateway.upstreams.iscout.records import IScoutCompletion
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.records import TrainingRecord


class Kind(enum.Enum):
    """The kinds of rows, named as their tables."""

    ACCOUNTS = "accounts"
    GROUPS = "groups"
    MEMBERSHIPS = "memberships"
    LESSONS = "lessons"
    SCHEDULES = "schedules"
    COMPLETIONS = "completions"
    ATTENDANCE = "attendance"


# The record class each source's payload of each kind is read back as.
RECORD_TYPES: dict[tuple[Kind, Source], type[BaseModel]] = {
    (Kind.ACCOUNTS, Source.DAMSTRA): DamstraUser,
    (Kind.GROUPS, Source.DAMSTRA): DamstraGroup,
    (Kind.LESSONS, Source.DAMSTRA): DamstraLesson,
    (Kind.SCHEDULES, Source.DAMSTRA): DamstraSchedule,
    (Kind.SCHEDULES, Source.LEARNINGLOGIN): TrainSession,
    (Kind.SCHEDULES, Source.TRAINING_RECORDS): TrainingRecord,
    (Kind.COMPLETIONS, Source.DAMSTRA): DamstraSchedule,
    (Kind.COMPLETIONS, Source.LEARNINGLOGIN): TrainSession,
    (Kind.COMPLETIONS, Source.TRAINING_RECORDS): TrainingRecord,
    (Kind.COMPLETIONS, Source.ISCOUT): IScoutCompletion,
    (Kind.ATTENDANCE, Source.DAMSTRA): DamstraAttendee,
}


def payload_of(record: BaseModel) -> dict[str, Any]:
    """A record as JSON that its class reads back into an equal record."""
    return record.model_dump(mode="json", by_alias=True)


def record_of(kind: Kind, source: Source, payload: dict[str, Any]) -> Any:
    """The typed record a payload was made from; the payload itself where no class is known
    (an account of a source without records of its own, a vendor added beyond the four)."""
    model = RECORD_TYPES.get((kind, source))
    return payload if model is None else model.model_validate(payload)


def _day_start(value: date) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC)


@dataclass(frozen=True)
class IndexRow:
    """What every row has; `confirmed_at` is set by the store when written (now, unless given)."""

    source: Source
    native_id: str
    payload: dict[str, Any] = field(repr=False)
    # When an upstream read last showed it: set on rows read from the index, ignored when writing.
    confirmed_at: datetime | None = field(default=None, kw_only=True, compare=False)

    kind: ClassVar[Kind] = Kind.ACCOUNTS

    def record(self) -> Any:
        record = record_of(self.kind, self.source, self.payload)
        if isinstance(record, DamstraSchedule) and self.confirmed_at is not None:
            # Its status word was DAMSTRA's when last confirmed; the clock moves it on from there.
            record.read_at(self.confirmed_at)
        return record

    def columns(self) -> dict[str, Any]:
        """The indexed columns besides source, native_id, confirmed_at and payload."""
        return {}


@dataclass(frozen=True)
class AccountRow(IndexRow):
    email: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    employee_number: str | None = None
    active: bool = True
    person_key: str | None = None  # "<source slug>:<native id>" of the person's primary account

    kind: ClassVar[Kind] = Kind.ACCOUNTS

    def columns(self) -> dict[str, Any]:
        return {
            "email": self.email.casefold() if self.email else None,
            "username": self.username,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "employee_number": self.employee_number,
            "active": self.active,
            "person_key": self.person_key,
        }


@dataclass(frozen=True)
class GroupRow(IndexRow):
    name: str | None = None
    parent_native_id: str | None = None

    kind: ClassVar[Kind] = Kind.GROUPS

    def columns(self) -> dict[str, Any]:
        return {"name": self.name, "parent_native_id": self.parent_native_id}


@dataclass(frozen=True)
class MembershipRow(IndexRow):
    group_native_id: str = ""
    user_native_id: str = ""
    role: str = "member"  # member | supervisor

    kind: ClassVar[Kind] = Kind.MEMBERSHIPS

    def columns(self) -> dict[str, Any]:
        return {
            "group_native_id": self.group_native_id,
            "user_native_id": self.user_native_id,
            "role": self.role,
        }


@dataclass(frozen=True)
class LessonRow(IndexRow):
    name: str | None = None
    status: str | None = None

    kind: ClassVar[Kind] = Kind.LESSONS

    def columns(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status}


@dataclass(frozen=True)
class ScheduleRow(IndexRow):
    """`scheduled_from` only on DAMSTRA rows (a start ahead makes one SCHEDULED), `overdue_from` only on
    DAMSTRA and LEARNINGLOGIN rows (TRAINING_RECORDS has no due date): store.status_condition relies on it."""

    user_native_id: str | None = None
    lesson_native_id: str | None = None
    username: str | None = None
    terminal: str | None = None  # completed | cancelled | None (open)
    started: bool = False
    assigned_at: datetime | None = None
    scheduled_from: datetime | None = None
    due_at: datetime | None = None
    overdue_from: datetime | None = None
    completed_at: datetime | None = None
    passed: bool | None = None

    kind: ClassVar[Kind] = Kind.SCHEDULES

    def columns(self) -> dict[str, Any]:
        return {
            "user_native_id": self.user_native_id,
            "lesson_native_id": self.lesson_native_id,
            "username": self.username,
            "terminal": self.terminal,
            "started": self.started,
            "assigned_at": self.assigned_at,
            # Held to what the statuses of each source can be (store.status_condition relies on it).
            "scheduled_from": self.scheduled_from if self.source is Source.DAMSTRA else None,
            "due_at": self.due_at,
            "overdue_from": self.overdue_from if self.source in _CAN_BE_OVERDUE else None,
            "completed_at": self.completed_at,
            "passed": self.passed,
        }


@dataclass(frozen=True)
class CompletionRow(IndexRow):
    completed_at: datetime = datetime.min.replace(tzinfo=UTC)
    user_native_id: str | None = None
    lesson_native_id: str | None = None
    username: str | None = None
    expires_on: date | None = None
    score: float | None = None
    passed: bool | None = None

    kind: ClassVar[Kind] = Kind.COMPLETIONS

    def columns(self) -> dict[str, Any]:
        return {
            "completed_at": self.completed_at,
            "user_native_id": self.user_native_id,
            "lesson_native_id": self.lesson_native_id,
            "username": self.username,
            "expires_on": self.expires_on,
            "score": self.score,
            "passed": self.passed,
            "source_rank": SOURCE_ORDER.index(self.source),
        }


@dataclass(frozen=True)
class AttendanceRow(IndexRow):
    session_native_id: str | None = None
    user_native_id: str | None = None
    attended: bool | None = None
    passed: bool | None = None

    kind: ClassVar[Kind] = Kind.ATTENDANCE

    def columns(self) -> dict[str, Any]:
        return {
            "session_native_id": self.session_native_id,
            "user_native_id": self.user_native_id,
            "attended": self.attended,
            "passed": self.passed,
        }


_CAN_BE_OVERDUE = (Source.DAMSTRA, Source.LEARNINGLOGIN)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


# -- from the typed records ------------------------------------------------------------------------


def account_from_damstra(user: DamstraUser, person_key: str | None = None) -> AccountRow:
    return AccountRow(
        Source.DAMSTRA,
        str(user.id),
        payload_of(user),
        email=user.email_address,
        username=user.user_name,
        first_name=user.first_name,
        last_name=user.last_name,
        employee_number=user.employee_number,
        active=user.is_active,
        person_key=person_key or f"{Source.DAMSTRA.slug}:{user.id}",
    )


def account(
    source: Source, native_id: str, *, username: str | None = None, person_key: str | None = None
) -> AccountRow:
    """An account of a source that lists no users of its own (known from the identity file or records)."""
    payload: dict[str, Any] = {"id": native_id, "username": username}
    return AccountRow(source, native_id, payload, username=username, person_key=person_key)


def group_from_damstra(group: DamstraGroup) -> GroupRow:
    parent = group.parent_id if group.parent_id != group.id else None  # the seed's group is its own parent
    return GroupRow(Source.DAMSTRA, str(group.id), payload_of(group), group.name, _str(parent))


def memberships_of_damstra_user(user: DamstraUser) -> list[MembershipRow]:
    """The groups a DAMSTRA user belongs to and supervises, as its record lists them."""
    rows = []
    for role, group_ids in (("member", user.group_ids), ("supervisor", user.supervised_group_ids)):
        for group_id in group_ids:
            rows.append(
                MembershipRow(
                    Source.DAMSTRA,
                    f"{group_id}/{user.id}/{role}",
                    {"groupId": group_id, "userId": user.id, "role": role},
                    group_native_id=str(group_id),
                    user_native_id=str(user.id),
                    role=role,
                )
            )
    return rows


def lesson_from_damstra(lesson: DamstraLesson) -> LessonRow:
    return LessonRow(Source.DAMSTRA, str(lesson.lesson_id), payload_of(lesson), lesson.name, lesson.status)


def schedule_from_damstra(schedule: DamstraSchedule) -> ScheduleRow:
    word = (schedule.status or "").lower()
    if word == "completed" or (word != "cancelled" and schedule.lesson_completed_date is not None):
        terminal: str | None = "completed"
    elif word == "cancelled" or schedule.active is False:
        terminal = "cancelled"
    else:
        terminal = None
    # `scheduled`, `due` and `overdue` are DAMSTRA's verdicts at the time of reading: kept out of the
    # payload, so a read later derives them from the dates (resolvers.schedule.damstra_status).
    kept = schedule if word in ("completed", "cancelled") else schedule.model_copy(update={"status": None})
    return ScheduleRow(
        Source.DAMSTRA,
        str(schedule.id),
        payload_of(kept),
        user_native_id=_str(schedule.user_id),
        lesson_native_id=_str(schedule.lesson_id),
        terminal=terminal,
        started=schedule.lesson_started_date is not None,
        assigned_at=schedule.created_date,
        scheduled_from=schedule.start_date,
        due_at=schedule.end_date,
        overdue_from=schedule.end_date,
        completed_at=schedule.lesson_completed_date,
    )


def schedule_from_learninglogin(
    session: TrainSession, login_id: str | None, username: str | None = None
) -> ScheduleRow:
    """A train session read for a login: `login_id` is the account's native id (the identity file's),
    `username` the login's name it was listed by."""
    text = (session.status or "").strip().lower()
    completed = text == "completed" or session.completion_date is not None
    due = _day_start(session.complete_by) if session.complete_by is not None else None
    return ScheduleRow(
        Source.LEARNINGLOGIN,
        str(session.id),
        payload_of(session),
        user_native_id=login_id,
        lesson_native_id=session.course_code,
        username=username,
        terminal="completed" if completed else None,
        started=text == "in progress" or (session.percent_complete or 0) > 0,
        due_at=due,
        # LearningLogin's complete_by is a day: overdue from the next day on.
        overdue_from=due + timedelta(days=1) if due is not None else None,
        completed_at=_day_start(session.completion_date) if session.completion_date else None,
        passed=session.success,
    )


def schedule_from_training_record(record: TrainingRecord) -> ScheduleRow:
    return ScheduleRow(
        Source.TRAINING_RECORDS,
        record.api_id,
        payload_of(record),
        user_native_id=record.person_api_id,
        lesson_native_id=record.package_api_id,
        terminal="completed" if record.date_completed is not None else None,
        started=record.date_started is not None,
        assigned_at=record.date_assigned,
        completed_at=record.date_completed,
    )


def completion_from_damstra(schedule: DamstraSchedule) -> CompletionRow | None:
    """A completed DAMSTRA schedule as a completion (None for one not completed)."""
    if schedule.lesson_completed_date is None or (schedule.status or "completed").lower() != "completed":
        return None
    return CompletionRow(
        Source.DAMSTRA,
        str(schedule.id),
        payload_of(schedule),
        completed_at=schedule.lesson_completed_date,
        user_native_id=_str(schedule.user_id),
        lesson_native_id=_str(schedule.lesson_id),
    )


def completion_from_learninglogin(
    session: TrainSession, login_id: str | None, username: str | None = None
) -> CompletionRow | None:
    if session.completion_date is None:
        return None
    return CompletionRow(
        Source.LEARNINGLOGIN,
        str(session.id),
        payload_of(session),
        completed_at=_day_start(session.completion_date),
        user_native_id=login_id,
        lesson_native_id=session.course_code,
        username=username,
        expires_on=session.cert_expiry,
        score=session.score,
        passed=session.success,
    )


def completion_from_training_record(record: TrainingRecord) -> CompletionRow | None:
    if record.date_completed is None:
        return None
    return CompletionRow(
        Source.TRAINING_RECORDS,
        record.api_id,
        payload_of(record),
        completed_at=record.date_completed,
        user_native_id=record.person_api_id,
        lesson_native_id=record.package_api_id,
    )


def iscout_native_id(completion: IScoutCompletion) -> str:
    # iScout completions carry no id of their own: user, training and creation time name one (the same
    # id resolvers.completion gives them). round: 1078625331860 ms comes back as 1078625331859.9999.
    created = round(completion.created.timestamp() * 1000) if completion.created else 0
    return f"{completion.user_id}:{completion.training_id}:{created}"


def completion_from_iscout(completion: IScoutCompletion) -> CompletionRow | None:
    if completion.completed_on is None:
        return None
    return CompletionRow(
        Source.ISCOUT,
        iscout_native_id(completion),
        payload_of(completion),
        completed_at=_day_start(completion.completed_on),
        user_native_id=completion.user_id,
        lesson_native_id=completion.training_id,
        expires_on=completion.expires_on,
    )


def attendance_from_damstra(attendee: DamstraAttendee) -> AttendanceRow:
    return AttendanceRow(
        Source.DAMSTRA,
        str(attendee.id),
        payload_of(attendee),
        session_native_id=_str(attendee.session_id),
        user_native_id=_str(attendee.user_id),
        attended=attendee.attended,
        passed=attendee.passed,
    )
