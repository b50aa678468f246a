"""`unassignCourses`: taking assigned training away.

By course codes: LEARNINGLOGIN `POST /train_sessions/unassign` for the person's login. By schedule
IDs: LEARNINGLOGIN train sessions (one unassign call for all) and TRAINING_RECORDS records
(`DELETE` each). DAMSTRA has no API to unassign a lesson schedule.

LEARNINGLOGIN answers an unassign with no count, so the person's sessions are read before and after:
`unassignedCount` is what actually went, and a code or id that removed nothing gets a `userError`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

import strawberry

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.data.people import Person
from gateway.errors import UpstreamError
from gateway.sources import Source
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
from resolvers.info import Info
from resolvers.mutations.running import WARNINGS, repeating, run_mutation
from resolvers.mutations.targets import account_in, global_id, native_of, person_at
from resolvers.mutations.user_errors import (
    NO_ACCOUNT_IN_SOURCE,
    NOT_FOUND,
    NOT_SUPPORTED_BY_SOURCE,
    Refused,
    UserError,
    from_upstream,
    user_error,
)


@strawberry.input(description="Give `courseCodes` (LEARNINGLOGIN) or `scheduleIds`, not both.")
class UnassignCoursesInput:
    user_id: strawberry.ID
    course_codes: list[str] | None = None
    schedule_ids: list[strawberry.ID] | None = None
    idempotency_key: str | None = None


@strawberry.type
class UnassignCoursesPayload:
    unassigned_count: int | None = strawberry.field(
        default=0, description="How many schedules went; null when LEARNINGLOGIN gave no way to count them."
    )
    already_done: bool = strawberry.field(
        default=False,
        description="True when a repeat with the idempotencyKey found everything asked for gone already "
        "(an earlier attempt unassigned it): nothing was written now.",
    )
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@dataclass
class _Login:
    login_id: str
    username: str | None


def _login_of(person: Person) -> _Login:
    login_id = account_in(person, Source.LEARNINGLOGIN, ["userId"])
    username = next(
        (a.username for a in person.accounts if a.source is Source.LEARNINGLOGIN and a.native_id == login_id),
        None,
    )
    return _Login(login_id, username)


async def _sessions(info: Info, login: _Login) -> dict[int, TrainSession]:
    """The login's train sessions, read now (never from this request's earlier reads)."""
    if login.username is None:
        return {}
    filters = TrainSessionFilters(assignee_login_username_eq=login.username)
    return {s.id: s async for s in info.context.listings.train_sessions(filters)}


async def _publish_removed(info: Info, login: _Login, removed: list[TrainSession]) -> None:
    now = datetime.now(UTC)
    for session in removed:
        await info.context.services.events.publish(
            TrainingEvent(
                TrainingEventType.SCHEDULE_CANCELLED,
                Source.LEARNINGLOGIN,
                now,
                user_id=login.login_id,
                schedule_id=str(session.id),
                lesson_id=session.course_code,
            )
        )


async def _by_course_codes(info: Info, person: Person, codes: list[str]) -> UnassignCoursesPayload:
    login = _login_of(person)
    blank = [i for i, code in enumerate(codes) if not code.strip()]
    if blank:
        raise Refused.at(["courseCodes", blank[0]], "a course code must not be blank")
    codes = list(dict.fromkeys(code.strip() for code in codes))
    before = await _sessions(info, login)
    settling = repeating() is not None and login.username is not None
    if settling:
        # A repeat: the codes with no session left went with an earlier attempt.
        held = {s.course_code for s in before.values()}
        codes = [code for code in codes if code in held]
        if not codes:
            return UnassignCoursesPayload(unassigned_count=0, already_done=True)
    try:
        await info.context.writes.unassign_courses(login.login_id, codes, username=login.username)
    except UpstreamError as exc:
        # Includes LEARNINGLOGIN's 200 "Could not find any corresponding train sessions.": NOT_FOUND.
        raise Refused([from_upstream(exc, ["courseCodes"])]) from None
    if login.username is None:
        # Done, but with no username the sessions cannot be read to count what went.
        return UnassignCoursesPayload(unassigned_count=None)
    after = await _sessions(info, login)
    removed = [s for sid, s in before.items() if sid not in after]
    await _publish_removed(info, login, removed)
    gone_codes = {s.course_code for s in removed}
    errors = [
        user_error(
            ["courseCodes", i], f"{login_label(login)} had no train session of course {code}", NOT_FOUND
        )
        for i, code in enumerate(codes)
        if code not in gone_codes
    ]
    return UnassignCoursesPayload(unassigned_count=len(removed), user_errors=errors)


def login_label(login: _Login) -> str:
    return f"LEARNINGLOGIN login {login.login_id}"


async def _by_schedule_ids(
    info: Info, person: Person, raw_ids: list[strawberry.ID]
) -> UnassignCoursesPayload:
    errors: list[UserError] = []
    learninglogin: dict[int, int] = {}  # train session id -> input index
    training_records: dict[str, int] = {}  # record api_id -> input index
    for index, raw in enumerate(raw_ids):
        where: list[str | int] = ["scheduleIds", index]
        try:
            gid = global_id(where, str(raw), "Schedule")
            native = native_of(where, gid)
        except Refused as exc:
            errors += exc.errors
            continue
        if gid.source is Source.LEARNINGLOGIN:
            learninglogin[int(native)] = index
        elif gid.source is Source.TRAINING_RECORDS:
            training_records[native] = index
        else:
            errors.append(
                user_error(
                    where, f"{gid.source.name} has no API to unassign a schedule", NOT_SUPPORTED_BY_SOURCE
                )
            )
    counts = await asyncio.gather(
        _unassign_train_sessions(info, person, learninglogin, errors),
        _delete_records(info, person, training_records, errors),
    )
    count = sum(counts)
    done = repeating() is not None and count == 0 and not errors
    return UnassignCoursesPayload(unassigned_count=count, user_errors=errors, already_done=done)


async def _unassign_train_sessions(
    info: Info, person: Person, wanted: dict[int, int], errors: list[UserError]
) -> int:
    if not wanted:
        return 0
    try:
        login = _login_of(person)
    except Refused as exc:
        errors += [
            user_error(["scheduleIds", i], e.message, e.code) for i in wanted.values() for e in exc.errors
        ]
        return 0
    if login.username is None:
        # Train sessions do not name their login; only the username filter shows whose they are.
        for index in wanted.values():
            errors.append(
                user_error(
                    ["scheduleIds", index],
                    "cannot confirm this train session is this person's: no LEARNINGLOGIN username is linked",
                    NO_ACCOUNT_IN_SOURCE,
                )
            )
        return 0
    before = await _sessions(info, login)
    theirs = {sid: index for sid, index in wanted.items() if sid in before}
    for sid, index in wanted.items():
        # In a repeat, one that is gone went with an earlier attempt.
        if sid not in theirs and repeating() is None:
            errors.append(
                user_error(["scheduleIds", index], f"no train session {sid} of this person", NOT_FOUND)
            )
    if not theirs:
        return 0
    try:
        await info.context.writes.unassign_train_sessions(
            login.login_id, list(theirs), username=login.username
        )
    except UpstreamError as exc:
        errors += [from_upstream(exc, ["scheduleIds", index]) for index in theirs.values()]
        return 0
    after = await _sessions(info, login)
    removed = [before[sid] for sid in theirs if sid not in after]
    for sid, index in theirs.items():
        if sid in after:
            errors.append(
                user_error(["scheduleIds", index], f"LEARNINGLOGIN kept train session {sid}", "NOT_REMOVED")
            )
    await _publish_removed(info, login, removed)
    return len(removed)


async def _delete_records(info: Info, person: Person, wanted: dict[str, int], errors: list[UserError]) -> int:
    if not wanted:
        return 0
    person_ids = set(person.ids(Source.TRAINING_RECORDS))
    info.context.loaders.invalidate_training_records()  # whose records these are, as of now
    records = {
        r.api_id: r
        for pid in person_ids
        for r in (await info.context.loaders.training_records_by_person()).get(pid, [])
    }

    async def delete(api_id: str, index: int) -> int:
        record = records.get(api_id)
        if record is None and repeating() is not None:
            return 0  # gone with an earlier attempt with this key
        if record is None:
            errors.append(
                user_error(["scheduleIds", index], f"no training record {api_id} of this person", NOT_FOUND)
            )
            return 0
        try:
            await info.context.writes.delete_record(record.person_api_id or "", api_id)
        except UpstreamError as exc:
            errors.append(from_upstream(exc, ["scheduleIds", index]))
            return 0
        finally:
            info.context.loaders.invalidate_training_records()
        await info.context.services.events.publish(
            TrainingEvent(
                TrainingEventType.SCHEDULE_CANCELLED,
                Source.TRAINING_RECORDS,
                datetime.now(UTC),
                user_id=record.person_api_id,
                schedule_id=api_id,
                lesson_id=record.package_api_id,
            )
        )
        return 1

    return sum(await asyncio.gather(*(delete(api_id, index) for api_id, index in wanted.items())))


async def _unassign(info: Info, value: UnassignCoursesInput) -> UnassignCoursesPayload:
    if bool(value.course_codes) == bool(value.schedule_ids):
        raise Refused.at(["courseCodes"], "give courseCodes or scheduleIds (a non-empty list), not both")
    person = await person_at(info, ["userId"], value.user_id)
    if value.course_codes:
        return await _by_course_codes(info, person, value.course_codes)
    return await _by_schedule_ids(info, person, value.schedule_ids or [])


@strawberry.type
class UnassigningMutations:
    @strawberry.mutation(
        description="Unassigns a person's courses: LEARNINGLOGIN by course code, or LEARNINGLOGIN train "
        "sessions and TRAINING_RECORDS records by schedule ID."
    )
    async def unassign_courses(self, info: Info, input: UnassignCoursesInput) -> UnassignCoursesPayload:
        return await run_mutation(info, "unassignCourses", input, UnassignCoursesPayload, _unassign)
