"""The index's store on SQLite and PostgreSQL: upserts, reconciliation, sync state, reads and the
statuses its SQL derives, checked against the live path's own derivation on the sandbox's records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from gateway.index import migrate
from gateway.index.rows import (
    AccountRow,
    CompletionRow,
    Kind,
    ScheduleRow,
    account_from_damstra,
    completion_from_damstra,
    completion_from_iscout,
    completion_from_learninglogin,
    completion_from_training_record,
    group_from_damstra,
    memberships_of_damstra_user,
    schedule_from_damstra,
    schedule_from_learninglogin,
    schedule_from_training_record,
)
from gateway.index.store import (
    Audience,
    CompletionQuery,
    ScheduleQuery,
    SyncState,
    SyncStateName,
    TrainingIndex,
)
from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.damstra.records import DamstraGroup, DamstraSchedule, DamstraUser
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.client import TrainingRecordsClient
from gateway.upstreams.training_records.records import TrainingRecord
from resolvers.enums import ScheduleStatus
from resolvers.schedule import damstra_status, learninglogin_status, training_record_status
from tests.conftest import ANCHOR

T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)


def _schedule(id_: int, user: int, **fields: Any) -> DamstraSchedule:
    return DamstraSchedule.model_validate({"id": id_, "userId": user, "lessonId": 5, **fields})


async def test_upsert_is_idempotent_and_updates(index: TrainingIndex) -> None:
    first = schedule_from_damstra(_schedule(1, 10, endDate="2026-12-01T00:00:00Z"))
    assert await index.upsert_schedules([first, first], confirmed_at=T0) == 1
    assert await index.upsert_schedules([first], confirmed_at=T0) == 1
    assert await index.count(Kind.SCHEDULES) == 1

    later = T0 + timedelta(hours=1)
    changed = schedule_from_damstra(_schedule(1, 10, endDate="2027-01-01T00:00:00Z"))
    await index.upsert_schedules([changed], confirmed_at=later)
    stored = await index.get(Kind.SCHEDULES, Source.DAMSTRA, "1")
    assert isinstance(stored, ScheduleRow)
    assert stored.confirmed_at == later
    assert stored.due_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert stored.record() == changed.record()
    assert await index.count(Kind.SCHEDULES, Source.LEARNINGLOGIN) == 0


async def test_a_batch_larger_than_one_insert(index: TrainingIndex) -> None:
    rows = [schedule_from_damstra(_schedule(n, n % 7)) for n in range(1, 1203)]
    assert await index.upsert_schedules(rows) == 1202
    assert await index.count(Kind.SCHEDULES, Source.DAMSTRA) == 1202
    assert await index.remove(Kind.SCHEDULES, Source.DAMSTRA, [str(n) for n in range(1, 601)]) == 600
    assert await index.count(Kind.SCHEDULES) == 602


async def test_remove_unconfirmed_within_a_scope(index: TrainingIndex) -> None:
    old = [schedule_from_damstra(_schedule(n, 10 + n % 2)) for n in range(1, 7)]
    await index.upsert_schedules(old, confirmed_at=T0)
    # A re-read of user 10's schedules confirms two of their three; the third is gone upstream.
    await index.upsert_schedules([old[1], old[3]], confirmed_at=T0 + timedelta(minutes=5))
    removed = await index.remove_unconfirmed(
        Kind.SCHEDULES, Source.DAMSTRA, {"user_native_id": "10"}, before=T0 + timedelta(minutes=5)
    )
    assert removed == 1
    left = {r.native_id for r in (await index.schedules_page(None, ScheduleQuery(), first=100)).rows}
    assert left == {"1", "2", "3", "4", "5"} - {"6"}
    # A full pass over the source: whatever it did not confirm goes.
    assert (
        await index.remove_unconfirmed(Kind.SCHEDULES, Source.DAMSTRA, None, T0 + timedelta(minutes=5)) == 3
    )
    assert await index.count(Kind.SCHEDULES) == 2


async def test_sync_state_round_trip(index: TrainingIndex) -> None:
    assert await index.get_sync_state(Source.DAMSTRA) is None
    state = SyncState(Source.DAMSTRA, SyncStateName.BACKFILLING, cursor={"users": {"start": 300}})
    await index.put_sync_state(state)
    again = await index.get_sync_state(Source.DAMSTRA)
    assert again is not None and again.cursor == {"users": {"start": 300}}
    assert again.state is SyncStateName.BACKFILLING and again.updated_at is not None
    live = SyncState(Source.DAMSTRA, SyncStateName.LIVE, last_synced_at=T0, rows=42)
    await index.put_sync_state(live)
    await index.put_sync_state(SyncState(Source.ISCOUT, SyncStateName.FAILING, detail="UPSTREAM_TIMEOUT"))
    states = await index.sync_states()
    assert set(states) == {Source.DAMSTRA, Source.ISCOUT}
    assert states[Source.DAMSTRA].state is SyncStateName.LIVE
    assert states[Source.DAMSTRA].last_synced_at == T0 and states[Source.DAMSTRA].rows == 42
    assert states[Source.DAMSTRA].cursor == {}
    assert states[Source.ISCOUT].detail == "UPSTREAM_TIMEOUT"


async def test_migrations_are_at_head_and_rerun_harmlessly(index_url: str) -> None:
    first = await TrainingIndex.open(index_url)
    await first.close()
    again = await TrainingIndex.open(index_url)
    async with again.engine.connect() as connection:
        current = await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    await again.close()
    assert current == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


async def test_completions_newest_first_in_keyset_pages(index: TrainingIndex) -> None:
    day = datetime(2026, 9, 1, tzinfo=UTC)
    rows = [
        CompletionRow(
            source, f"{n}", {}, completed_at=day - timedelta(days=n // 4), user_native_id=f"u{n % 3}"
        )
        for n in range(40)
        for source in (SOURCE_ORDER[n % 4],)
    ]
    await index.upsert_completions(rows, confirmed_at=T0)
    expected = sorted(
        rows, key=lambda r: (-r.completed_at.timestamp(), SOURCE_ORDER.index(r.source), r.native_id)
    )
    seen: list[str] = []
    after = None
    while True:
        page = await index.completions_page(None, CompletionQuery(), first=7, after=after)
        seen += [r.native_id for r in page.rows]
        assert page.as_of == T0
        if not page.has_next:
            break
        last = page.rows[-1]
        after = (last.completed_at, SOURCE_ORDER.index(last.source), last.native_id)
    assert seen == [r.native_id for r in expected]

    only = Audience({source: {"u1"} for source in Source})
    mine = await index.completions_page(only, CompletionQuery(), first=100)
    assert {r.native_id for r in mine.rows} == {r.native_id for r in rows if r.user_native_id == "u1"}
    nobody = await index.completions_page(Audience(), CompletionQuery(), first=100)
    assert nobody.rows == [] and nobody.as_of is None
    window = CompletionQuery(completed_after=date(2026, 8, 30), completed_before=date(2026, 8, 31))
    inside = await index.completions_page(None, window, first=100)
    assert {r.completed_at.date() for r in inside.rows} == {date(2026, 8, 30), date(2026, 8, 31)}


async def test_accounts_and_groups(index: TrainingIndex) -> None:
    users = [
        DamstraUser.model_validate(
            {
                "id": n,
                "emailAddress": f"P{n}@X.example",
                "active": n % 5 != 0,
                "groups": [{"id": 100 + n % 2}],
            }
        )
        for n in range(1, 11)
    ]
    await index.upsert_accounts([account_from_damstra(u) for u in users])
    await index.upsert_memberships([m for u in users for m in memberships_of_damstra_user(u)])
    assert await index.accounts_count(None) == 8
    assert await index.accounts_count(None, include_inactive=True) == 10
    assert await index.accounts_count(Audience({Source.DAMSTRA: {"1", "5", "99"}})) == 1
    assert await index.group_members(["101"]) == {"1", "3", "5", "7", "9"}
    stored = await index.get(Kind.ACCOUNTS, Source.DAMSTRA, "3")
    assert stored is not None and stored.record() == users[2]
    assert isinstance(stored, AccountRow) and stored.email == "p3@x.example"
    group = group_from_damstra(DamstraGroup(id=7, name="G", parent_id=7))
    assert group.parent_native_id is None


@pytest.fixture
async def sandbox_records(connect: Callable[..., Any]) -> dict[str, list[Any]]:
    """Every schedule-like record the seeded sandbox holds, read through the connectors."""
    damstra: DamstraClient = connect(DamstraClient, Source.DAMSTRA)
    login: LearningLoginClient = connect(LearningLoginClient, Source.LEARNINGLOGIN)
    records: TrainingRecordsClient = connect(TrainingRecordsClient, Source.TRAINING_RECORDS)
    iscout: IScoutClient = connect(IScoutClient, Source.ISCOUT)
    users = await damstra.users(active_value="all").all()
    schedules = [s for u in users for s in await damstra.user_schedules(u.id).all()]
    found: dict[str, list[Any]] = {
        "damstra": schedules,
        "learninglogin": await login.train_sessions().all(),
        "training_records": await records.records().all(),
        "iscout": await iscout.completions().all(),
    }
    for client in (damstra, login, records, iscout):
        await client.aclose()
    return found


async def test_records_come_back_equal(index: TrainingIndex, sandbox_records: dict[str, list[Any]]) -> None:
    rows = [completion_from_iscout(c) for c in sandbox_records["iscout"]]
    rows += [completion_from_learninglogin(s, None) for s in sandbox_records["learninglogin"]]
    rows += [completion_from_training_record(r) for r in sandbox_records["training_records"]]
    rows += [completion_from_damstra(s) for s in sandbox_records["damstra"]]
    kept = [r for r in rows if r is not None]
    assert len({r.source for r in kept}) == 4
    await index.upsert_completions(kept)
    page = await index.completions_page(None, CompletionQuery(), first=len(kept) + 1)
    assert not page.has_next
    by_key = {(r.source, r.native_id): r for r in kept}
    assert len(page.rows) == len(by_key)
    for row in page.rows:
        assert row.record() == by_key[(row.source, row.native_id)].record()
        assert row.completed_at == by_key[(row.source, row.native_id)].completed_at


@pytest.mark.parametrize("shift_days", [-45, 0, 40])
async def test_statuses_derived_in_sql_as_the_live_path_derives_them(
    index: TrainingIndex, sandbox_records: dict[str, list[Any]], shift_days: int
) -> None:
    now = ANCHOR + timedelta(days=shift_days)
    rows: list[ScheduleRow] = [schedule_from_damstra(s) for s in sandbox_records["damstra"]]
    rows += [schedule_from_learninglogin(s, None) for s in sandbox_records["learninglogin"]]
    rows += [schedule_from_training_record(r) for r in sandbox_records["training_records"]]
    await index.upsert_schedules(rows)

    def live(row: ScheduleRow) -> ScheduleStatus:
        record = row.record()
        if isinstance(record, DamstraSchedule):
            return damstra_status(record, now)
        if isinstance(record, TrainSession):
            return learninglogin_status(record, now.date())
        assert isinstance(record, TrainingRecord)
        return training_record_status(record)

    expected: dict[ScheduleStatus, set[tuple[Source, str]]] = {}
    for row in rows:
        expected.setdefault(live(row), set()).add((row.source, row.native_id))
    assert len(expected) >= 4
    for status in ScheduleStatus:
        query = ScheduleQuery(statuses=[status.name])
        page = await index.schedules_page(None, query, first=10_000, now=now)
        assert {(r.source, r.native_id) for r in page.rows} == expected.get(status, set()), status
        assert await index.schedules_count(None, query, now=now) == len(expected.get(status, set()))
