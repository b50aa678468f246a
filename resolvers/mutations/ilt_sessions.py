"""The DAMSTRA ILT session writes: create, update (`PATCH`), complete, cancel, save attendance.

Input is checked whole before any request, so one answer names every bad field. DAMSTRA judges
the session's state: completing a cancelled session is its refusal, answered as SESSION_CANCELLED
(cancelling a completed one as SESSION_COMPLETED). Completing or cancelling a session closes
every open lesson schedule registered in it, and DAMSTRA fires a webhook for each; the same
events are published here, for the schedules read back closed. Moving a session's start moves
its attendees' schedules (SCHEDULE_CHANGED). Creating a session and saving attendance touch no
schedule, and DAMSTRA has no webhook for them: no event.

Nothing ILT-related is cached across requests (`gateway/cache.py` holds lessons, groups and
users only), so there is nothing to invalidate beyond the request's loaders, which the writes
here and `run_mutation` replace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import strawberry

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.errors import UpstreamError, UpstreamNotFound, UpstreamRejected
from gateway.sources import Source
from gateway.upstreams.damstra.records import (
    DamstraAttendee,
    DamstraILTSession,
    DamstraILTSessionInput,
    DamstraSchedule,
)
from resolvers.ilt_session import ILTAttendee, ILTSession
from resolvers.info import Info
from resolvers.mutations.checks import Checks
from resolvers.mutations.ilt_common import (
    SESSION_CANCELLED,
    SESSION_COMPLETED,
    SESSION_FIELD,
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    attendees_of,
    load_session,
    open_attendee_schedules,
    schedules_by_id,
    session_native,
)
from resolvers.mutations.running import ALREADY_DONE, IDEMPOTENCY_KEY, WARNINGS, repeating, run_mutation
from resolvers.mutations.targets import damstra_account, damstra_native, non_empty
from resolvers.mutations.user_errors import (
    INVALID_INPUT,
    NOT_FOUND,
    NOT_READ_BACK,
    NOT_REGISTERED,
    Refused,
    UserError,
    from_upstream,
    user_error,
)
from resolvers.scalars import DateTime
from resolvers.schedule import Schedule

NOT_SAVED = "NOT_SAVED"


# -- inputs and payloads ------------------------------------------------------------------------


@strawberry.input
class CreateILTSessionInput:
    lesson_id: strawberry.ID = strawberry.field(description="A DAMSTRA Lesson.")
    instructor_id: strawberry.ID = strawberry.field(description="A User with a DAMSTRA account.")
    starts_at: DateTime
    ends_at: DateTime = strawberry.field(description="After startsAt.")
    location: str
    notes: str | None = None
    capacity: int | None = strawberry.field(
        default=None, description="Number of places; DAMSTRA's default when unset."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="Only the fields given change; a field left out (or null) stays as it is.")
class UpdateILTSessionInput:
    session_id: strawberry.ID
    instructor_id: strawberry.ID | None = strawberry.field(
        default=None, description="A User with a DAMSTRA account."
    )
    starts_at: DateTime | None = strawberry.field(
        default=None, description="Moving the start moves the attendees' lesson schedules with it."
    )
    ends_at: DateTime | None = None
    location: str | None = None
    notes: str | None = None
    capacity: int | None = None
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class CompleteILTSessionInput:
    session_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class CancelILTSessionInput:
    session_id: strawberry.ID
    notify_trainees: bool = strawberry.field(
        default=True, description="DAMSTRA tells the registered trainees of the cancellation."
    )
    notify_instructor: bool = strawberry.field(
        default=True, description="DAMSTRA tells the instructor of the cancellation."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="One attendee's attendance; a flag left out (or null) stays as it is.")
class ILTAttendanceInput:
    user_id: strawberry.ID = strawberry.field(description="A User registered for the session.")
    attended: bool | None = None
    passed: bool | None = None


@strawberry.input
class SaveILTAttendanceInput:
    session_id: strawberry.ID
    attendance: list[ILTAttendanceInput]
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class CreateILTSessionPayload:
    session: ILTSession | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class UpdateILTSessionPayload:
    session: ILTSession | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class CompleteILTSessionPayload:
    session: ILTSession | None = None
    schedules: list[Schedule] = strawberry.field(
        default_factory=list, description="The attendees' lesson schedules this completed."
    )
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class CancelILTSessionPayload:
    session: ILTSession | None = None
    schedules: list[Schedule] = strawberry.field(
        default_factory=list, description="The attendees' lesson schedules this cancelled."
    )
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type(description="What happened to one row of the attendance.")
class ILTAttendanceResult:
    user_id: strawberry.ID
    saved: bool
    attendee: ILTAttendee | None
    user_errors: list[UserError]
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)


@strawberry.type
class SaveILTAttendancePayload:
    session: ILTSession | None = None
    results: list[ILTAttendanceResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


# -- checks shared by the writes ----------------------------------------------------------------


def _check_session_fields(checks: Checks, value: CreateILTSessionInput | UpdateILTSessionInput) -> None:
    """What creating and changing a session share: the instructor, the times, location and capacity."""
    checks.user_id(["instructorId"], value.instructor_id)
    starts_at, ends_at = value.starts_at, value.ends_at
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        checks.fail(["endsAt"], "must be after startsAt")
    checks.text(["location"], value.location)
    if value.capacity is not None and value.capacity < 0:
        checks.fail(["capacity"], "must not be negative")


async def _refusals(*work: Awaitable[Any]) -> list[Any]:
    """Awaits all; every `Refused` among them is answered together."""
    results = await asyncio.gather(*work, return_exceptions=True)
    errors = [e for r in results if isinstance(r, Refused) for e in r.errors]
    if errors:
        raise Refused(errors)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def _instructor(info: Info, raw: str) -> int:
    return int(await damstra_account(info, ["instructorId"], raw))


async def _lesson(info: Info, native: str, raw: str) -> None:
    try:
        await info.context.loaders.lesson.load(native)
    except UpstreamNotFound:
        raise Refused.at(["lessonId"], f"no DAMSTRA lesson with ID {raw}", NOT_FOUND) from None


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else "unknown"


async def _read_back(
    info: Info, session_id: int, known: DamstraILTSession | None = None
) -> tuple[DamstraILTSession | None, list[UserError]]:
    """The session after a write, through fresh loaders; a failed read is said, not raised (it was written)."""
    info.context.refresh_after_write()
    try:
        session: DamstraILTSession = await info.context.loaders.ilt_session.load(str(session_id))
    except UpstreamError as exc:
        message = f"written, but DAMSTRA did not answer when the session was read back: {exc.message}"
        return known, [user_error(SESSION_FIELD, message, NOT_READ_BACK)]
    return session, []


def _state_refusal(exc: UpstreamError, session: DamstraILTSession) -> UserError:
    # DAMSTRA's words for a state it refuses are not documented; the session's own status is.
    if isinstance(exc, UpstreamRejected) and session.status_id == STATUS_CANCELLED:
        return user_error(
            SESSION_FIELD, f"DAMSTRA refused: the session is cancelled ({exc.message})", SESSION_CANCELLED
        )
    if isinstance(exc, UpstreamRejected) and session.status_id == STATUS_COMPLETED:
        return user_error(
            SESSION_FIELD, f"DAMSTRA refused: the session is completed ({exc.message})", SESSION_COMPLETED
        )
    return from_upstream(exc, None)


async def _publish(
    info: Info, kind: TrainingEventType, lesson_id: int | None, schedules: Sequence[DamstraSchedule]
) -> None:
    now = datetime.now(UTC)
    for schedule in schedules:
        lesson = schedule.lesson_id or lesson_id
        await info.context.services.events.publish(
            TrainingEvent(
                kind,
                Source.DAMSTRA,
                now,
                user_id=str(schedule.user_id) if schedule.user_id is not None else None,
                schedule_id=str(schedule.id),
                lesson_id=str(lesson) if lesson is not None else None,
            )
        )


# -- createILTSession ---------------------------------------------------------------------------


async def _create(info: Info, value: CreateILTSessionInput) -> CreateILTSessionPayload:
    checks = Checks()
    lesson_native = checks.run(
        lambda: damstra_native(["lessonId"], value.lesson_id, "Lesson", "Holding an ILT session")
    )
    _check_session_fields(checks, value)
    checks.done()
    assert lesson_native is not None

    _, instructor_id = await _refusals(
        _lesson(info, lesson_native, value.lesson_id), _instructor(info, value.instructor_id)
    )
    fields = DamstraILTSessionInput(
        lesson_id=int(lesson_native),
        instructor_id=instructor_id,
        start_datetime=value.starts_at,
        end_datetime=value.ends_at,
        location=value.location,
        notes=value.notes,
        number_of_places=value.capacity,
    )
    try:
        created = await info.context.writes.create_ilt_session(fields)
    except UpstreamError as exc:
        raise Refused([from_upstream(exc, None)]) from None
    fresh, warnings = await _read_back(info, created.id)
    # The create's own answer is DAMSTRA's word too, only shorter (no state, no attendee count).
    return CreateILTSessionPayload(session=ILTSession.from_damstra(fresh or created), warnings=warnings)


# -- updateILTSession ---------------------------------------------------------------------------


def _check_update(value: UpdateILTSessionInput) -> str:
    checks = Checks()
    native = checks.run(lambda: session_native(value.session_id, "Changing an ILT session"))
    changes = (
        value.instructor_id,
        value.starts_at,
        value.ends_at,
        value.location,
        value.notes,
        value.capacity,
    )
    if all(change is None for change in changes):
        checks.fail(None, "give at least one field to change")
    _check_session_fields(checks, value)
    checks.done()
    assert native is not None
    return native


async def _none() -> None:
    return None


async def _update(info: Info, value: UpdateILTSessionInput) -> UpdateILTSessionPayload:
    native = _check_update(value)
    starts_at, ends_at = value.starts_at, value.ends_at
    session, instructor_id = await _refusals(
        load_session(info, native, value.session_id),
        _instructor(info, value.instructor_id) if value.instructor_id is not None else _none(),
    )
    assert isinstance(session, DamstraILTSession)
    # One end given: it must still fit the other, as the session has it.
    start, end = session.start_datetime, session.end_datetime
    if starts_at is not None and ends_at is None and end is not None and end <= starts_at:
        raise Refused.at(["startsAt"], f"must be before the session's end, {_iso(end)}")
    if ends_at is not None and starts_at is None and start is not None and ends_at <= start:
        raise Refused.at(["endsAt"], f"must be after the session's start, {_iso(start)}")
    fields = DamstraILTSessionInput(
        # DAMSTRA's documented PATCH requires instructorId and location: unchanged ones are sent as they are.
        instructor_id=instructor_id if instructor_id is not None else session.instructor_id,
        location=value.location if value.location is not None else session.location,
        start_datetime=starts_at,
        end_datetime=ends_at,
        notes=value.notes,
        number_of_places=value.capacity,
    )
    try:
        # The PATCH answers the whole session as it now is: no read back needed.
        updated = await info.context.writes.update_ilt_session(session.id, fields)
    except UpstreamError as exc:
        raise Refused([from_upstream(exc, None)]) from None
    info.context.refresh_after_write()
    if starts_at is not None and updated.start_datetime != start:
        moved = await open_attendee_schedules(info, session.id)
        await _publish(info, TrainingEventType.SCHEDULE_CHANGED, session.lesson_id, list(moved.values()))
    return UpdateILTSessionPayload(session=ILTSession.from_damstra(updated))


# -- completeILTSession / cancelILTSession -------------------------------------------------------


@dataclass
class _Closed:
    session: DamstraILTSession | None
    schedules: list[Schedule]
    warnings: list[UserError]
    errors: list[UserError] = field(default_factory=list)
    already_done: bool = False


async def _close(
    info: Info,
    raw: str,
    doing: str,
    status: str,
    status_id: int,
    event: TrainingEventType,
    write: Callable[[int], Awaitable[None]],
) -> _Closed:
    """Completes or cancels (`write`) the session; tells, and publishes, which open schedules closed with it."""
    session = await load_session(info, session_native(raw, doing), raw)
    if repeating() is not None and session.status_id == status_id:
        # An earlier attempt with this key closed it; the schedules it closed went with it.
        return _Closed(session, [], [], already_done=True)
    closing = await open_attendee_schedules(info, session.id)
    try:
        await write(session.id)
    except UpstreamError as exc:
        return _Closed(None, [], [], [_state_refusal(exc, session)])
    fresh, warnings = await _read_back(info, session.id, session.model_copy(update={"status_id": status_id}))
    now = await schedules_by_id(info, list(closing))
    closed = [s for s in now.values() if (s.status or "").lower() == status]
    await _publish(info, event, session.lesson_id, closed)
    return _Closed(fresh, [Schedule.from_damstra(s) for s in closed], warnings)


async def _complete(info: Info, value: CompleteILTSessionInput) -> CompleteILTSessionPayload:
    done = await _close(
        info,
        value.session_id,
        "Completing an ILT session",
        "completed",
        STATUS_COMPLETED,
        TrainingEventType.SCHEDULE_COMPLETED,
        info.context.writes.complete_ilt_session,
    )
    return CompleteILTSessionPayload(
        session=ILTSession.from_damstra(done.session) if done.session else None,
        schedules=done.schedules,
        user_errors=done.errors,
        warnings=done.warnings,
        already_done=done.already_done,
    )


async def _cancel(info: Info, value: CancelILTSessionInput) -> CancelILTSessionPayload:
    async def cancel(session_id: int) -> None:
        await info.context.writes.cancel_ilt_session(
            session_id, notify_trainees=value.notify_trainees, notify_instructor=value.notify_instructor
        )

    done = await _close(
        info,
        value.session_id,
        "Cancelling an ILT session",
        "cancelled",
        STATUS_CANCELLED,
        TrainingEventType.SCHEDULE_CANCELLED,
        cancel,
    )
    return CancelILTSessionPayload(
        session=ILTSession.from_damstra(done.session) if done.session else None,
        schedules=done.schedules,
        user_errors=done.errors,
        warnings=done.warnings,
        already_done=done.already_done,
    )


# -- saveILTAttendance --------------------------------------------------------------------------


@dataclass
class _Row:
    index: int
    value: ILTAttendanceInput
    attendee: DamstraAttendee | None = None
    saved: bool = False
    fresh: DamstraAttendee | None = None
    errors: list[UserError] = field(default_factory=list)
    already_done: bool = False
    kept: ILTAttendanceResult | None = None  # final in the attempt this one repeats: answered as it was

    @property
    def field(self) -> list[str | int]:
        return ["attendance", self.index]

    @property
    def pending(self) -> bool:
        return not self.errors and self.kept is None


def _check_rows(value: SaveILTAttendanceInput) -> tuple[str, list[_Row]]:
    checks = Checks()
    native = checks.run(lambda: session_native(value.session_id, "Recording ILT attendance"))
    checks.run(lambda: non_empty(["attendance"], value.attendance))
    checks.done()
    assert native is not None
    rows = [_Row(index, row) for index, row in enumerate(value.attendance)]
    repeat = repeating()
    for row in rows:
        row.kept = repeat.kept(row.index) if repeat is not None else None
        row_checks = Checks()
        row_checks.user_id([*row.field, "userId"], row.value.user_id)
        if row.value.attended is None and row.value.passed is None:
            row_checks.fail(row.field, "give attended, passed or both")
        row.errors += row_checks.errors
    return native, rows


async def _match_attendees(info: Info, session: DamstraILTSession, rows: list[_Row]) -> None:
    pending = [row for row in rows if row.pending]

    async def damstra_user(row: _Row) -> int:
        return int(await damstra_account(info, [*row.field, "userId"], row.value.user_id))

    attendees, user_ids = await asyncio.gather(
        attendees_of(info, session.id),
        asyncio.gather(*(damstra_user(row) for row in pending), return_exceptions=True),
    )
    by_user = {a.user_id: a for a in attendees if a.user_id is not None}
    seen: set[int] = set()
    for row, user_id in zip(pending, user_ids, strict=True):
        if isinstance(user_id, Refused):
            row.errors += user_id.errors
        elif isinstance(user_id, BaseException):
            raise user_id
        elif user_id in seen:
            row.errors.append(user_error(row.field, "this person is listed twice", INVALID_INPUT))
        elif user_id not in by_user:
            row.errors.append(
                user_error([*row.field, "userId"], "not registered for this session", NOT_REGISTERED)
            )
        else:
            seen.add(user_id)
            row.attendee = by_user[user_id]


def _holds(row: _Row, attendee: DamstraAttendee | None) -> bool:
    """Whether DAMSTRA holds what the row asks for."""
    return attendee is not None and all(
        wanted is None or wanted == now
        for wanted, now in ((row.value.attended, attendee.attended), (row.value.passed, attendee.passed))
    )


async def _save_attendance(info: Info, value: SaveILTAttendanceInput) -> SaveILTAttendancePayload:
    native, rows = _check_rows(value)
    if not any(row.pending for row in rows):
        return _attendance_payload(None, rows, [])
    session = await load_session(info, native, value.session_id)
    await _match_attendees(info, session, rows)
    to_send = [row for row in rows if row.pending and row.attendee is not None]
    if repeating() is not None:
        # A repeat: the rows DAMSTRA holds as asked were saved by an earlier attempt with this key.
        for row in to_send:
            if _holds(row, row.attendee):
                row.saved = row.already_done = True
        to_send = [row for row in to_send if not row.already_done]
    if not to_send:
        return _attendance_payload(session, rows, [])
    try:
        await info.context.writes.save_attendance(
            session.id, [(r.attendee.id, r.value.passed, r.value.attended) for r in to_send if r.attendee]
        )
    except UpstreamError as exc:
        for row in to_send:
            row.errors.append(from_upstream(exc, row.field))
        return _attendance_payload(None, rows, [])
    fresh, warnings = await _read_back(info, session.id, session)
    try:
        by_id = {a.id: a for a in await attendees_of(info, session.id)}
    except UpstreamError as exc:
        by_id = {}  # accepted by DAMSTRA; only the read back is missing
        message = f"saved, but DAMSTRA did not answer when the attendees were read back: {exc.message}"
        warnings += [user_error(row.field, message, NOT_READ_BACK) for row in to_send]
    for row in to_send:
        assert row.attendee is not None
        row.fresh = by_id.get(row.attendee.id)
        row.saved = _holds(row, row.fresh) if by_id else True
        if not row.saved:
            row.errors.append(user_error(row.field, "DAMSTRA answered OK but did not keep it", NOT_SAVED))
    return _attendance_payload(fresh, rows, warnings)


def _result(row: _Row) -> ILTAttendanceResult:
    if row.kept is not None:
        return row.kept
    record = row.fresh or row.attendee
    return ILTAttendanceResult(
        user_id=strawberry.ID(str(row.value.user_id)),
        saved=row.saved,
        attendee=ILTAttendee.from_damstra(record) if record else None,
        user_errors=row.errors,
        already_done=row.already_done,
    )


def _attendance_payload(
    session: DamstraILTSession | None, rows: list[_Row], warnings: list[UserError]
) -> SaveILTAttendancePayload:
    results = [_result(row) for row in rows]
    return SaveILTAttendancePayload(
        session=ILTSession.from_damstra(session) if session else None,
        results=results,
        user_errors=[error for result in results for error in result.user_errors],
        warnings=warnings,
    )


# -- the mutations ------------------------------------------------------------------------------


@strawberry.type
class ILTSessionMutations:
    @strawberry.mutation(name="createILTSession", description="Creates a DAMSTRA ILT session for a lesson.")
    async def create_ilt_session(self, info: Info, input: CreateILTSessionInput) -> CreateILTSessionPayload:
        # DAMSTRA cannot be asked whether a session was made: a repeat never makes one blindly.
        return await run_mutation(
            info, "createILTSession", input, CreateILTSessionPayload, _create, can_check=False
        )

    @strawberry.mutation(
        name="updateILTSession", description="Changes a DAMSTRA ILT session: only the fields given."
    )
    async def update_ilt_session(self, info: Info, input: UpdateILTSessionInput) -> UpdateILTSessionPayload:
        return await run_mutation(info, "updateILTSession", input, UpdateILTSessionPayload, _update)

    @strawberry.mutation(
        name="completeILTSession",
        description="Completes a DAMSTRA ILT session and, with it, every open lesson schedule registered in it.",
    )
    async def complete_ilt_session(
        self, info: Info, input: CompleteILTSessionInput
    ) -> CompleteILTSessionPayload:
        return await run_mutation(info, "completeILTSession", input, CompleteILTSessionPayload, _complete)

    @strawberry.mutation(
        name="cancelILTSession",
        description="Cancels a DAMSTRA ILT session and the open lesson schedules registered in it.",
    )
    async def cancel_ilt_session(self, info: Info, input: CancelILTSessionInput) -> CancelILTSessionPayload:
        return await run_mutation(info, "cancelILTSession", input, CancelILTSessionPayload, _cancel)

    @strawberry.mutation(
        name="saveILTAttendance",
        description="Records who attended and who passed a DAMSTRA ILT session. One result per row.",
    )
    async def save_ilt_attendance(
        self, info: Info, input: SaveILTAttendanceInput
    ) -> SaveILTAttendancePayload:
        return await run_mutation(
            info, "saveILTAttendance", input, SaveILTAttendancePayload, _save_attendance
        )
