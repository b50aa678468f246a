"""`registerForILTSession` and `deregisterFromILTSession`: DAMSTRA `bulk_register` / `bulk_deregister`.

DAMSTRA refuses a whole registration when one user is not scheduled for the session's lesson, so
each user is checked first: those without an open schedule get `NOT_SCHEDULED_FOR_LESSON`, the
rest are registered in one call. Deregistering someone who is not registered is `NOT_REGISTERED`.
One result per user.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import strawberry

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.errors import UpstreamError
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraILTSession, DamstraSchedule
from resolvers.ilt_session import ILTSession
from resolvers.info import Info
from resolvers.mutations.ilt_common import attendees_of, session_at
from resolvers.mutations.running import ALREADY_DONE, WARNINGS, repeating, run_mutation
from resolvers.mutations.scheduling import OPEN_DAMSTRA_STATUSES
from resolvers.mutations.targets import find_damstra_accounts, non_empty
from resolvers.mutations.user_errors import (
    NOT_READ_BACK,
    NOT_REGISTERED,
    NOT_SCHEDULED_FOR_LESSON,
    UserError,
    from_upstream,
    user_error,
)


@strawberry.input
class ILTRegistrationInput:
    session_id: strawberry.ID
    user_ids: list[strawberry.ID]
    idempotency_key: str | None = None


@strawberry.type(description="What happened for one of the users asked for.")
class ILTRegistrationResult:
    user_id: strawberry.ID
    registered: bool
    user_errors: list[UserError]
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)


@strawberry.type
class ILTRegistrationPayload:
    session: ILTSession | None = None
    results: list[ILTRegistrationResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@dataclass
class _Attendee:
    index: int
    raw_id: str
    damstra_id: int | None = None
    registered: bool = False
    errors: list[UserError] = field(default_factory=list)
    already_done: bool = False
    kept: ILTRegistrationResult | None = None  # final in the attempt this one repeats: answered as it was

    @property
    def field(self) -> list[str | int]:
        return ["userIds", self.index]


async def _attendees(info: Info, raw_ids: list[strawberry.ID]) -> list[_Attendee]:
    """Everyone listed; those this attempt is to settle (not kept from the one it repeats) looked up."""
    non_empty(["userIds"], raw_ids)
    people = [_Attendee(index, str(raw)) for index, raw in enumerate(raw_ids)]
    repeat = repeating()
    for person in people:
        person.kept = repeat.kept(person.index) if repeat is not None else None
    await find_damstra_accounts(info, [p for p in people if p.kept is None])
    return people


def _payload(
    session: DamstraILTSession | None, people: list[_Attendee], warnings: list[UserError] | None = None
) -> ILTRegistrationPayload:
    results = [
        p.kept
        or ILTRegistrationResult(
            user_id=strawberry.ID(p.raw_id),
            registered=p.registered,
            user_errors=p.errors,
            already_done=p.already_done,
        )
        for p in people
    ]
    return ILTRegistrationPayload(
        session=ILTSession.from_damstra(session) if session is not None else None,
        results=results,
        user_errors=[error for result in results for error in result.user_errors],
        warnings=warnings or [],
    )


async def _fresh(
    info: Info, session: DamstraILTSession, sent: list[_Attendee], registering: bool
) -> tuple[DamstraILTSession, set[int] | None, list[UserError]]:
    """The session and who is registered, read after the write; when that read fails, the session as it
    was, None (the write is taken as done) and a NOT_READ_BACK warning."""
    info.context.refresh_after_write()
    loaders = info.context.loaders
    try:
        fresh, attendees = await asyncio.gather(
            loaders.ilt_session.load(str(session.id)), loaders.attendees.load(str(session.id))
        )
    except UpstreamError as exc:
        done = "registered" if registering else "deregistered"
        message = f"{done}, but DAMSTRA did not answer when the session was read back: {exc.message}"
        return session, None, [user_error(p.field, message, NOT_READ_BACK) for p in sent]
    return fresh, {a.user_id for a in attendees if a.user_id is not None}, []


async def _publish(info: Info, session: DamstraILTSession, user_ids: list[int]) -> None:
    # DAMSTRA tells of registrations as changes to the attendees' lesson schedules.
    now = datetime.now(UTC)
    for user_id in user_ids:
        await info.context.services.events.publish(
            TrainingEvent(
                TrainingEventType.SCHEDULE_CHANGED,
                Source.DAMSTRA,
                now,
                user_id=str(user_id),
                lesson_id=str(session.lesson_id) if session.lesson_id is not None else None,
            )
        )


async def _register(info: Info, value: ILTRegistrationInput) -> ILTRegistrationPayload:
    session = await session_at(info, value.session_id, "ILT registration")
    people = await _attendees(info, value.user_ids)
    candidates = [p for p in people if p.damstra_id is not None and not p.errors and p.kept is None]
    loaders = info.context.loaders
    schedules: list[list[DamstraSchedule]] = await asyncio.gather(
        *(loaders.user_schedules.load(str(p.damstra_id)) for p in candidates)
    )
    already: set[int] = {a.user_id for a in await attendees_of(info, session.id) if a.user_id is not None}
    to_send: list[_Attendee] = []
    for person, theirs in zip(candidates, schedules, strict=True):
        scheduled = any(
            s.lesson_id == session.lesson_id and (s.status or "").lower() in OPEN_DAMSTRA_STATUSES
            for s in theirs
        )
        if person.damstra_id in already:
            # Nothing to do: registering twice is the same as once.
            person.registered = person.already_done = True
        elif not scheduled:
            person.errors.append(
                user_error(
                    person.field,
                    f"not scheduled for lesson {session.lesson_name or session.lesson_id}: schedule it first",
                    NOT_SCHEDULED_FOR_LESSON,
                )
            )
        else:
            to_send.append(person)
    if to_send:
        try:
            await info.context.writes.register(
                session.id, [p.damstra_id for p in to_send if p.damstra_id is not None]
            )
        except UpstreamError as exc:
            for person in to_send:
                person.errors.append(_registration_refusal(exc, person.field))
            return _payload(session, people)
    fresh, registered, warnings = await _fresh(info, session, to_send, registering=True)
    for person in to_send:
        person.registered = registered is None or person.damstra_id in registered
    await _publish(info, fresh, [p.damstra_id for p in to_send if p.registered and p.damstra_id is not None])
    return _payload(fresh, people, warnings)


async def _deregister(info: Info, value: ILTRegistrationInput) -> ILTRegistrationPayload:
    session = await session_at(info, value.session_id, "ILT registration")
    people = await _attendees(info, value.user_ids)
    registered: set[int] = {a.user_id for a in await attendees_of(info, session.id) if a.user_id is not None}
    to_send: list[_Attendee] = []
    settling = repeating() is not None
    for person in people:
        if person.damstra_id is None or person.errors or person.kept is not None:
            continue
        if person.damstra_id in registered:
            to_send.append(person)
        elif settling:
            person.already_done = True  # an earlier attempt with this key deregistered them
        else:
            person.errors.append(user_error(person.field, "not registered for this session", NOT_REGISTERED))
    for person in people:
        person.registered = person.damstra_id in registered
    if to_send:
        try:
            await info.context.writes.deregister(
                session.id, [p.damstra_id for p in to_send if p.damstra_id is not None]
            )
        except UpstreamError as exc:
            for person in to_send:
                person.errors.append(from_upstream(exc, person.field))
            return _payload(session, people)
    fresh, still, warnings = await _fresh(info, session, to_send, registering=False)
    for person in to_send:
        person.registered = still is not None and person.damstra_id in still
        if person.registered:
            person.errors.append(user_error(person.field, "DAMSTRA kept the registration", "NOT_REMOVED"))
    await _publish(
        info, fresh, [p.damstra_id for p in to_send if not p.registered and p.damstra_id is not None]
    )
    return _payload(fresh, people, warnings)


def _registration_refusal(exc: UpstreamError, where: list[str | int]) -> UserError:
    if "not scheduled" in exc.message.lower():
        return user_error(where, f"DAMSTRA: {exc.message}", NOT_SCHEDULED_FOR_LESSON)
    return from_upstream(exc, where)


@strawberry.type
class ILTRegistrationMutations:
    @strawberry.mutation(
        name="registerForILTSession",
        description="Registers people for a DAMSTRA ILT session; each must be scheduled for its lesson.",
    )
    async def register_for_ilt_session(
        self, info: Info, input: ILTRegistrationInput
    ) -> ILTRegistrationPayload:
        return await run_mutation(info, "registerForILTSession", input, ILTRegistrationPayload, _register)

    @strawberry.mutation(
        name="deregisterFromILTSession", description="Deregisters people from a DAMSTRA ILT session."
    )
    async def deregister_from_ilt_session(
        self, info: Info, input: ILTRegistrationInput
    ) -> ILTRegistrationPayload:
        return await run_mutation(
            info, "deregisterFromILTSession", input, ILTRegistrationPayload, _deregister
        )
