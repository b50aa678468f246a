"""`Schedule`: DAMSTRA lesson schedules, LEARNINGLOGIN train sessions, TRAINING_RECORDS records."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from gateway.data.completions import day_start
from gateway.errors import UpstreamError
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraSchedule, ScheduleStatusFilter
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers.enums import ScheduleStatus
from resolvers.global_id import encode
from resolvers.info import Info
from resolvers.lesson import Lesson, known_lesson_for, lesson_for
from resolvers.node import Node
from resolvers.scalars import Date, DateTime

if TYPE_CHECKING:
    from resolvers.user import User

DAMSTRA_STATUS = {
    "scheduled": ScheduleStatus.SCHEDULED,
    "due": ScheduleStatus.DUE,
    "overdue": ScheduleStatus.OVERDUE,
    "completed": ScheduleStatus.COMPLETED,
    "cancelled": ScheduleStatus.CANCELLED,
}


def damstra_status(schedule: DamstraSchedule, now: datetime) -> ScheduleStatus:
    # Read off the dates as of now (the list may have been read a while ago: a cached one).
    status = DAMSTRA_STATUS[schedule.status_at(now) or "due"]
    if status is ScheduleStatus.DUE and schedule.lesson_started_date is not None:
        return ScheduleStatus.IN_PROGRESS
    return status


def learninglogin_status(session: TrainSession, today: date) -> ScheduleStatus:
    text = (session.status or "").strip().lower()
    if text == "completed" or session.completion_date is not None:
        return ScheduleStatus.COMPLETED
    if session.complete_by is not None and session.complete_by < today:
        return ScheduleStatus.OVERDUE
    if text == "in progress" or (session.percent_complete or 0) > 0:
        return ScheduleStatus.IN_PROGRESS
    return ScheduleStatus.ASSIGNED


def training_record_status(record: TrainingRecord) -> ScheduleStatus:
    if record.date_completed is not None:
        return ScheduleStatus.COMPLETED
    if record.date_started is not None:
        return ScheduleStatus.IN_PROGRESS
    return ScheduleStatus.ASSIGNED


# The statuses each mapping above can answer, so a status filter skips a source that has none of them.
STATUSES_OF_SOURCE: dict[Source, frozenset[ScheduleStatus]] = {
    # DAMSTRA's five words, and IN_PROGRESS for a started DUE; never ASSIGNED.
    Source.DAMSTRA: frozenset(ScheduleStatus) - {ScheduleStatus.ASSIGNED},
    # A train session (LearningLogin's documents) has a completion date, a complete_by and a percent: never
    # SCHEDULED (no start date), DUE (it is ASSIGNED until started) or CANCELLED (no such state).
    Source.LEARNINGLOGIN: frozenset(
        {
            ScheduleStatus.ASSIGNED,
            ScheduleStatus.IN_PROGRESS,
            ScheduleStatus.OVERDUE,
            ScheduleStatus.COMPLETED,
        }
    ),
    # A record has assigned/started/completed dates only (its document): no due date, so never DUE or
    # OVERDUE; no start date ahead, so never SCHEDULED; deleted rather than cancelled.
    Source.TRAINING_RECORDS: frozenset(
        {ScheduleStatus.ASSIGNED, ScheduleStatus.IN_PROGRESS, ScheduleStatus.COMPLETED}
    ),
}

# DAMSTRA's `status=` word that lists the schedules `damstra_status` maps to each status.
DAMSTRA_STATUS_FILTER: dict[ScheduleStatus, ScheduleStatusFilter] = {
    ScheduleStatus.SCHEDULED: "scheduled",
    ScheduleStatus.DUE: "due",
    ScheduleStatus.IN_PROGRESS: "due",  # a DUE schedule that has been started
    ScheduleStatus.OVERDUE: "overdue",
    ScheduleStatus.COMPLETED: "completed",
    ScheduleStatus.CANCELLED: "cancelled",
}


def sources_for(statuses: Collection[ScheduleStatus]) -> set[Source]:
    """The schedule sources that can hold a schedule in one of `statuses` (every one for no filter)."""
    return {s for s, held in STATUSES_OF_SOURCE.items() if not statuses or held & set(statuses)}


def damstra_filter(statuses: Collection[ScheduleStatus]) -> ScheduleStatusFilter:
    """The one DAMSTRA `status=` that lists every schedule in one of `statuses`. Several words make
    `all`: one read of a person's list is one page up to 100 schedules, a read per word is two at least."""
    words = {DAMSTRA_STATUS_FILTER[s] for s in statuses if s in DAMSTRA_STATUS_FILTER}
    return words.pop() if len(words) == 1 else "all"


def _at_midnight(value: date | None) -> datetime | None:
    return day_start(value) if value is not None else None


@strawberry.type
class Schedule(Node):
    id: strawberry.ID
    source: Source
    status: ScheduleStatus
    assignee_name: str | None = None
    start_date: DateTime | None = None
    due_date: DateTime | None = None
    started_at: DateTime | None = None
    completed_at: DateTime | None = None
    progress_percent: float | None = None
    score: float | None = None
    failed_attempts: int | None = None
    certificate_expires_on: Date | None = None
    native_id: strawberry.Private[str] = ""
    damstra: strawberry.Private[DamstraSchedule | None] = None
    learninglogin_passed: strawberry.Private[bool | None] = None
    user_ref: strawberry.Private[tuple[Source, str] | None] = None
    lesson_ref: strawberry.Private[tuple[Source, str] | None] = None
    lesson_name: strawberry.Private[str | None] = None

    @strawberry.field
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        from resolvers.user import User

        if self.user_ref is None:
            return None
        person = await info.context.people.for_account(*self.user_ref, seen_upstream=True)
        return User.from_person(person) if person else None

    @strawberry.field
    def lesson(self, info: Info) -> Lesson | None:
        # Not `async`: a cached lesson (a dashboard's hundreds of schedules name a few dozen) is
        # answered in place, and the schedule completes without a coroutine or a task. A lesson to
        # read is an awaitable, which graphql-core awaits as it does an async resolver's answer.
        if self.lesson_ref is None:
            return None
        source, native = self.lesson_ref
        if source is not Source.DAMSTRA:
            return Lesson.from_code(source, native, self.lesson_name)
        known = known_lesson_for(info, source, native)
        if known is not None:
            return known
        return cast("Lesson | None", lesson_for(info, source, native))

    @strawberry.field(
        description="Whether the learner passed: null until completed, or where the source cannot tell. "
        "DAMSTRA: a completed lesson with no questions is passed; else the question results against the "
        "pass mark. LEARNINGLOGIN: the train session's `success`, where it is sent."
    )
    async def passed(self, info: Info) -> bool | None:
        if self.source is Source.LEARNINGLOGIN:
            return self.learninglogin_passed
        if self.damstra is None:
            return None
        if not self.damstra.needs_detail_for_passed:
            return self.damstra.has_passed
        # A list item carries no question results: the schedule read by its id does (once a request).
        detail: DamstraSchedule = await info.context.loaders.schedule.load(self.native_id)
        return detail.has_passed

    @strawberry.field(
        description="Where LearnGraph streams the PDF certificate (`GET /certificates/{scheduleId}`): "
        "only a passed, completed DAMSTRA schedule has one; null otherwise."
    )
    async def certificate_url(self, info: Info) -> str | None:
        if self.damstra is None or not self.damstra.completed:
            return None
        return f"/certificates/{self.native_id}" if await self.passed(info) else None

    @strawberry.field(description="A player URL to embed (DAMSTRA schedules that can still be played).")
    async def embed_url(self, info: Info) -> str | None:
        if self.source is not Source.DAMSTRA or self.status in (
            ScheduleStatus.COMPLETED,
            ScheduleStatus.CANCELLED,
        ):
            # LearningLogin's course player URL carries the account token: never handed out.
            return None
        try:
            return await info.context.listings.embed_url(self.native_id)
        except UpstreamError as exc:
            if exc.code == "UPSTREAM_REJECTED":  # 836/837: cancelled or completed meanwhile
                return None
            raise

    @classmethod
    def from_damstra(cls, schedule: DamstraSchedule, now: datetime | None = None) -> Schedule:
        now = now or datetime.now(UTC)
        native = str(schedule.id)
        status = damstra_status(schedule, now)
        duration = schedule.lesson_duration
        progress = None
        if schedule.progress is not None and duration:
            progress = round(min(100.0, schedule.progress / duration * 100), 2)
        first, last = schedule.user_first_name, schedule.user_last_name
        return cls(
            id=strawberry.ID(encode("Schedule", Source.DAMSTRA, native)),
            source=Source.DAMSTRA,
            status=status,
            assignee_name=" ".join(p for p in (first, last) if p) or None,
            start_date=schedule.start_date,
            due_date=schedule.end_date,
            started_at=schedule.lesson_started_date,
            completed_at=schedule.lesson_completed_date,
            progress_percent=progress,
            native_id=native,
            damstra=schedule,
            user_ref=(Source.DAMSTRA, str(schedule.user_id)) if schedule.user_id is not None else None,
            lesson_ref=(Source.DAMSTRA, str(schedule.lesson_id)) if schedule.lesson_id is not None else None,
            lesson_name=schedule.lesson_name,
        )

    @classmethod
    def from_learninglogin(
        cls, session: TrainSession, user_ref: tuple[Source, str] | None, today: date | None = None
    ) -> Schedule:
        native = str(session.id)
        return cls(
            id=strawberry.ID(encode("Schedule", Source.LEARNINGLOGIN, native)),
            source=Source.LEARNINGLOGIN,
            status=learninglogin_status(session, today or datetime.now(UTC).date()),
            assignee_name=session.full_name,
            due_date=_at_midnight(session.complete_by),
            completed_at=_at_midnight(session.completion_date),
            progress_percent=session.percent_complete,
            score=session.score,
            failed_attempts=session.failed_attempts,
            certificate_expires_on=session.cert_expiry,
            native_id=native,
            learninglogin_passed=session.success,
            user_ref=user_ref,
            lesson_ref=(Source.LEARNINGLOGIN, session.course_code) if session.course_code else None,
        )

    @classmethod
    def from_training_record(cls, record: TrainingRecord) -> Schedule:
        status = training_record_status(record)
        return cls(
            id=strawberry.ID(encode("Schedule", Source.TRAINING_RECORDS, record.api_id)),
            source=Source.TRAINING_RECORDS,
            status=status,
            start_date=record.date_assigned,
            started_at=record.date_started,
            completed_at=record.date_completed,
            progress_percent=100.0 if status is ScheduleStatus.COMPLETED else None,
            native_id=record.api_id,
            user_ref=(Source.TRAINING_RECORDS, record.person_api_id) if record.person_api_id else None,
            lesson_ref=(Source.TRAINING_RECORDS, record.package_api_id) if record.package_api_id else None,
            lesson_name=record.package_desc,
        )
