"""`Completion`: completed training from all four sources, merged newest first."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from datetime import date as date_type
from typing import TYPE_CHECKING, Annotated, cast

import strawberry

from gateway.data.completions import (
    ISCOUT_PAGE,
    CompletionFilter,
    CompletionItem,
    Cursor,
    IScoutPages,
    SourceStreams,
    day_start,
    merge,
)
from gateway.data.people import Person
from gateway.index.queries import CompletionQuery
from gateway.index.rows import CompletionRow
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraSchedule
from gateway.upstreams.iscout.records import IScoutCompletion
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers import relay
from resolvers.global_id import encode
from resolvers.info import Info, path_of
from resolvers.lesson import Lesson, known_lesson_for, lesson_for
from resolvers.node import Node
from resolvers.scalars import Date, DateTime
from resolvers.schedule import Schedule

if TYPE_CHECKING:
    from resolvers.user import User


@strawberry.type
class Completion(Node):
    id: strawberry.ID
    source: Source
    completed_at: DateTime
    score: float | None
    passed: bool | None
    expires_on: Date | None
    item: strawberry.Private[CompletionItem]

    @classmethod
    def from_item(cls, item: CompletionItem) -> Completion:
        return cls(
            id=strawberry.ID(encode("Completion", item.source, item.native_id)),
            source=item.source,
            completed_at=item.completed_at,
            score=item.score,
            passed=item.passed,
            expires_on=item.expires_on,
            item=item,
        )

    @strawberry.field
    async def user(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        return await _person(info, self.item.user)

    @strawberry.field
    async def instructor(self, info: Info) -> Annotated[User, strawberry.lazy("resolvers.user")] | None:
        return await _person(info, self.item.instructor)

    @strawberry.field
    def lesson(self, info: Info) -> Lesson | None:
        # Not `async`, as `Schedule.lesson`: a lesson at hand is answered in place, one to read is an
        # awaitable graphql-core awaits.
        if self.item.lesson is None:
            return None
        source, native = self.item.lesson
        if source is Source.TRAINING_RECORDS and isinstance(self.item.record, TrainingRecord):
            return Lesson.from_code(source, native, self.item.record.package_desc)
        if self.item.lesson_name is not None:
            return Lesson.from_code(source, native, self.item.lesson_name)
        known = known_lesson_for(info, source, native)
        if known is not None:
            return known
        return cast("Lesson | None", lesson_for(info, source, native))

    @strawberry.field
    async def schedule(self, info: Info) -> Schedule | None:
        record, ref = self.item.record, self.item.schedule
        if isinstance(record, DamstraSchedule):
            return Schedule.from_damstra(record)
        if isinstance(record, TrainSession):
            return Schedule.from_learninglogin(record, self.item.user)
        if isinstance(record, TrainingRecord):
            return Schedule.from_training_record(record)
        if ref is not None and ref[0] is Source.DAMSTRA:
            return Schedule.from_damstra(await info.context.loaders.schedule.load(ref[1]))
        return None


async def _person(info: Info, ref: tuple[Source, str] | None) -> User | None:
    from resolvers.user import User

    if ref is None:
        return None
    person = await info.context.people.for_account(*ref, seen_upstream=True)
    return User.from_person(person) if person else None


# -- turning upstream records into completion items ------------------------------------------


def from_damstra(schedule: DamstraSchedule) -> CompletionItem | None:
    if schedule.lesson_completed_date is None or (schedule.status or "completed").lower() != "completed":
        return None
    return CompletionItem(
        source=Source.DAMSTRA,
        native_id=str(schedule.id),
        completed_at=schedule.lesson_completed_date,
        user=(Source.DAMSTRA, str(schedule.user_id)) if schedule.user_id is not None else None,
        lesson=(Source.DAMSTRA, str(schedule.lesson_id)) if schedule.lesson_id is not None else None,
        schedule=(Source.DAMSTRA, str(schedule.id)),
        record=schedule,
    )


def from_learninglogin(session: TrainSession, login_id: str | None) -> CompletionItem | None:
    if session.completion_date is None:
        return None
    return CompletionItem(
        source=Source.LEARNINGLOGIN,
        native_id=str(session.id),
        completed_at=day_start(session.completion_date),
        user=(Source.LEARNINGLOGIN, login_id) if login_id else None,
        lesson=(Source.LEARNINGLOGIN, session.course_code) if session.course_code else None,
        score=session.score,
        passed=session.success,
        expires_on=session.cert_expiry,
        schedule=(Source.LEARNINGLOGIN, str(session.id)),
        record=session,
    )


def from_training_record(record: TrainingRecord) -> CompletionItem | None:
    if record.date_completed is None:
        return None
    return CompletionItem(
        source=Source.TRAINING_RECORDS,
        native_id=record.api_id,
        completed_at=record.date_completed,
        user=(Source.TRAINING_RECORDS, record.person_api_id) if record.person_api_id else None,
        lesson=(Source.TRAINING_RECORDS, record.package_api_id) if record.package_api_id else None,
        schedule=(Source.TRAINING_RECORDS, record.api_id),
        record=record,
    )


def iscout_native_id(completion: IScoutCompletion) -> str:
    # iScout completions carry no id of their own: user, training and creation time name one.
    # round, not int: 1078625331860 ms comes back from the datetime as 1078625331859.9999.
    created = round(completion.created.timestamp() * 1000) if completion.created else 0
    return f"{completion.user_id}:{completion.training_id}:{created}"


def from_iscout(completion: IScoutCompletion) -> CompletionItem | None:
    if completion.completed_on is None:
        return None
    return CompletionItem(
        source=Source.ISCOUT,
        native_id=iscout_native_id(completion),
        completed_at=day_start(completion.completed_on),
        user=(Source.ISCOUT, completion.user_id),
        lesson=(Source.ISCOUT, completion.training_id),
        expires_on=completion.expires_on,
        instructor=(Source.ISCOUT, completion.instructor_id) if completion.instructor_id else None,
        record=completion,
    )


# The vendors with mappings of their own; others contribute through `gateway.data.vendors`.
BUILT_IN = frozenset({Source.DAMSTRA, Source.LEARNINGLOGIN, Source.TRAINING_RECORDS, Source.ISCOUT})

# Only these sources' completions carry `expiresOn`; an expiry filter leaves the others nothing to read.
EXPIRING_SOURCES = frozenset({Source.LEARNINGLOGIN, Source.ISCOUT})


def _kept(items: list[CompletionItem | None]) -> list[CompletionItem]:
    return [item for item in items if item is not None]


# -- the streams one query reads --------------------------------------------------------------


def streams_for(
    info: Info, person: Person | None, flt: CompletionFilter, source: Source | None
) -> SourceStreams:
    loaders = info.context.loaders
    listings = info.context.listings
    enabled = set(listings.enabled())
    if flt.lesson is not None:
        source = flt.lesson[0] if source in (None, flt.lesson[0]) else None
        if source is None:
            return SourceStreams()
    wanted = [
        s
        for s in Source
        if (source is None or s is source) and s in enabled and (not flt.by_expiry or s in EXPIRING_SOURCES)
    ]
    streams = SourceStreams()

    if Source.DAMSTRA in wanted:

        async def damstra() -> list[CompletionItem]:
            if person is not None:
                user_ids = person.ids(Source.DAMSTRA)
            else:
                # DAMSTRA lists schedules per user only: a company-wide view reads every user's.
                user_ids = [str(u.id) async for u in listings.every_damstra_user(active_value="all")]
            # Only completed schedules are completions: DAMSTRA lists those alone.
            lists = await asyncio.gather(*(loaders.user_schedules.load((i, "completed")) for i in user_ids))
            return _kept([from_damstra(s) for found in lists for s in found])

        if person is None or person.ids(Source.DAMSTRA):
            streams.eager[Source.DAMSTRA] = damstra()

    if Source.LEARNINGLOGIN in wanted:

        async def learninglogin() -> list[CompletionItem]:
            if person is not None:
                logins = [
                    (a.native_id, a.username)
                    for a in person.accounts
                    if a.source is Source.LEARNINGLOGIN and a.username
                ]
                # At once: `everyone` (the people a supervisor sees) holds many logins.
                found = await asyncio.gather(
                    *(loaders.train_sessions_by_username.load(username) for _, username in logins)
                )
                return _kept(
                    [
                        from_learninglogin(s, login_id)
                        for (login_id, _), sessions in zip(logins, found, strict=True)
                        for s in sessions
                    ]
                )
            # Only completed sessions carry a completion date; the upstream filters by it, and by every
            # other filter it has (the expiry bounds are checked again here: LearningLogin's documents
            # disagree on whether `cert_expiry_gt/lt` include the day).
            filters = TrainSessionFilters(
                completion_date_gteq=flt.completed_after or day_start_floor(),
                completion_date_lteq=flt.completed_before,
                course_code_or_course_name_cont=flt.lesson[1] if flt.lesson else None,
                score_eq=flt.score,
                cert_expiry_gt=flt.expiring_after,
                cert_expiry_lt=flt.expiring_before,
            )
            return _kept([from_learninglogin(s, None) async for s in listings.train_sessions(filters)])

        if person is None or person.learninglogin_usernames():
            streams.eager[Source.LEARNINGLOGIN] = learninglogin()

    if Source.TRAINING_RECORDS in wanted:

        async def training_records() -> list[CompletionItem]:
            if person is None:
                return _kept([from_training_record(r) for r in await loaders.all_training_records()])
            # The listing grouped by person once per read: a person's records without a scan of all.
            by_person = await loaders.training_records_by_person()
            ids = person.ids(Source.TRAINING_RECORDS)
            return _kept([from_training_record(r) for i in ids for r in by_person.get(i, [])])

        if person is None or person.ids(Source.TRAINING_RECORDS):
            streams.eager[Source.TRAINING_RECORDS] = training_records()

    if Source.ISCOUT in wanted:
        training = flt.lesson[1] if flt.lesson else None
        user_ids: list[str | None] = list(person.ids(Source.ISCOUT)) if person is not None else [None]
        for user_id in user_ids:

            def reader(user_id: str | None = user_id) -> IScoutPages:
                async def pages(page: int) -> tuple[list[CompletionItem], bool]:
                    listing = await listings.iscout_completions_page(
                        user_id=user_id, training_id=training, limit=ISCOUT_PAGE, page=page
                    )
                    more = listing.last_page is None or page < listing.last_page
                    return _kept([from_iscout(c) for c in listing.items]), more and bool(listing.items)

                return pages

            streams.iscout.append(reader())

    for added in wanted:
        if added not in BUILT_IN and listings.reads_completions(added):
            if person is None:
                streams.eager[added] = listings.vendor_completions(added, None)
            elif person.ids(added):
                streams.eager[added] = listings.vendor_completions(added, person.ids(added))
    return streams


def day_start_floor() -> date_type:
    return date_type(1900, 1, 1)


def item_from_row(row: CompletionRow) -> CompletionItem | None:
    """An indexed completion as the live path's item: the same record through the same mapping."""
    record = row.record()
    if isinstance(record, DamstraSchedule):
        return from_damstra(record)
    if isinstance(record, TrainSession):
        return from_learninglogin(record, row.user_native_id)
    if isinstance(record, TrainingRecord):
        return from_training_record(record)
    if isinstance(record, IScoutCompletion):
        return from_iscout(record)
    return None


def completion_sources(info: Info, flt: CompletionFilter, source: Source | None) -> list[Source]:
    """The enabled sources a company-wide list of completions reads (as `streams_for` picks them)."""
    if flt.lesson is not None:
        if source not in (None, flt.lesson[0]):
            return []
        source = flt.lesson[0]
    return [
        s
        for s in info.context.listings.enabled()
        if (source is None or s is source) and (not flt.by_expiry or s in EXPIRING_SOURCES)
    ]


async def indexed_completions(
    info: Info, flt: CompletionFilter, source: Source | None, first: int | None, after: str | None
) -> relay.Connection[Completion] | None:
    """Everyone's completions (that the caller may see) from the training index; None when it may not
    answer (a source it needs is not LIVE), and the live path answers."""
    size = relay.page_size(first)
    key = Cursor.decode(after).key if after is not None else None
    use = await info.context.indexed.use_for(completion_sources(info, flt, source))
    if not use.used:
        return None
    query = CompletionQuery(
        flt.completed_after,
        flt.completed_before,
        flt.expiring_before,
        flt.lesson,
        source,
        expiring_after=flt.expiring_after,
        score=flt.score,
    )
    start = None
    if key is not None:
        start = (datetime.fromtimestamp(-key[0], UTC), key[1], key[2])
    page = await info.context.indexed.completions(query, size, start)
    items = [item for item in (item_from_row(row) for row in page.rows) if item is not None]
    connection = relay.from_keyed(
        [Completion.from_item(item) for item in items],
        [Cursor(item.sort_key).encode() for item in items],
        has_next=page.has_next,
        has_previous=after is not None,
        total=None,
    )
    connection.as_of = page.as_of
    return connection


async def completions_connection(
    info: Info,
    person: Person | None,
    flt: CompletionFilter,
    source: Source | None,
    first: int | None,
    after: str | None,
) -> relay.Connection[Completion]:
    size = relay.page_size(first)
    if after is not None:
        Cursor.decode(after)  # a bad cursor fails before any upstream read is set going
    page = await merge(streams_for(info, person, flt, source), flt, size, after)
    for error in page.failures.values():
        info.context.report(error, path_of(info))
    return relay.from_keyed(
        [Completion.from_item(item) for item in page.items],
        page.cursors,
        has_next=page.has_next,
        has_previous=after is not None,
        total=None,
    )
