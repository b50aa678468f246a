"""The `Query` root (docs/contract.md §6)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, cast

import strawberry

from gateway.data.completions import CompletionFilter
from gateway.data.people import Person
from gateway.errors import Forbidden, UpstreamError
from gateway.native_ids import numeric_id
from gateway.sources import Source
from gateway.upstreams.damstra.records import ActiveValue, DamstraILTSession
from resolvers import relay
from resolvers.completion import Completion, completions_connection, indexed_completions
from resolvers.enums import (
    DAMSTRA_LESSON_STATUS,
    DAMSTRA_ROLE_IDS,
    ILT_STATE_IDS,
    ILT_STATUS_IDS,
    ILTSessionState,
    ILTSessionStatus,
    LessonStatus,
    Role,
    ScheduleStatus,
)
from resolvers.global_id import decode
from resolvers.group import Group
from resolvers.ilt_session import ILTSession
from resolvers.info import Info, or_reported, path_of
from resolvers.lesson import Lesson
from resolvers.lookup import find_node, find_typed
from resolvers.node import Node
from resolvers.scalars import Date
from resolvers.schedule import Schedule
from resolvers.schedule_list import ScheduleFilter, schedules_connection
from resolvers.segments import PagedSegment, Segment, WholeSegment, segmented
from resolvers.user import User


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global ID.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await find_node(info, id)

    @strawberry.field(description="A person, found by the ID of any of their accounts.")
    async def user(self, info: Info, id: strawberry.ID) -> User | None:
        return cast(User, await find_typed(info, id, "User"))

    @strawberry.field(
        description="People: DAMSTRA's directory, then people known only from the identity file."
    )
    async def users(
        self,
        info: Info,
        search: str | None = None,
        email: str | None = None,
        employee_number: str | None = None,
        include_inactive: bool | None = False,  # nullable as docs/contract.md §6 has it; null is false
        first: int | None = None,
        after: str | None = None,
        role: Annotated[
            Role | None, strawberry.argument(description="Only people with this DAMSTRA role (`roleId`).")
        ] = None,
        active: Annotated[
            bool | None,
            strawberry.argument(
                description="true: active people only, false: inactive only; overrides includeInactive. "
                "With `role` or `active`, only people with a DAMSTRA account are listed."
            ),
        ] = None,
    ) -> relay.Connection[User]:
        segments: list[Segment[User]] = []
        listings = info.context.listings
        active_value: ActiveValue = "all" if include_inactive else "active"
        if active is not None:
            active_value = "active" if active else "inactive"
        if Source.DAMSTRA in listings.enabled():

            async def damstra(start: int, size: int) -> tuple[list[User], int | None]:
                listing = await listings.damstra_users(
                    q=search,
                    email=email,
                    emp_id=employee_number,
                    active_value=active_value,
                    role_id=DAMSTRA_ROLE_IDS[role] if role is not None else None,
                    start=start,
                    size=size,
                )
                info.context.loaders.prime_damstra_users(listing.items)
                people = info.context.people
                return [User.from_person(people.from_damstra(u)) for u in listing.items], listing.total

            segments.append(PagedSegment(damstra))

        async def identity_only() -> list[User]:
            if role is not None or active is not None:
                return []  # roles and the active flag are DAMSTRA's: these people have neither
            return [
                User.from_person(p) for p in await _identity_only_people(info, search, email, employee_number)
            ]

        segments.append(WholeSegment(identity_only))
        connection = await segmented(info, segments, first, after)
        if not (search or email or employee_number):
            await _count_from_index(info, connection, include_inactive=bool(include_inactive))
        return connection

    @strawberry.field
    async def group(self, info: Info, id: strawberry.ID) -> Group | None:
        return cast(Group, await find_typed(info, id, "Group"))

    @strawberry.field
    async def groups(
        self, info: Info, search: str | None = None, first: int | None = None, after: str | None = None
    ) -> relay.Connection[Group]:
        start, size = relay.offset_after(after), relay.page_size(first)

        async def read() -> relay.Connection[Group]:
            listing = await info.context.listings.damstra_groups(q=search, start=start, size=size)
            return relay.from_window([Group.from_damstra(g) for g in listing.items], start, listing.total)

        return await or_reported(info, read(), relay.from_window([], start, None))

    @strawberry.field
    async def lesson(self, info: Info, id: strawberry.ID) -> Lesson | None:
        return cast(Lesson, await find_typed(info, id, "Lesson"))

    @strawberry.field(
        description="The catalogue: DAMSTRA lessons first, then the codes the other sources use."
    )
    async def lessons(
        self,
        info: Info,
        search: str | None = None,
        source: Source | None = None,
        status: list[LessonStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> relay.Connection[Lesson]:
        listings = info.context.listings
        enabled = set(listings.enabled())
        wanted = [s for s in Source if (source is None or s is source) and s in enabled]
        segments: list[Segment[Lesson]] = []
        if Source.DAMSTRA in wanted:
            states = [word for word, value in DAMSTRA_LESSON_STATUS.items() if not status or value in status]

            async def damstra(start: int, size: int) -> tuple[list[Lesson], int | None]:
                listing = await listings.damstra_lessons(
                    q=search, published_states=states, start=start, size=size
                )
                return [Lesson.from_damstra(lesson) for lesson in listing.items], listing.total

            segments.append(PagedSegment(damstra))
        if not status:
            # Course codes, packages and trainings have no published state: a status filter leaves them out.
            for other in wanted:
                if other is not Source.DAMSTRA:
                    segments.append(WholeSegment(_code_lessons(info, other, search)))
        return await segmented(info, segments, first, after)

    @strawberry.field
    async def schedule(self, info: Info, id: strawberry.ID) -> Schedule | None:
        return cast(Schedule, await find_typed(info, id, "Schedule"))

    @strawberry.field
    async def ilt_session(self, info: Info, id: strawberry.ID) -> ILTSession | None:
        return cast(ILTSession, await find_typed(info, id, "ILTSession"))

    @strawberry.field
    async def ilt_sessions(
        self,
        info: Info,
        lesson_id: strawberry.ID | None = None,
        instructor_id: strawberry.ID | None = None,
        state: ILTSessionState | None = None,
        status: ILTSessionStatus | None = None,
        first: int | None = None,
        after: str | None = None,
        schedule_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(
                description="The session a DAMSTRA schedule is booked into (DAMSTRA's `lessonScheduleId`)."
            ),
        ] = None,
    ) -> relay.Connection[ILTSession]:
        start, size = relay.offset_after(after), relay.page_size(first)
        schedule = decode(schedule_id, "Schedule") if schedule_id is not None else None
        if schedule is not None and schedule.source is not Source.DAMSTRA:
            return relay.from_list([], first, after)  # only DAMSTRA runs sessions
        schedule_native = numeric_id(schedule.native_id, "DAMSTRA lesson schedule id") if schedule else None

        async def read() -> relay.Connection[ILTSession]:
            listings = info.context.listings
            instructor = await _damstra_user_id(info, instructor_id) if instructor_id else None
            if instructor_id and instructor is None:
                return relay.from_list([], first, after)
            filters: dict[str, Any] = {
                "state": ILT_STATE_IDS[state] if state else None,
                "status": ILT_STATUS_IDS[status] if status else None,
                "instructor_id": int(instructor) if instructor else None,
                "lesson_schedule_id": int(schedule_native) if schedule_native else None,
            }
            now = datetime.now(UTC)

            def node(session: DamstraILTSession) -> ILTSession:
                found = ILTSession.from_damstra(session, now)
                if state is not None:
                    # DAMSTRA applied the state filter by its own clock, and list items carry no state:
                    # its word stands over one worked out again here.
                    found.state = state
                return found

            if lesson_id is not None:
                lesson = decode(lesson_id, "Lesson")
                if lesson.source is not Source.DAMSTRA:
                    return relay.from_list([], first, after)
                # The upstream filters by no lesson: read the (filtered) list whole and keep the lesson's.
                sessions = [
                    s
                    async for s in listings.every_ilt_session(**filters)
                    if str(s.lesson_id) == lesson.native_id
                ]
                return relay.from_list([node(s) for s in sessions], first, after)
            listing = await listings.ilt_sessions(start=start, size=size, **filters)
            return relay.from_window([node(s) for s in listing.items], start, listing.total)

        async def allowed() -> relay.Connection[ILTSession]:
            try:
                return await read()
            except Forbidden as exc:  # by the schedule of someone the caller may not see: none, and why
                info.context.report(exc, path_of(info))
                return relay.from_window([], start, 0)

        # A DAMSTRA outage (or the instructor's look-up in it) empties this list; the answer stands.
        return await or_reported(info, allowed(), relay.from_window([], start, None))

    @strawberry.field(
        description="Schedules across people (those the caller may see), soonest due first: from the "
        "training index when it is on and LIVE, else read live."
    )
    async def schedules(
        self,
        info: Info,
        status: list[ScheduleStatus] | None = None,
        due_before: Date | None = None,
        due_after: Date | None = None,
        source: Source | None = None,
        group_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> relay.Connection[Schedule]:
        flt = ScheduleFilter(frozenset(status or ()), due_before, due_after, source)
        return await schedules_connection(info, flt, group_id, first, after)

    @strawberry.field(description="Completions merged across every source, newest first.")
    async def completions(
        self,
        info: Info,
        user_id: strawberry.ID | None = None,
        lesson_id: strawberry.ID | None = None,
        source: Source | None = None,
        completed_after: Date | None = None,
        completed_before: Date | None = None,
        expiring_before: Date | None = None,
        expiring_after: Annotated[
            Date | None, strawberry.argument(description="expiresOn strictly after.")
        ] = None,
        score: Annotated[float | None, strawberry.argument(description="With exactly this score.")] = None,
        first: int | None = None,
        after: str | None = None,
    ) -> relay.Connection[Completion]:
        lesson = None
        if lesson_id is not None:
            found = decode(lesson_id, "Lesson")
            lesson = (found.source, found.native_id)
        flt = CompletionFilter(
            completed_after, completed_before, expiring_before, lesson, expiring_after, score
        )
        if user_id is None:
            indexed = await indexed_completions(info, flt, source, first, after)
            if indexed is not None:
                return indexed
            # Everyone's the caller may see: everyone's at all for ADMIN (None), else their people's.
            everyone = await info.context.people.everyone()
            return await completions_connection(info, everyone, flt, source, first, after)
        person_id = user_id

        async def for_person() -> relay.Connection[Completion]:
            person = cast(User, await find_typed(info, person_id, "User")).person
            return await completions_connection(info, person, flt, source, first, after)

        # Finding the person may need DAMSTRA: if that fails, this list is empty, not the whole answer null.
        empty: relay.Connection[Completion] = relay.from_keyed(
            [], [], has_next=False, has_previous=after is not None, total=None
        )
        return await or_reported(info, for_person(), empty)


async def _count_from_index(
    info: Info, connection: relay.Connection[User], *, include_inactive: bool
) -> None:
    """`users { totalCount }` from the index when DAMSTRA is LIVE there: its users the caller may see,
    plus the identity file's people no DAMSTRA user matches (live, that is a DAMSTRA search each)."""
    indexed = info.context.indexed
    if Source.DAMSTRA not in info.context.listings.enabled():
        return
    if not (await indexed.use_for([Source.DAMSTRA])).used:
        return
    damstra, as_of = await indexed.damstra_users_count(include_inactive=include_inactive)
    entries = [e for e in await info.context.people.directory_entries() if not e.ids(Source.DAMSTRA)]
    others = await indexed.without_damstra_user(entries)
    total = damstra + len(others)

    async def count() -> int | None:
        return total

    connection.count_later = count
    connection.as_of = as_of


async def _damstra_user_id(info: Info, raw_id: str) -> str | None:
    user = cast(User, await find_typed(info, raw_id, "User"))
    ids = user.person.ids(Source.DAMSTRA)
    return ids[0] if ids else None


async def find_user_by_email(info: Info, email: str) -> User | None:
    """The person with this email (case-insensitive) whom the caller may see, as `users(email:)` finds
    them: DAMSTRA's directory first, then the identity file."""
    listings = info.context.listings
    wanted = email.lower()
    if Source.DAMSTRA in listings.enabled():
        listing = await listings.damstra_users(
            q=None, email=email, emp_id=None, active_value="all", start=0, size=5
        )
        info.context.loaders.prime_damstra_users(listing.items)
        for found in listing.items:
            if (found.email_address or "").lower() == wanted:
                return User.from_person(info.context.people.from_damstra(found))
    people = await _identity_only_people(info, None, email, None)
    return User.from_person(people[0]) if people else None


def _matches(person: Person, search: str | None, email: str | None, employee_number: str | None) -> bool:
    if email and (person.email or "").lower() != email.lower():
        return False
    if employee_number and person.employee_number != employee_number:
        return False
    if search:
        needle = search.lower()
        haystack = [person.email or "", *person.learninglogin_usernames()]
        return any(needle in text.lower() for text in haystack)
    return True


async def _identity_only_people(
    info: Info, search: str | None, email: str | None, employee_number: str | None
) -> list[Person]:
    """People in the identity file with no DAMSTRA account (those with one are listed from DAMSTRA)."""
    firsts = [
        next((s, ids[0]) for s, ids in sorted_accounts(linked.accounts))
        for linked in await info.context.people.directory_entries()
    ]
    # All at once: whether each has a DAMSTRA account is a DAMSTRA search, which the loaders batch.
    found = await asyncio.gather(
        *(
            info.context.people.for_account(source, native, seen_upstream=True)
            for source, native in firsts
            if source is not Source.DAMSTRA
        ),
        return_exceptions=True,
    )
    failures = [f for f in found if isinstance(f, UpstreamError)]
    if failures:
        info.context.report(failures[0], path_of(info))  # one outage, one error; not one per person
    for failure in found:
        if isinstance(failure, BaseException) and not isinstance(failure, UpstreamError):
            raise failure
    return [
        person
        for person in found
        if isinstance(person, Person)
        and person.damstra is None
        and _matches(person, search, email, employee_number)
    ]


def sorted_accounts(accounts: dict[Source, list[str]]) -> list[tuple[Source, list[str]]]:
    return [(s, accounts[s]) for s in Source if accounts.get(s)]


def _code_lessons(info: Info, source: Source, search: str | None) -> Callable[[], Awaitable[list[Lesson]]]:
    """Lessons a source names only by code, gathered from its records (it has no catalogue)."""
    loaders, listings = info.context.loaders, info.context.listings

    async def gather() -> list[Lesson]:
        names: dict[str, str | None] = {}
        if source is Source.LEARNINGLOGIN:
            async for code in listings.course_codes(search):
                names.setdefault(code, None)
        elif source is Source.TRAINING_RECORDS:
            names = await loaders.training_packages()
        elif source is Source.ISCOUT:
            async for training_id in listings.iscout_training_ids():
                names.setdefault(training_id, None)
        else:
            for item in await listings.vendor_completions(source, None):
                if item.lesson is not None:
                    names.setdefault(item.lesson[1], item.lesson_name)
        found = [Lesson.from_code(source, code, name) for code, name in sorted(names.items())]
        if search and source is not Source.LEARNINGLOGIN:
            needle = search.lower()
            found = [lesson for lesson in found if needle in f"{lesson.code} {lesson.name or ''}".lower()]
        return found

    return gather
