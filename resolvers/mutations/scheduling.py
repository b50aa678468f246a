"""Assigning and completing training: `scheduleLessons` and `completeLesson`.

DAMSTRA lessons are scheduled with `POST /user/{id}/lesson_schedule` (one call for every lesson
version) and completed with `POST /lesson_schedule/{userId}/complete_lesson`; TRAINING_RECORDS
packages get a record (`POST /training/record/`) and complete with a `PATCH` of `date_completed`.
LEARNINGLOGIN and ISCOUT have no API for either: `NOT_SUPPORTED_BY_SOURCE`.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import strawberry

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.data.people import Person
from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.sources import Source
from gateway.upstreams.damstra.records import ALREADY_SCHEDULED, DamstraLesson, DamstraSchedule
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers.info import Info
from resolvers.mutations.running import ALREADY_DONE, IDEMPOTENCY_KEY, WARNINGS, repeating, run_mutation
from resolvers.mutations.targets import (
    account_in,
    global_id,
    may_write_for,
    native_of,
    non_empty,
    only_from,
    person_at,
)
from resolvers.mutations.user_errors import (
    ALREADY_SCHEDULED_CODE,
    INVALID_INPUT,
    NOT_FOUND,
    NOT_READ_BACK,
    NOT_SUPPORTED_BY_SOURCE,
    Refused,
    UserError,
    from_upstream,
    user_error,
)
from resolvers.scalars import DateTime
from resolvers.schedule import Schedule

# DAMSTRA refuses a second schedule for a lesson while one is open.
OPEN_DAMSTRA_STATUSES = {"scheduled", "due", "overdue", "in progress", "inprogress"}
# Clocks differ: a completion a little ahead of ours is not "in the future".
CLOCK_SKEW = timedelta(minutes=5)


@strawberry.enum
class GracePeriodUnit(enum.Enum):
    DAYS = "days"
    MONTHS = "months"


@strawberry.input(description="How long after the start the lesson falls due.")
class GracePeriodInput:
    amount: int
    unit: GracePeriodUnit | None = strawberry.field(
        default=None, description="Required with an amount (DAMSTRA cannot read an amount without it)."
    )


@strawberry.input
class ScheduleLessonsInput:
    user_id: strawberry.ID
    lesson_ids: list[strawberry.ID]
    schedule_date: DateTime | None = strawberry.field(
        default=None, description="When the lessons start; now if unset."
    )
    grace_period: GracePeriodInput | None = None
    started_at: DateTime | None = strawberry.field(
        default=None,
        description="When the person started (TRAINING_RECORDS packages: the new record's date_started; "
        "DAMSTRA schedules have no such date).",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type(description="What happened to one of the lessons asked for.")
class ScheduleLessonResult:
    lesson_id: strawberry.ID
    schedule: Schedule | None
    user_errors: list[UserError]
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)


@strawberry.type
class ScheduleLessonsPayload:
    schedules: list[Schedule] = field(default_factory=list)
    results: list[ScheduleLessonResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.input
class CompleteLessonInput:
    user_id: strawberry.ID
    lesson_id: strawberry.ID
    lesson_version_id: str | None = strawberry.field(
        default=None, description="A DAMSTRA lesson version of the lesson, to complete that version."
    )
    completed_at: DateTime | None = strawberry.field(default=None, description="Now if unset.")
    completed_by_id: strawberry.ID | None = strawberry.field(
        default=None, description="The User who confirms the completion (DAMSTRA records them)."
    )
    started_at: DateTime | None = strawberry.field(
        default=None,
        description="When the person started the lesson (TRAINING_RECORDS records it as the record's "
        "date_started; DAMSTRA's manual completion takes no start).",
    )
    idempotency_key: str | None = None


@strawberry.type
class CompleteLessonPayload:
    schedule: Schedule | None = None
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@dataclass
class _Item:
    """One lesson of a scheduleLessons input, as it goes through the work."""

    index: int
    raw_id: str
    native_id: str = ""
    source: Source | None = None
    schedule: Schedule | None = None
    errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = field(default_factory=list)
    already_done: bool = False
    kept: ScheduleLessonResult | None = None  # final in the attempt this one repeats: answered as it was

    @property
    def field(self) -> list[str | int]:
        return ["lessonIds", self.index]

    def fail(self, message: str, code: str) -> None:
        self.errors.append(user_error(self.field, message, code))

    def found(self, schedule: Schedule) -> None:
        """Done already: an earlier attempt with this key made it."""
        self.schedule, self.already_done = schedule, True


# -- scheduleLessons ----------------------------------------------------------------------------


def _check_schedule_input(value: ScheduleLessonsInput) -> None:
    non_empty(["lessonIds"], value.lesson_ids)
    grace = value.grace_period
    if grace is not None:
        if grace.amount < 0:
            raise Refused.at(["gracePeriod", "amount"], "must not be negative")
        if grace.unit is None:
            raise Refused.at(["gracePeriod", "unit"], "a grace period needs its unit (DAYS or MONTHS)")
    if value.started_at is not None and value.started_at > datetime.now(UTC) + CLOCK_SKEW:
        raise Refused.at(["startedAt"], "a lesson cannot have been started in the future")


def _items(value: ScheduleLessonsInput) -> list[_Item]:
    items: list[_Item] = []
    seen: set[str] = set()
    for index, raw in enumerate(value.lesson_ids):
        item = _Item(index, str(raw))
        items.append(item)
        try:
            gid = global_id(item.field, item.raw_id, "Lesson")
            item.native_id, item.source = native_of(item.field, gid), gid.source
        except Refused as exc:
            item.errors += exc.errors
            continue
        if item.raw_id in seen:
            item.fail("this lesson is listed twice", INVALID_INPUT)
        seen.add(item.raw_id)
    return items


class _Subject:
    """The person being scheduled, read only if a write needs more than their ID says.

    A DAMSTRA user ID already is the DAMSTRA account, so a DAMSTRA-only schedule sends no read of
    the user first: DAMSTRA answers an unknown user itself, and only then is the user looked up.
    """

    def __init__(self, info: Info, raw_id: str) -> None:
        self.info, self.raw_id = info, raw_id
        self.gid = global_id(["userId"], raw_id, "User")
        self.native = native_of(["userId"], self.gid)
        self._person: asyncio.Future[Person] | None = None

    async def check(self) -> None:
        """A refusal unless the caller may schedule for this person (before anything is read)."""
        await may_write_for(self.info, ["userId"], self.gid, self.native)

    async def person(self) -> Person:
        if self._person is None:
            self._person = asyncio.ensure_future(person_at(self.info, ["userId"], self.raw_id))
        return await asyncio.shield(self._person)

    async def account(self, source: Source) -> str:
        if self.gid.source is source and source is Source.DAMSTRA:
            return self.native
        return account_in(await self.person(), source, ["userId"])


def _copy_to_items(exc: Refused, items: list[_Item]) -> None:
    for item in items:
        item.errors += [user_error(item.field, e.message, e.code) for e in exc.errors]


async def _schedule_damstra(
    info: Info, value: ScheduleLessonsInput, subject: _Subject, items: list[_Item]
) -> None:
    if not items:
        return
    if value.started_at is not None:
        for item in items:
            item.fail("DAMSTRA schedules have no start of the learner's own to set", NOT_SUPPORTED_BY_SOURCE)
        return
    try:
        user_id = await subject.account(Source.DAMSTRA)
    except Refused as exc:
        _copy_to_items(exc, items)
        return
    loader = info.context.loaders.lesson
    # Unknown lessons are answered per item, so the batch must not fail as a whole.
    lessons = await asyncio.gather(*(loader.load(item.native_id) for item in items), return_exceptions=True)
    to_send: list[tuple[_Item, DamstraLesson]] = []
    for item, lesson in zip(items, lessons, strict=True):
        if isinstance(lesson, UpstreamNotFound) or lesson is None:
            item.fail(f"no DAMSTRA lesson {item.native_id}", NOT_FOUND)
        elif isinstance(lesson, UpstreamError):
            item.errors.append(from_upstream(lesson, item.field))
        elif isinstance(lesson, BaseException):
            raise lesson
        else:
            to_send.append((item, lesson))
    if repeating() is not None:
        to_send = await _not_yet_scheduled(info, user_id, to_send)
    if not to_send:
        return
    created_ids = await _send_schedules(info, value, subject, user_id, to_send)
    if not created_ids:
        return
    info.context.refresh_after_write()
    schedules = info.context.loaders.schedule
    fresh = await asyncio.gather(*(schedules.load(str(i)) for i in created_ids), return_exceptions=True)
    by_lesson: dict[int | None, DamstraSchedule] = {
        s.lesson_id: s for s in fresh if isinstance(s, DamstraSchedule)
    }
    now = datetime.now(UTC)
    for item, lesson in to_send:
        if item.errors:
            continue
        schedule = by_lesson.get(lesson.lesson_id)
        if schedule is None:
            # Written, but not readable back yet: done, and said so rather than pretended.
            ids = ", ".join(map(str, created_ids))
            message = f"scheduled (DAMSTRA answered schedule ids {ids}), but not shown when read back"
            item.warnings.append(user_error(item.field, message, NOT_READ_BACK))
            continue
        item.schedule = Schedule.from_damstra(schedule, now)
        await _publish(
            info, TrainingEventType.SCHEDULE_CREATED, Source.DAMSTRA, user_id, schedule.id, lesson.lesson_id
        )


async def _not_yet_scheduled(
    info: Info, user_id: str, to_send: list[tuple[_Item, DamstraLesson]]
) -> list[tuple[_Item, DamstraLesson]]:
    """Of the lessons a repeat is to schedule, those DAMSTRA holds no open schedule of; the others are
    done already. A failed read sends nothing: the outcome stays open for the next repeat."""
    try:
        held = await info.context.loaders.user_schedules.load(user_id)
    except UpstreamError as exc:
        for item, _ in to_send:
            item.errors.append(from_upstream(exc, item.field))
        return []
    open_by_lesson = {s.lesson_id: s for s in held if (s.status or "").lower() in OPEN_DAMSTRA_STATUSES}
    rest = []
    for item, lesson in to_send:
        found = open_by_lesson.get(lesson.lesson_id)
        if found is None:
            rest.append((item, lesson))
        else:
            item.found(Schedule.from_damstra(found))
    return rest


async def _send_schedules(
    info: Info,
    value: ScheduleLessonsInput,
    subject: _Subject,
    user_id: str,
    to_send: list[tuple[_Item, DamstraLesson]],
) -> list[int]:
    """One POST for every lesson; the new schedule ids, or each item's refusal.

    DAMSTRA checks every lesson before it makes any schedule, so a refusal wrote nothing: when it
    is "already scheduled" for one of several lessons, the user's open schedules show which, and
    the others are sent once more.
    """
    grace = value.grace_period

    async def send(batch: list[tuple[_Item, DamstraLesson]]) -> list[int]:
        return await info.context.writes.schedule_lessons(
            user_id,
            [lesson.lesson_version_id for _, lesson in batch],
            schedule_date=value.schedule_date,
            grace_period=grace.amount if grace else None,
            grace_period_unit=grace.unit.value if grace and grace.unit else None,
        )

    try:
        return await send(to_send)
    except UpstreamError as exc:
        refusal = exc
    # Unknown user, or a lesson version gone since it was cached: ask which.
    if (
        isinstance(refusal, UpstreamNotFound)
        and subject.gid.source is Source.DAMSTRA
        and await _user_is_missing(info, user_id)
    ):
        raise Refused.at(["userId"], f"no User with ID {subject.raw_id}", NOT_FOUND) from None
    if refusal.upstream_code == ALREADY_SCHEDULED and len(to_send) > 1:
        try:
            open_schedules = await info.context.loaders.user_schedules.load(user_id)
        except UpstreamError:
            open_schedules = []
        busy = {s.lesson_id for s in open_schedules if (s.status or "").lower() in OPEN_DAMSTRA_STATUSES}
        rest = [(item, lesson) for item, lesson in to_send if lesson.lesson_id not in busy]
        for item, lesson in to_send:
            if lesson.lesson_id in busy:
                item.fail(
                    f"already scheduled for lesson {lesson.name or lesson.lesson_id}", ALREADY_SCHEDULED_CODE
                )
        if rest and len(rest) < len(to_send):
            try:
                return await send(rest)
            except UpstreamError as exc:
                refusal, to_send = exc, rest
        else:
            to_send = rest
    for item, _ in to_send:
        item.errors.append(from_upstream(refusal, item.field))
    return []


async def _user_is_missing(info: Info, user_id: str) -> bool:
    try:
        await info.context.loaders.damstra_user.load(user_id)
    except UpstreamNotFound:
        return True
    except UpstreamError:
        return False
    return False


async def _schedule_training_records(
    info: Info, value: ScheduleLessonsInput, subject: _Subject, items: list[_Item]
) -> None:
    if not items:
        return
    if value.schedule_date is not None or value.grace_period is not None:
        for item in items:
            item.fail("TRAINING_RECORDS records have no start or due date to set", NOT_SUPPORTED_BY_SOURCE)
        return
    try:
        person_api_id = await subject.account(Source.TRAINING_RECORDS)
    except Refused as exc:
        _copy_to_items(exc, items)
        return
    try:
        # Read fresh, not the cross-request copy: a stale list could let a record be made twice.
        info.context.loaders.invalidate_training_records()
        records = (await info.context.loaders.training_records_by_person()).get(person_api_id, [])
    except UpstreamError as exc:
        for item in items:
            item.errors.append(from_upstream(exc, item.field))
        return
    open_packages = {r.package_api_id: r for r in records if r.date_completed is None}

    async def create(item: _Item) -> None:
        held = open_packages.get(item.native_id)
        if held is not None and repeating() is not None:
            item.found(Schedule.from_training_record(held))
            return
        if held is not None:
            item.fail(f"already assigned package {item.native_id}", ALREADY_SCHEDULED_CODE)
            return
        try:
            record: TrainingRecord = await info.context.writes.assign_package(
                person_api_id, item.native_id, started_at=value.started_at
            )
        except UpstreamError as exc:
            item.errors.append(from_upstream(exc, item.field))
            return
        finally:
            info.context.loaders.invalidate_training_records()  # also when the outcome is unknown
        item.schedule = Schedule.from_training_record(record)
        await _publish(
            info,
            TrainingEventType.SCHEDULE_CREATED,
            Source.TRAINING_RECORDS,
            person_api_id,
            record.api_id,
            item.native_id,
        )

    await asyncio.gather(*(create(item) for item in items))


async def _schedule_lessons(info: Info, value: ScheduleLessonsInput) -> ScheduleLessonsPayload:
    _check_schedule_input(value)
    subject = _Subject(info, value.user_id)
    items = _items(value)
    repeat = repeating()
    for item in items:
        item.kept = repeat.kept(item.index) if repeat is not None else None
    try:
        await subject.check()
    except Refused as exc:
        _copy_to_items(exc, [item for item in items if not item.errors and item.kept is None])
        return _schedule_payload(items)
    by_source: dict[Source, list[_Item]] = {}
    for item in items:
        if not item.errors and item.kept is None and item.source is not None:
            by_source.setdefault(item.source, []).append(item)
    for source in (Source.LEARNINGLOGIN, Source.ISCOUT):
        for item in by_source.pop(source, []):
            item.fail(f"{source.name} has no API to schedule a lesson", NOT_SUPPORTED_BY_SOURCE)
    await asyncio.gather(
        _schedule_damstra(info, value, subject, by_source.get(Source.DAMSTRA, [])),
        _schedule_training_records(info, value, subject, by_source.get(Source.TRAINING_RECORDS, [])),
    )
    return _schedule_payload(items)


def _schedule_payload(items: list[_Item]) -> ScheduleLessonsPayload:
    results = [
        item.kept
        or ScheduleLessonResult(
            lesson_id=strawberry.ID(item.raw_id),
            schedule=item.schedule,
            user_errors=item.errors,
            already_done=item.already_done,
        )
        for item in items
    ]
    return ScheduleLessonsPayload(
        schedules=[result.schedule for result in results if result.schedule is not None],
        results=results,
        user_errors=[error for result in results for error in result.user_errors],
        warnings=[warning for item in items for warning in item.warnings],
    )


# -- completeLesson -----------------------------------------------------------------------------


def _completed_by_then(completed: datetime | None, value: CompleteLessonInput, since: datetime) -> bool:
    """Whether a completion DAMSTRA or TRAINING_RECORDS holds is the one an earlier attempt sent: the
    date asked for, or, with none asked for, one of "now" since the first attempt began."""
    if completed is None:
        return False
    if value.completed_at is not None:
        return abs(completed - value.completed_at) < timedelta(seconds=1)
    return completed >= since - CLOCK_SKEW


async def _complete_damstra(
    info: Info, value: CompleteLessonInput, person: Person, lesson_id: str
) -> CompleteLessonPayload:
    if value.started_at is not None:
        raise Refused.at(
            ["startedAt"], "DAMSTRA's manual completion takes no start date", NOT_SUPPORTED_BY_SOURCE
        )
    user_id = account_in(person, Source.DAMSTRA, ["userId"])
    repeat = repeating()
    if repeat is not None:
        # A failed read raises: nothing is sent, and the outcome stays open.
        held = [
            s
            for s in await info.context.loaders.user_schedules.load(user_id)
            if s.lesson_id == int(lesson_id)
        ]
        if not any((s.status or "").lower() in OPEN_DAMSTRA_STATUSES for s in held):
            for earlier in held:
                if (earlier.status or "").lower() == "completed" and _completed_by_then(
                    earlier.lesson_completed_date, value, repeat.since
                ):
                    return CompleteLessonPayload(schedule=Schedule.from_damstra(earlier), already_done=True)
    version = None
    if value.lesson_version_id is not None:
        if not value.lesson_version_id.isdigit():
            raise Refused.at(["lessonVersionId"], "a DAMSTRA lesson version id is a number")
        version = int(value.lesson_version_id)
    completed_by = None
    if value.completed_by_id is not None:
        confirmer = await person_at(info, ["completedById"], value.completed_by_id)
        completed_by = int(account_in(confirmer, Source.DAMSTRA, ["completedById"]))
    try:
        ids = await info.context.writes.complete_lesson(
            user_id,
            lesson_id=int(lesson_id),
            lesson_version_id=version,
            completed_at=value.completed_at,
            completed_by=completed_by,
        )
    except UpstreamError as exc:
        raise Refused([from_upstream(exc, ["lessonId"])]) from None
    info.context.refresh_after_write()
    await _publish(info, TrainingEventType.SCHEDULE_COMPLETED, Source.DAMSTRA, user_id, ids[0], lesson_id)
    try:
        schedule: DamstraSchedule = await info.context.loaders.schedule.load(str(ids[0]))
    except UpstreamError as exc:
        # Completed all the same: what is known of it, and a warning.
        known = DamstraSchedule.model_validate(
            {
                "id": ids[0],
                "user_id": int(user_id),
                "lesson_id": int(lesson_id),
                "status": "completed",
                "lesson_completed_date": value.completed_at or datetime.now(UTC),
            }
        )
        message = f"completed (DAMSTRA schedule {ids[0]}), but DAMSTRA did not answer when it was read back: {exc.message}"
        return CompleteLessonPayload(
            schedule=Schedule.from_damstra(known), warnings=[user_error(["lessonId"], message, NOT_READ_BACK)]
        )
    return CompleteLessonPayload(schedule=Schedule.from_damstra(schedule))


async def _complete_training_record(
    info: Info, value: CompleteLessonInput, person: Person, package_id: str
) -> CompleteLessonPayload:
    if value.completed_by_id is not None:
        raise Refused.at(
            ["completedById"],
            "TRAINING_RECORDS does not record who confirmed a completion",
            NOT_SUPPORTED_BY_SOURCE,
        )
    if value.lesson_version_id is not None:
        raise Refused.at(
            ["lessonVersionId"], "TRAINING_RECORDS packages have no versions", NOT_SUPPORTED_BY_SOURCE
        )
    person_api_id = account_in(person, Source.TRAINING_RECORDS, ["userId"])
    info.context.loaders.invalidate_training_records()  # decide on what TRAINING_RECORDS holds now
    records = [
        r
        for r in (await info.context.loaders.training_records_by_person()).get(person_api_id, [])
        if r.package_api_id == package_id
    ]
    open_records = [r for r in records if r.date_completed is None]
    repeat = repeating()
    if not open_records and repeat is not None:
        for record in records:
            if _completed_by_then(record.date_completed, value, repeat.since):
                return CompleteLessonPayload(
                    schedule=Schedule.from_training_record(record), already_done=True
                )
    completed_at = value.completed_at or datetime.now(UTC)
    started_at = value.started_at
    if started_at is None and open_records:
        started_at = open_records[0].date_started
    if started_at is not None and started_at > completed_at:
        raise Refused.at(["startedAt"], "a lesson cannot be started after it was completed")
    writes = info.context.writes
    try:
        if open_records:
            # The open record, replaced whole with its completion (PUT, the document's "Update"): it was
            # just read afresh, and PUT's body is exactly the record's writable fields.
            record = await writes.complete_record(
                person_api_id, package_id, open_records[0], completed_at, value.started_at
            )
        else:
            # No open record (never assigned, or completed before): the document's "Create" takes the
            # completion's dates itself, so the completion is one write, not a create and an update.
            record = await writes.record_completion(person_api_id, package_id, completed_at, started_at)
    except UpstreamError as exc:
        raise Refused([from_upstream(exc, ["lessonId"])]) from None
    finally:
        info.context.loaders.invalidate_training_records()
    await _publish(
        info,
        TrainingEventType.SCHEDULE_COMPLETED,
        Source.TRAINING_RECORDS,
        person_api_id,
        record.api_id,
        package_id,
    )
    return CompleteLessonPayload(schedule=Schedule.from_training_record(record))


async def _complete_lesson(info: Info, value: CompleteLessonInput) -> CompleteLessonPayload:
    if value.completed_at is not None and value.completed_at > datetime.now(UTC) + CLOCK_SKEW:
        raise Refused.at(["completedAt"], "a completion cannot be in the future")
    if value.started_at is not None and value.started_at > datetime.now(UTC) + CLOCK_SKEW:
        raise Refused.at(["startedAt"], "a lesson cannot have been started in the future")
    lesson = global_id(["lessonId"], value.lesson_id, "Lesson")
    only_from(["lessonId"], lesson, (Source.DAMSTRA, Source.TRAINING_RECORDS), "Completing a lesson")
    lesson_native = native_of(["lessonId"], lesson)
    person = await person_at(info, ["userId"], value.user_id)
    if lesson.source is Source.DAMSTRA:
        return await _complete_damstra(info, value, person, lesson_native)
    return await _complete_training_record(info, value, person, lesson_native)


async def _publish(
    info: Info, kind: TrainingEventType, source: Source, user_id: str, schedule_id: Any, lesson_id: Any
) -> None:
    event = TrainingEvent(
        kind,
        source,
        datetime.now(UTC),
        user_id=str(user_id),
        schedule_id=str(schedule_id),
        lesson_id=str(lesson_id),
    )
    await info.context.services.events.publish(event)


@strawberry.type
class SchedulingMutations:
    @strawberry.mutation(
        description="Schedules lessons for a person: DAMSTRA lessons in their DAMSTRA account, "
        "TRAINING_RECORDS packages as new records. One result per lesson."
    )
    async def schedule_lessons(self, info: Info, input: ScheduleLessonsInput) -> ScheduleLessonsPayload:
        return await run_mutation(info, "scheduleLessons", input, ScheduleLessonsPayload, _schedule_lessons)

    @strawberry.mutation(
        description="Records a lesson as completed: DAMSTRA's manual completion, or TRAINING_RECORDS' date_completed."
    )
    async def complete_lesson(self, info: Info, input: CompleteLessonInput) -> CompleteLessonPayload:
        return await run_mutation(info, "completeLesson", input, CompleteLessonPayload, _complete_lesson)
