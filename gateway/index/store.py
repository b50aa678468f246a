"""The training index: upstream records kept in SQLite or PostgreSQL, for the questions fan-out cannot answer.

    index = await TrainingIndex.open("sqlite+aiosqlite:////var/lib/learngraph/index.db")  # migrates
    await index.upsert_schedules([schedule_from_damstra(s) for s in schedules])            # the sync
    page = await index.completions_page(None, CompletionQuery(), first=20)                 # the graph
    await index.close()

Writes are idempotent batches (insert or update by source and native id) that stamp `confirmed_at`;
`remove_unconfirmed` is reconciliation's delete. Reads take an `Audience`: the accounts whose rows the
caller may see (None: everyone, ADMIN), applied in SQL. Each kind's rows come back as the dataclasses of
`gateway.index.rows`, with `confirmed_at` set and `record()` rebuilding the upstream record.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, and_, delete, event, false, func, or_, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from gateway.index import migrate
from gateway.index.queries import Audience, CompletionQuery, Page, ScheduleQuery
from gateway.index.rows import (
    AccountRow,
    AttendanceRow,
    CompletionRow,
    GroupRow,
    IndexRow,
    Kind,
    LessonRow,
    MembershipRow,
    ScheduleRow,
)
from gateway.index.tables import (
    AccountTable,
    AttendanceTable,
    Base,
    CompletionTable,
    GroupTable,
    LessonTable,
    MembershipTable,
    ScheduleTable,
    SyncStateTable,
)
from gateway.settings import Settings
from gateway.sources import Source

__all__ = [
    "Audience",
    "CompletionQuery",
    "Page",
    "ScheduleQuery",
    "SyncState",
    "SyncStateName",
    "TrainingIndex",
    "database_url",
    "status_condition",
]

R = TypeVar("R", bound=IndexRow)

MODELS: dict[Kind, type[Base]] = {
    Kind.ACCOUNTS: AccountTable,
    Kind.GROUPS: GroupTable,
    Kind.MEMBERSHIPS: MembershipTable,
    Kind.LESSONS: LessonTable,
    Kind.SCHEDULES: ScheduleTable,
    Kind.COMPLETIONS: CompletionTable,
    Kind.ATTENDANCE: AttendanceTable,
}
TABLES: dict[Kind, Table] = {kind: cast(Table, model.__table__) for kind, model in MODELS.items()}
SYNC_STATE = cast(Table, SyncStateTable.__table__)
ROW_TYPES: dict[Kind, type[IndexRow]] = {
    Kind.ACCOUNTS: AccountRow,
    Kind.GROUPS: GroupRow,
    Kind.MEMBERSHIPS: MembershipRow,
    Kind.LESSONS: LessonRow,
    Kind.SCHEDULES: ScheduleRow,
    Kind.COMPLETIONS: CompletionRow,
    Kind.ATTENDANCE: AttendanceRow,
}
_BATCH = 500  # rows per INSERT: well under SQLite's limit of bound parameters
ANALYZE_AFTER_ROWS = 20_000


class SyncStateName(enum.Enum):
    """Where a source's sync stands (`Query.syncStatus`)."""

    BACKFILLING = "BACKFILLING"  # the first full read is under way: company-wide answers go live
    LIVE = "LIVE"  # backfilled and kept fresh: company-wide answers come from the index
    DISABLED = "DISABLED"  # not configured, or not synced
    FAILING = "FAILING"  # the last sync attempt failed; what is indexed may be stale


@dataclass(frozen=True)
class SyncState:
    """One source's sync: its state, the backfill's resumable `cursor` (any JSON the syncer needs),
    when it last synced, how many rows it holds and a short `detail` (never a credential)."""

    source: Source
    state: SyncStateName
    cursor: dict[str, Any] = field(default_factory=dict)
    last_synced_at: datetime | None = None
    rows: int = 0
    detail: str | None = None
    updated_at: datetime | None = None


def database_url(settings: Settings) -> str | None:
    """The SQLAlchemy URL the settings name (PostgreSQL's over SQLite's), or None: no index."""
    if settings.index_url is not None:
        url = make_url(settings.index_url.get_secret_value())
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if settings.index_path is not None:
        return f"sqlite+aiosqlite:///{Path(settings.index_path).expanduser().absolute()}"
    return None


def _now() -> datetime:
    return datetime.now(UTC)


class TrainingIndex:
    """The index over one database. Safe to share across requests and tasks of one process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._written_since_analyze = 0
        self._states: tuple[float, dict[Source, SyncState]] | None = None

    @classmethod
    async def open(cls, url: str) -> TrainingIndex:
        """Connect to `url` (sqlite+aiosqlite:///path or postgresql+asyncpg://...) and migrate it to
        the newest schema. A SQLite file's directory is created when missing."""
        parsed = make_url(url)
        options: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            if parsed.database:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # One writer at a time; readers wait rather than fail while the sync writes.
            options["connect_args"] = {"timeout": 30}
        else:
            options["pool_pre_ping"] = True
        engine = create_async_engine(url, **options)
        if parsed.get_backend_name() == "sqlite":

            @event.listens_for(engine.sync_engine, "connect")
            def _pragmas(connection: Any, _record: Any) -> None:
                cursor = connection.cursor()
                # WAL: readers are not blocked by the writer; NORMAL: durable enough for a rebuildable copy.
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.close()

        await migrate.upgrade(engine)
        index = cls(engine)
        await index.analyze()
        return index

    @classmethod
    async def from_settings(cls, settings: Settings) -> TrainingIndex | None:
        """The index the settings configure (LEARNGRAPH_INDEX_URL or _PATH), or None when neither is set."""
        url = database_url(settings)
        return None if url is None else await cls.open(url)

    async def analyze(self) -> None:
        """Refresh the planner's statistics, so reads pick the right index as the tables grow. Run at open
        and after every ANALYZE_AFTER_ROWS rows written (a backfill's batches); cheap (a sample)."""
        self._written_since_analyze = 0
        async with self.engine.begin() as connection:
            if self.dialect == "sqlite":
                # A sample of each index (a few ms at 50,000 people), as SQLite's documents advise.
                await connection.exec_driver_sql("PRAGMA analysis_limit=400")
                await connection.exec_driver_sql("ANALYZE")
            else:
                await connection.exec_driver_sql("ANALYZE")

    async def close(self) -> None:
        await self.engine.dispose()

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    # -- writing -------------------------------------------------------------------------------

    async def upsert(self, rows: Iterable[IndexRow], confirmed_at: datetime | None = None) -> int:
        """Insert or update rows of any kinds by (source, native id), stamping `confirmed_at` (now
        unless given). Idempotent; one transaction for the whole call. Returns how many were written."""
        at = confirmed_at or _now()
        by_kind: dict[Kind, list[dict[str, Any]]] = {}
        for row in rows:
            values = {
                "source": row.source.value,
                "native_id": row.native_id,
                "confirmed_at": at,
                "payload": row.payload,
                **row.columns(),
            }
            by_kind.setdefault(row.kind, []).append(values)
        written = 0
        async with self.engine.begin() as connection:
            for kind, values_list in by_kind.items():
                # The same key twice in one batch: the last one stands (PostgreSQL refuses both in one).
                unique = list({(v["source"], v["native_id"]): v for v in values_list}.values())
                table = TABLES[kind]
                for start in range(0, len(unique), _BATCH):
                    chunk = unique[start : start + _BATCH]
                    insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(table)
                    updated = {c: insert.excluded[c] for c in chunk[0] if c not in ("source", "native_id")}
                    await connection.execute(
                        insert.on_conflict_do_update(index_elements=["source", "native_id"], set_=updated),
                        chunk,
                    )
                written += len(unique)
        self._written_since_analyze += written
        if self._written_since_analyze >= ANALYZE_AFTER_ROWS:
            await self.analyze()
        return written

    async def upsert_accounts(self, rows: Iterable[AccountRow], confirmed_at: datetime | None = None) -> int:
        """People's accounts (`rows.account_from_damstra`, `rows.account`)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_groups(self, rows: Iterable[GroupRow], confirmed_at: datetime | None = None) -> int:
        """DAMSTRA groups (`rows.group_from_damstra`)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_memberships(
        self, rows: Iterable[MembershipRow], confirmed_at: datetime | None = None
    ) -> int:
        """Group memberships and supervisions (`rows.memberships_of_damstra_user`)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_lessons(self, rows: Iterable[LessonRow], confirmed_at: datetime | None = None) -> int:
        """The catalogue (`rows.lesson_from_damstra`)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_schedules(
        self, rows: Iterable[ScheduleRow], confirmed_at: datetime | None = None
    ) -> int:
        """Schedules of the three sources that have them (`rows.schedule_from_*`)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_completions(
        self, rows: Iterable[CompletionRow], confirmed_at: datetime | None = None
    ) -> int:
        """Completions of the four sources (`rows.completion_from_*`; those answer None for a record
        that is no completion, so filter those out first)."""
        return await self.upsert(rows, confirmed_at)

    async def upsert_attendance(
        self, rows: Iterable[AttendanceRow], confirmed_at: datetime | None = None
    ) -> int:
        """ILT session attendees (`rows.attendance_from_damstra`)."""
        return await self.upsert(rows, confirmed_at)

    async def remove(self, kind: Kind, source: Source, native_ids: Collection[str]) -> int:
        """Delete these rows (an upstream said they are gone). Returns how many there were."""
        table = TABLES[kind]
        removed = 0
        ids = list(native_ids)
        async with self.engine.begin() as connection:
            for start in range(0, len(ids), _BATCH):
                result = await connection.execute(
                    delete(table).where(
                        table.c.source == source.value, table.c.native_id.in_(ids[start : start + _BATCH])
                    )
                )
                removed += result.rowcount
        return removed

    async def remove_unconfirmed(
        self,
        kind: Kind,
        source: Source,
        scope: Mapping[str, str | None] | None,
        before: datetime,
    ) -> int:
        """Reconciliation: delete `source`'s rows of `kind` last confirmed before `before`, within
        `scope` (column = value, e.g. {"user_native_id": "12"} after re-reading one user's schedules;
        None: the whole source, after a full re-read). Returns how many were removed."""
        table = TABLES[kind]
        where = [table.c.source == source.value, table.c.confirmed_at < before]
        for column, value in (scope or {}).items():
            where.append(table.c[column].is_(None) if value is None else table.c[column] == value)
        async with self.engine.begin() as connection:
            result = await connection.execute(delete(table).where(*where))
        return result.rowcount

    # -- sync state ----------------------------------------------------------------------------

    async def get_sync_state(self, source: Source) -> SyncState | None:
        """The source's sync state, or None before its sync ever wrote one."""
        async with self.engine.connect() as connection:
            found = (
                await connection.execute(select(SYNC_STATE).where(SYNC_STATE.c.source == source.value))
            ).first()
        return None if found is None else _sync_state(found._mapping)

    async def put_sync_state(self, state: SyncState) -> None:
        """Write the source's sync state (whole; `updated_at` becomes now)."""
        self._states = None
        values = {
            "source": state.source.value,
            "state": state.state.value,
            "cursor": state.cursor,
            "last_synced_at": state.last_synced_at,
            "rows": state.rows,
            "detail": state.detail,
            "updated_at": _now(),
        }
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(SYNC_STATE)
        statement = insert.values(values).on_conflict_do_update(
            index_elements=["source"], set_={k: v for k, v in values.items() if k != "source"}
        )
        async with self.engine.begin() as connection:
            await connection.execute(statement)

    async def recent_sync_states(self, max_age_seconds: float = 1.0) -> dict[Source, SyncState]:
        """`sync_states()` as read at most `max_age_seconds` ago by this process (the graph asks on every
        request; a state written by the sync shows within that)."""
        now = monotonic()
        if self._states is None or now - self._states[0] > max_age_seconds:
            self._states = (now, await self.sync_states())
        return self._states[1]

    async def sync_states(self) -> dict[Source, SyncState]:
        """Every source's sync state written so far."""
        async with self.engine.connect() as connection:
            found = (await connection.execute(select(SYNC_STATE))).all()
        states = [_sync_state(row._mapping) for row in found if _known_source(row._mapping["source"])]
        return {state.source: state for state in states}

    # -- reading -------------------------------------------------------------------------------

    async def get(self, kind: Kind, source: Source, native_id: str) -> IndexRow | None:
        """One row by its key, or None."""
        table = TABLES[kind]
        statement = select(table).where(table.c.source == source.value, table.c.native_id == native_id)
        rows = await self._rows(kind, statement)
        return rows[0] if rows else None

    async def get_many(self, kind: Kind, source: Source, native_ids: Collection[str]) -> list[IndexRow]:
        """The rows of these keys that the index holds (in no particular order)."""
        table = TABLES[kind]
        ids = sorted(set(native_ids))
        found: list[IndexRow] = []
        for start in range(0, len(ids), _BATCH):
            statement = select(table).where(
                table.c.source == source.value, table.c.native_id.in_(ids[start : start + _BATCH])
            )
            found += await self._rows(kind, statement)
        return found

    async def accounts_matching(
        self,
        source: Source,
        *,
        native_ids: Collection[str] = (),
        emails: Collection[str] = (),
        employee_numbers: Collection[str] = (),
    ) -> list[AccountRow]:
        """`source`'s accounts with any of these ids, emails (case-insensitive) or employee numbers."""
        table = TABLES[Kind.ACCOUNTS]
        either: list[ColumnElement[bool]] = []
        if native_ids:
            either.append(table.c.native_id.in_(sorted(set(native_ids))))
        if emails:
            either.append(table.c.email.in_(sorted({e.casefold() for e in emails})))
        if employee_numbers:
            either.append(table.c.employee_number.in_(sorted(set(employee_numbers))))
        if not either:
            return []
        statement = select(table).where(table.c.source == source.value, or_(*either))
        return [row for row in await self._rows(Kind.ACCOUNTS, statement) if isinstance(row, AccountRow)]

    async def count(self, kind: Kind, source: Source | None = None) -> int:
        """How many rows of `kind` (of `source`) the index holds."""
        table = TABLES[kind]
        statement = select(func.count()).select_from(table)
        if source is not None:
            statement = statement.where(table.c.source == source.value)
        return await self._scalar_int(statement)

    async def accounts_count(
        self, audience: Audience | None, source: Source = Source.DAMSTRA, *, include_inactive: bool = False
    ) -> int:
        """How many accounts of `source` the audience may see (active ones unless `include_inactive`)."""
        table = TABLES[Kind.ACCOUNTS]
        where: list[ColumnElement[bool]] = [table.c.source == source.value]
        if not include_inactive:
            where.append(table.c.active.is_(True))
        if audience is not None:
            where.append(table.c.native_id.in_(list(audience.accounts.get(source, ()))))
        return await self._scalar_int(select(func.count()).select_from(table).where(*where))

    async def group_members(self, group_ids: Collection[str], source: Source = Source.DAMSTRA) -> set[str]:
        """The native ids of the members of these groups (not their supervisors)."""
        table = TABLES[Kind.MEMBERSHIPS]
        statement = select(table.c.user_native_id).where(
            table.c.source == source.value,
            table.c.role == "member",
            table.c.group_native_id.in_(list(group_ids)),
        )
        async with self.engine.connect() as connection:
            return {row[0] for row in (await connection.execute(statement)).all()}

    async def completions_page(
        self,
        audience: Audience | None,
        query: CompletionQuery,
        first: int,
        after: tuple[datetime, int, str] | None = None,
    ) -> Page[CompletionRow]:
        """Completions newest first (ties: source order, then native id: the live merge's order),
        after the key `after` = (completed_at, source rank, native id) of the last one shown."""
        table = TABLES[Kind.COMPLETIONS]
        where: list[ColumnElement[bool]] = [_audience(table, audience)]
        if query.source is not None:
            where.append(table.c.source == query.source.value)
        if query.completed_after is not None:
            where.append(table.c.completed_at >= _day(query.completed_after))
        if query.completed_before is not None:
            where.append(table.c.completed_at < _day(query.completed_before, 1))
        if query.expiring_before is not None:
            where.append(table.c.expires_on < query.expiring_before)
        if query.expiring_after is not None:
            where.append(table.c.expires_on > query.expiring_after)
        if query.score is not None:
            where.append(table.c.score == query.score)
        if query.lesson is not None:
            where += [table.c.source == query.lesson[0].value, table.c.lesson_native_id == query.lesson[1]]
        if after is not None:
            at, rank, native = after
            where.append(
                or_(
                    table.c.completed_at < at,
                    and_(
                        table.c.completed_at == at,
                        or_(
                            table.c.source_rank > rank,
                            and_(table.c.source_rank == rank, table.c.native_id > native),
                        ),
                    ),
                )
            )
        statement = (
            select(table)
            .where(*where)
            .order_by(table.c.completed_at.desc(), table.c.source_rank, table.c.native_id)
            .limit(first + 1)
        )
        rows = await self._rows(Kind.COMPLETIONS, statement)
        return _page(rows, first)

    async def schedules_page(
        self,
        audience: Audience | None,
        query: ScheduleQuery,
        first: int,
        offset: int = 0,
        now: datetime | None = None,
    ) -> Page[ScheduleRow]:
        """Schedules matching `query` at `now`, soonest due first (none due last), then by source and
        native id; `offset` rows skipped."""
        table = TABLES[Kind.SCHEDULES]
        statement = (
            select(table)
            .where(*self._schedule_filters(audience, query, now or _now(), walking=True))
            .order_by(table.c.due_at.is_(None), table.c.due_at, table.c.source, table.c.native_id)
            .offset(offset)
            .limit(first + 1)
        )
        rows = await self._rows(Kind.SCHEDULES, statement)
        return _page(rows, first)

    async def schedules_count(
        self, audience: Audience | None, query: ScheduleQuery, now: datetime | None = None
    ) -> int:
        """How many schedules match `query` at `now` (a group's overdue count, a list's totalCount)."""
        table = TABLES[Kind.SCHEDULES]
        statement = (
            select(func.count())
            .select_from(table)
            .where(*self._schedule_filters(audience, query, now or _now()))
        )
        return await self._scalar_int(statement)

    async def oldest_confirmation(
        self, kind: Kind, sources: Collection[Source] | None = None
    ) -> datetime | None:
        """The oldest `confirmed_at` among the rows of `kind` (of these sources): how fresh a count is."""
        table = TABLES[kind]
        statement = select(func.min(table.c.confirmed_at))
        if sources is not None:
            statement = statement.where(table.c.source.in_([s.value for s in sources]))
        async with self.engine.connect() as connection:
            value = (await connection.execute(statement)).scalar()
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        return None

    # -- helpers -------------------------------------------------------------------------------

    def _schedule_filters(
        self, audience: Audience | None, query: ScheduleQuery, now: datetime, *, walking: bool = False
    ) -> list[ColumnElement[bool]]:
        table = TABLES[Kind.SCHEDULES]
        where: list[ColumnElement[bool]] = [_audience(table, audience)]
        if query.users is not None:
            where.append(_audience(table, query.users))
        if query.source is not None:
            where.append(table.c.source == query.source.value)
        if query.due_before is not None:
            where.append(table.c.due_at < _day(query.due_before))
        if query.due_after is not None:
            where.append(table.c.due_at >= _day(query.due_after, 1))
        if query.statuses:
            # Narrowed to some accounts, the accounts' indexes lead: the status index must not draw the
            # planner to every row of a status (see status_condition).
            narrowed = walking or audience is not None or query.users is not None
            where.append(or_(*(status_condition(s, now, walking=narrowed) for s in query.statuses)))
        return where

    async def _rows(self, kind: Kind, statement: Select[Any]) -> list[Any]:
        row_type = ROW_TYPES[kind]
        names = [f.name for f in dataclasses.fields(row_type) if f.name not in ("source", "kind")]
        async with self.engine.connect() as connection:
            found = (await connection.execute(statement)).all()
        rows = []
        for item in found:
            mapping = item._mapping
            if not _known_source(mapping["source"]):
                continue  # a vendor no longer registered
            rows.append(row_type(source=Source(mapping["source"]), **{n: mapping[n] for n in names}))
        return rows

    async def _scalar_int(self, statement: Select[Any]) -> int:
        async with self.engine.connect() as connection:
            return int((await connection.execute(statement)).scalar() or 0)


def status_condition(status: str, now: datetime, *, walking: bool = False) -> ColumnElement[bool]:
    """SQL for "this schedule's status is `status` at `now`", as resolvers.schedule derives statuses
    (damstra_status, learninglogin_status, training_record_status) from the columns rows.py fills.

    `walking`: for a page walked in its order (ix_schedules_order). `terminal` is then compared through
    COALESCE, which no index serves, so the planner walks the order's index and stops after the page
    instead of fetching every match by ix_schedules_status and sorting them all; counts take that index."""
    t = TABLES[Kind.SCHEDULES]
    is_damstra = t.c.source == Source.DAMSTRA.value
    is_login = t.c.source == Source.LEARNINGLOGIN.value
    is_records = t.c.source == Source.TRAINING_RECORDS.value
    terminal: ColumnElement[Any] = func.coalesce(t.c.terminal, "") if walking else t.c.terminal
    open_ = terminal == "" if walking else t.c.terminal.is_(None)
    # rows.py sets scheduled_from on DAMSTRA rows only and overdue_from on DAMSTRA and LEARNINGLOGIN rows
    # only, so these need no source term (which would draw the planner to the primary key's index).
    ahead = and_(t.c.scheduled_from.is_not(None), t.c.scheduled_from > now)
    late = and_(t.c.overdue_from.is_not(None), t.c.overdue_from <= now)
    current = and_(open_, ~ahead, ~late)
    conditions: dict[str, ColumnElement[bool]] = {
        "COMPLETED": terminal == "completed",
        "CANCELLED": terminal == "cancelled",
        "SCHEDULED": and_(open_, ahead),
        "OVERDUE": and_(open_, ~ahead, late),
        "DUE": and_(current, is_damstra, t.c.started.is_(False)),
        "IN_PROGRESS": and_(current, t.c.started.is_(True)),
        "ASSIGNED": and_(current, or_(is_login, is_records), t.c.started.is_(False)),
    }
    return conditions.get(status, false())


def _audience(table: Any, audience: Audience | None) -> ColumnElement[bool]:
    if audience is None:
        return true()
    return _accounts(table, audience.accounts, audience.usernames)


def _accounts(
    table: Any, accounts: Mapping[Source, Collection[str]], usernames: Collection[str]
) -> ColumnElement[bool]:
    either = [
        and_(table.c.source == source.value, table.c.user_native_id.in_(list(ids)))
        for source, ids in accounts.items()
        if ids
    ]
    if usernames and "username" in table.c:
        either.append(
            and_(table.c.source == Source.LEARNINGLOGIN.value, table.c.username.in_(list(usernames)))
        )
    return or_(*either) if either else false()


def _day(value: date, plus: int = 0) -> datetime:
    return datetime.combine(value, time.min, tzinfo=UTC) + timedelta(days=plus)


def _page(rows: Sequence[R], first: int) -> Page[R]:
    shown = list(rows[:first])
    confirmed = [r.confirmed_at for r in shown if r.confirmed_at is not None]
    return Page(shown, len(rows) > first, min(confirmed) if confirmed else None)


def _known_source(value: str) -> bool:
    return value in Source._value2member_map_


def _sync_state(mapping: Any) -> SyncState:
    return SyncState(
        source=Source(mapping["source"]),
        state=SyncStateName(mapping["state"]),
        cursor=dict(mapping["cursor"] or {}),
        last_synced_at=mapping["last_synced_at"],
        rows=int(mapping["rows"] or 0),
        detail=mapping["detail"],
        updated_at=mapping["updated_at"],
    )
