"""`ILTSession` and `ILTAttendee`: DAMSTRA instructor-led sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraAttendee, DamstraILTSession, DamstraSchedule
from resolvers.enums import ILTSessionState, ILTSessionStatus
from resolvers.global_id import encode
from resolvers.info import Info
from resolvers.lesson import Lesson, lesson_for
from resolvers.node import Node
from resolvers.scalars import DateTime
from resolvers.schedule import Schedule

if TYPE_CHECKING:
    from resolvers.user import User

_STATE_WORDS = {
    "upcoming": ILTSessionState.UPCOMING,
    "inprogress": ILTSessionState.IN_PROGRESS,
    "in_progress": ILTSessionState.IN_PROGRESS,
    "past": ILTSessionState.PAST,
}
_STATUS_IDS = {1: ILTSessionStatus.ACTIVE, 2: ILTSessionStatus.COMPLETED, 3: ILTSessionStatus.CANCELLED}


def _state(session: DamstraILTSession, now: datetime) -> ILTSessionState | None:
    word = (session.state or "").replace(" ", "").lower()
    if word in _STATE_WORDS:
        return _STATE_WORDS[word]
    # Lists carry no state; it follows from the times (DAMSTRA's document: 1 upcoming, 2 in progress, 3 past).
    if session.start_datetime is None or session.end_datetime is None:
        return None
    if now < session.start_datetime:
        return ILTSessionState.UPCOMING
    return ILTSessionState.IN_PROGRESS if now <= session.end_datetime else ILTSessionState.PAST


async def _user(info: Info, user_id: int | None) -> User | None:
    from resolvers.user import User

    if user_id is None:
        return None
    person = await info.context.people.for_account(Source.DAMSTRA, str(user_id))
    return User.from_person(person) if person else None


@strawberry.type
class ILTAttendee:
    id: strawberry.ID
    attended: bool | None
    passed: bool | None
    record: strawberry.Private[DamstraAttendee]

    @strawberry.field
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        return await _user(info, self.record.user_id)

    @strawberry.field
    async def registered_by(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        return await _user(info, self.record.registering_user_id)

    @strawberry.field
    async def schedule(self, info: Info) -> Schedule | None:
        if self.record.lesson_schedule_id is None:
            return None
        schedule: DamstraSchedule = await info.context.loaders.schedule.load(
            str(self.record.lesson_schedule_id)
        )
        return Schedule.from_damstra(schedule)

    @classmethod
    def from_damstra(cls, attendee: DamstraAttendee) -> ILTAttendee:
        return cls(
            id=strawberry.ID(encode("ILTAttendee", Source.DAMSTRA, str(attendee.id))),
            attended=attendee.attended,
            passed=attendee.passed,
            record=attendee,
        )


@strawberry.type
class ILTSession(Node):
    id: strawberry.ID
    starts_at: DateTime
    ends_at: DateTime
    location: str | None
    notes: str | None
    capacity: int | None
    attendee_count: int | None
    state: ILTSessionState | None
    status: ILTSessionStatus | None
    attendance_rate: float | None
    pass_rate: float | None
    record: strawberry.Private[DamstraILTSession]

    @classmethod
    def from_damstra(cls, session: DamstraILTSession, now: datetime | None = None) -> ILTSession:
        epoch = datetime.fromtimestamp(0, UTC)
        return cls(
            id=strawberry.ID(encode("ILTSession", Source.DAMSTRA, str(session.id))),
            starts_at=session.start_datetime or epoch,
            ends_at=session.end_datetime or session.start_datetime or epoch,
            location=session.location,
            notes=session.notes,
            capacity=session.number_of_places,
            attendee_count=session.number_of_attendees,
            state=_state(session, now or datetime.now(UTC)),
            status=_STATUS_IDS.get(session.status_id) if session.status_id is not None else None,
            attendance_rate=session.attendance_rate,
            pass_rate=session.pass_rate,
            record=session,
        )

    @strawberry.field
    async def lesson(self, info: Info) -> Lesson | None:
        if self.record.lesson_id is None:
            return None
        return await lesson_for(info, Source.DAMSTRA, str(self.record.lesson_id))

    @strawberry.field
    async def instructor(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        return await _user(info, self.record.instructor_id)

    @strawberry.field
    async def attendees(self, info: Info) -> list[ILTAttendee]:
        found: list[DamstraAttendee] = await info.context.loaders.attendees.load(str(self.record.id))
        return [ILTAttendee.from_damstra(a) for a in found]


async def all_ilt_sessions(info: Info) -> list[DamstraILTSession]:
    return await info.context.loaders.all_ilt_sessions()
