"""Schedules across people: `Query.schedules` and `Group.overdueCount`.

From the training index when every source they need is LIVE (gateway/data/indexed.py): one SQL query,
no upstream read. Otherwise read live, person by person (the cost limits bound it), in the same order
and with the same statuses, so either path gives the same answer.

The order: soonest due first, schedules with no due date last, then by source and native id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime

from gateway.data.people import Person
from gateway.errors import Forbidden
from gateway.index.queries import Audience, ScheduleQuery
from gateway.index.rows import ScheduleRow
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraSchedule, DamstraUser
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers import relay
from resolvers.enums import ScheduleStatus
from resolvers.global_id import decode
from resolvers.info import Info, or_reported
from resolvers.schedule import Schedule, damstra_filter, sources_for
from resolvers.user import schedules_of

MEMBERS_PAGE = 100
_NO_DUE = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ScheduleFilter:
    statuses: frozenset[ScheduleStatus] = frozenset()
    due_before: date | None = None  # due on a UTC day before this one
    due_after: date | None = None  # due on a UTC day after this one
    source: Source | None = None

    def accepts(self, schedule: Schedule) -> bool:
        if self.statuses and schedule.status not in self.statuses:
            return False
        if self.source is not None and schedule.source is not self.source:
            return False
        due = schedule.due_date.astimezone(UTC).date() if schedule.due_date is not None else None
        if self.due_before is not None and (due is None or due >= self.due_before):
            return False
        return self.due_after is None or (due is not None and due > self.due_after)

    def query(self, users: Audience | None = None) -> ScheduleQuery:
        statuses = [s.name for s in self.statuses]
        return ScheduleQuery(statuses, self.due_before, self.due_after, self.source, users)


def order_key(schedule: Schedule) -> tuple[bool, datetime, str, str]:
    due = schedule.due_date
    return (due is None, due or _NO_DUE, schedule.source.value, schedule.native_id)


def schedule_from_row(row: ScheduleRow, now: datetime) -> Schedule:
    """An indexed schedule as the live path builds it: the same record through the same mapping."""
    record = row.record()
    if isinstance(record, DamstraSchedule):
        return Schedule.from_damstra(record, now)
    if isinstance(record, TrainSession):
        ref = (Source.LEARNINGLOGIN, row.user_native_id) if row.user_native_id else None
        return Schedule.from_learninglogin(record, ref, now.date())
    assert isinstance(record, TrainingRecord)
    return Schedule.from_training_record(record)


def _sources(info: Info, flt: ScheduleFilter) -> list[Source]:
    enabled = set(info.context.listings.enabled())
    return [s for s in sources_for(flt.statuses) if s in enabled and flt.source in (None, s)]


async def schedules_connection(
    info: Info, flt: ScheduleFilter, group_id: str | None, first: int | None, after: str | None
) -> relay.Connection[Schedule]:
    start, size = relay.offset_after(after), relay.page_size(first)
    group = decode(group_id, "Group").native_id if group_id is not None else None
    sources = _sources(info, flt)
    now = datetime.now(UTC)
    use = await info.context.indexed.use_for(
        {*sources, *([Source.DAMSTRA] if group else [])}, by_person=group is not None
    )
    if use.used:
        return await _from_index(info, flt, group, start, size, now)
    if group is not None:
        people = await or_reported(info, _group_people(info, group), [])
        found = await asyncio.gather(*(schedules_of(info, p, flt.source, flt.statuses) for p in people))
        schedules = [s for listed in found for s in listed]
    else:
        schedules = await _everyones(info, flt, sources, now)
    kept = sorted((s for s in schedules if flt.accepts(s)), key=order_key)
    return relay.from_window(kept[start : start + size], start, len(kept))


async def _from_index(
    info: Info, flt: ScheduleFilter, group: str | None, start: int, size: int, now: datetime
) -> relay.Connection[Schedule]:
    indexed = info.context.indexed
    users = await _indexed_group_audience(info, group) if group is not None else None
    query = flt.query(users)
    page = await indexed.schedules(query, size, start, now)
    connection = relay.from_window(
        [schedule_from_row(row, now) for row in page.rows], start, None, has_next=page.has_next
    )
    connection.as_of = page.as_of

    async def count() -> int | None:
        return (await indexed.schedules_count(query, now))[0]

    connection.count_later = count
    return connection


async def group_overdue_count(info: Info, group: str) -> int | None:
    """How many schedules of the group's members (those the caller may see) are OVERDUE now."""
    flt = ScheduleFilter(frozenset({ScheduleStatus.OVERDUE}))
    sources = _sources(info, flt)
    now = datetime.now(UTC)
    indexed = info.context.indexed
    if (await indexed.use_for({*sources, Source.DAMSTRA}, by_person=True)).used:
        users = await _indexed_group_audience(info, group)
        return (await indexed.schedules_count(flt.query(users), now))[0]

    async def live() -> int | None:
        people = await _group_people(info, group)
        found = await asyncio.gather(*(schedules_of(info, p, None, flt.statuses) for p in people))
        return sum(1 for listed in found for s in listed if flt.accepts(s))

    return await or_reported(info, live(), None)


async def _indexed_group_audience(info: Info, group: str) -> Audience:
    """The accounts of the group's members, as the index holds its memberships (the caller's own
    audience is applied to the rows besides)."""
    access = info.context.access
    if access is not None and not (await access.visibility()).sees_group(group):
        raise Forbidden("this caller may not see this group")
    users = await info.context.indexed.group_members(group)
    return _audience_of([info.context.people.from_damstra(u) for u in users])


def _audience_of(people: Collection[Person]) -> Audience:
    accounts: dict[Source, set[str]] = {}
    for person in people:
        for account in person.accounts:
            accounts.setdefault(account.source, set()).add(account.native_id)
    usernames = frozenset(u for p in people for u in p.learninglogin_usernames())
    return Audience(accounts, usernames)


async def _group_people(info: Info, group: str) -> list[Person]:
    """The group's members the caller may see, read live page by page."""
    members: list[DamstraUser] = []
    while True:
        listing = await info.context.listings.group_members(group, start=len(members), size=MEMBERS_PAGE)
        members += listing.items
        done = len(listing.items) < MEMBERS_PAGE or (
            listing.total is not None and len(members) >= listing.total
        )
        if done or not listing.items:
            break
    info.context.loaders.prime_damstra_users(members)
    return [info.context.people.from_damstra(u) for u in members]


async def _everyones(info: Info, flt: ScheduleFilter, sources: list[Source], now: datetime) -> list[Schedule]:
    """Every schedule the caller may see, read live: an ADMIN's from every DAMSTRA user, the whole
    LearningLogin and TRAINING_RECORDS listings; anyone else's from the people they may see."""
    person = await info.context.people.everyone()
    if person is not None:
        return await schedules_of(info, person, flt.source, flt.statuses)
    listings, loaders = info.context.listings, info.context.loaders

    async def damstra() -> list[Schedule]:
        status = damstra_filter(flt.statuses)
        ids = [str(u.id) async for u in listings.every_damstra_user(active_value="all")]
        lists = await asyncio.gather(*(loaders.user_schedules.load((i, status)) for i in ids))
        return [Schedule.from_damstra(s, now) for found in lists for s in found]

    async def learninglogin() -> list[Schedule]:
        # A train session names no login: listed company-wide, it is nobody's (as in completions).
        return [Schedule.from_learninglogin(s, None, now.date()) async for s in listings.train_sessions()]

    async def training_records() -> list[Schedule]:
        return [Schedule.from_training_record(r) for r in await loaders.all_training_records()]

    work = {
        Source.DAMSTRA: damstra,
        Source.LEARNINGLOGIN: learninglogin,
        Source.TRAINING_RECORDS: training_records,
    }
    jobs = [or_reported(info, work[s](), []) for s in sources]
    return [schedule for found in await asyncio.gather(*jobs) for schedule in found]
