"""The index filled in one go from the upstreams, and every source marked LIVE: what a finished backfill
leaves behind, for the tests and the bench of the read path (the sync itself, paced and resumable, is
gateway's own and is tested on its own).

    counts = await fill_index(index, services.upstreams, services.directory)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

from gateway.data.identity import IdentityDirectory
from gateway.index.rows import (
    IndexRow,
    account,
    account_from_damstra,
    attendance_from_damstra,
    completion_from_damstra,
    completion_from_iscout,
    completion_from_learninglogin,
    completion_from_training_record,
    group_from_damstra,
    lesson_from_damstra,
    memberships_of_damstra_user,
    schedule_from_damstra,
    schedule_from_learninglogin,
    schedule_from_training_record,
)
from gateway.index.store import SyncState, SyncStateName, TrainingIndex
from gateway.sources import Source
from gateway.upstreams.learninglogin.records import TrainSession, TrainSessionFilters
from gateway.upstreams.registry import Upstreams

T = TypeVar("T")
CONCURRENCY = 32


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[T]) -> T:
    async with limit:
        return await work


async def fill_index(
    index: TrainingIndex, upstreams: Upstreams, directory: IdentityDirectory, *, live: bool = True
) -> dict[Source, int]:
    """Every record of every enabled source into the index; each source's state LIVE (or BACKFILLING
    with `live=False`). Returns the rows written per source."""
    limit = asyncio.Semaphore(CONCURRENCY)
    rows: dict[Source, list[IndexRow]] = {}
    if upstreams.has(Source.DAMSTRA):
        damstra = upstreams.need_damstra()
        users = await damstra.users(active_value="all").all()
        found: list[IndexRow] = [account_from_damstra(u) for u in users]
        found += [m for u in users for m in memberships_of_damstra_user(u)]
        found += [group_from_damstra(g) for g in await damstra.groups().all()]
        found += [lesson_from_damstra(lesson) for lesson in await damstra.lessons().all()]
        lists = await asyncio.gather(*(_bounded(limit, damstra.user_schedules(u.id).all()) for u in users))
        for schedules in lists:
            for schedule in schedules:
                found.append(schedule_from_damstra(schedule))
                completion = completion_from_damstra(schedule)
                if completion is not None:
                    found.append(completion)
        ilt = await damstra.ilt_sessions().all()
        attendees = await asyncio.gather(*(_bounded(limit, damstra.list_attendees(i.id)) for i in ilt))
        found += [attendance_from_damstra(a) for listed in attendees for a in listed]
        rows[Source.DAMSTRA] = found
    if upstreams.has(Source.LEARNINGLOGIN):
        login = upstreams.need_learninglogin()
        logins = [
            (login_id, username)
            for linked in directory.people
            for login_id, username in linked.learninglogin_usernames.items()
        ]
        # A train session names no login: read per username (the identity file's), then the rest.
        per_login = await asyncio.gather(
            *(
                _bounded(limit, login.train_sessions(TrainSessionFilters(assignee_login_username_eq=u)).all())
                for _, u in logins
            )
        )
        owned: dict[int, tuple[TrainSession, str | None, str | None]] = {}
        for (login_id, username), listed in zip(logins, per_login, strict=True):
            for one in listed:
                owned[one.id] = (one, login_id, username)
        for one in await login.train_sessions().all():
            owned.setdefault(one.id, (one, None, None))
        found = [account(Source.LEARNINGLOGIN, i, username=u) for i, u in logins]
        for one, owner, name in owned.values():
            found.append(schedule_from_learninglogin(one, owner, name))
            completion = completion_from_learninglogin(one, owner, name)
            if completion is not None:
                found.append(completion)
        rows[Source.LEARNINGLOGIN] = found
    if upstreams.has(Source.TRAINING_RECORDS):
        records = await upstreams.need_training_records().records().all()
        found = [schedule_from_training_record(r) for r in records]
        found += [c for c in (completion_from_training_record(r) for r in records) if c is not None]
        rows[Source.TRAINING_RECORDS] = found
    if upstreams.has(Source.ISCOUT):
        completions = await upstreams.need_iscout().completions().all()
        rows[Source.ISCOUT] = [c for c in (completion_from_iscout(x) for x in completions) if c is not None]
    now = datetime.now(UTC)
    state = SyncStateName.LIVE if live else SyncStateName.BACKFILLING
    for source, written in rows.items():
        await index.upsert(written, confirmed_at=now)
        await index.put_sync_state(SyncState(source, state, last_synced_at=now, rows=len(written)))
    return {source: len(written) for source, written in rows.items()}


async def mark(index: TrainingIndex, source: Source, state: SyncStateName) -> None:
    """Set a source's sync state, keeping the rest of it."""
    current = await index.get_sync_state(source)
    await index.put_sync_state(
        SyncState(source, state, last_synced_at=current.last_synced_at if current else None)
    )
