"""What the sync writes into the index, in the upstreams' own records: the rows of `rows.py`, written
through `TrainingIndex`, and each source's progress in its sync state.

    sink = IndexSink(index)
    await sink.put_users([user], at)                 # the account and its group memberships
    await sink.put_schedules(schedules, at)          # DAMSTRA schedules (and the completions among them)
    await sink.replace_schedules("1023", schedules, at)  # one user's, read whole: the others of theirs go
    await sink.remove_unconfirmed(Source.DAMSTRA, [Kind.SCHEDULES], t0)  # a full pass's end

Every row written is confirmed at `at`; `remove_unconfirmed` drops the rows of `kinds` of a source
confirmed before `before`: what a full pass did not find again. A re-read of one user (or session)
removes by id what it no longer lists (`_keep_only`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from gateway.index.rows import (
    IndexRow,
    Kind,
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
from gateway.index.store import TABLES, SyncState, SyncStateName, TrainingIndex
from gateway.sources import Source
from gateway.upstreams.damstra.records import (
    DamstraAttendee,
    DamstraGroup,
    DamstraILTSession,
    DamstraLesson,
    DamstraSchedule,
    DamstraUser,
)
from gateway.upstreams.iscout.records import IScoutCompletion
from gateway.upstreams.learninglogin.records import TrainSession
from gateway.upstreams.training_records.records import TrainingRecord

# Later than any confirmation: every row of the scope goes.
ALWAYS = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Login:
    """A LearningLogin login as the identity file links it: its id there (`username:<name>` when the
    file names only the username) and the username its train sessions are listed by."""

    login_id: str
    username: str


def _present(rows: Sequence[IndexRow | None]) -> list[IndexRow]:
    return [row for row in rows if row is not None]


class IndexSink:
    def __init__(self, index: TrainingIndex) -> None:
        self.index = index
        self._rows: dict[Source, int] = {}  # each source's count last saved in its sync state

    async def _put(self, rows: Sequence[IndexRow | None], at: datetime) -> None:
        kept = _present(rows)
        if kept:
            await self.index.upsert(kept, at)

    # -- DAMSTRA --------------------------------------------------------------------------------

    async def put_users(self, users: Sequence[DamstraUser], at: datetime, *, whole: bool = False) -> None:
        """`whole`: these records are the users' memberships entire (a re-read of each user), so
        those they no longer list go now rather than at the end of the next full pass."""
        rows: list[IndexRow] = [account_from_damstra(user) for user in users]
        for user in users:
            rows += memberships_of_damstra_user(user)
        await self._put(rows, at)
        for user in users if whole else ():
            kept = {r.native_id for r in memberships_of_damstra_user(user)}
            await self._keep_only(Kind.MEMBERSHIPS, Source.DAMSTRA, "user_native_id", str(user.id), kept)

    async def put_groups(self, groups: Sequence[DamstraGroup], at: datetime) -> None:
        await self._put([group_from_damstra(g) for g in groups], at)

    async def put_lessons(self, lessons: Sequence[DamstraLesson], at: datetime) -> None:
        await self._put([lesson_from_damstra(lesson) for lesson in lessons], at)

    async def put_schedules(self, schedules: Sequence[DamstraSchedule], at: datetime) -> None:
        rows: list[IndexRow | None] = [schedule_from_damstra(s) for s in schedules]
        rows += [completion_from_damstra(s) for s in schedules]
        await self._put(rows, at)

    async def replace_schedules(
        self, user_id: str, schedules: Sequence[DamstraSchedule], at: datetime
    ) -> None:
        """One user's schedules, read whole: those of theirs not among them go (and their completions)."""
        await self.put_schedules(schedules, at)
        completed = {row.native_id for row in map(completion_from_damstra, schedules) if row is not None}
        await self._keep_only(
            Kind.SCHEDULES, Source.DAMSTRA, "user_native_id", user_id, {str(s.id) for s in schedules}
        )
        await self._keep_only(Kind.COMPLETIONS, Source.DAMSTRA, "user_native_id", user_id, completed)

    async def put_attendance(
        self, session: DamstraILTSession, attendees: Sequence[DamstraAttendee], at: datetime
    ) -> None:
        # An attendee's record may leave out its session: it is the session it was listed under.
        named = [
            a if a.session_id is not None else a.model_copy(update={"session_id": session.id})
            for a in attendees
        ]
        rows = [attendance_from_damstra(a) for a in named]
        await self._put(rows, at)
        kept = {r.native_id for r in rows}
        await self._keep_only(Kind.ATTENDANCE, Source.DAMSTRA, "session_native_id", str(session.id), kept)

    # -- the other three ------------------------------------------------------------------------

    async def put_train_sessions(self, sessions: Sequence[TrainSession], at: datetime) -> set[str]:
        """Sessions read without their login (the company-wide list, a session by id): each already
        indexed keeps the login it was attributed to. Answers the ids new to the index (no login yet)."""
        ids = [str(s.id) for s in sessions]
        held = await self._logins_of_sessions(ids)
        rows: list[IndexRow | None] = []
        for session in sessions:
            login = held.get(str(session.id))
            login_id, username = (login.login_id, login.username) if login else (None, None)
            rows.append(schedule_from_learninglogin(session, login_id, username))
            rows.append(completion_from_learninglogin(session, login_id, username))
        await self._put(rows, at)
        return {i for i in ids if i not in held}

    async def put_login_sessions(self, login: Login, sessions: Sequence[TrainSession], at: datetime) -> None:
        """Sessions read by their login's username: stored under it."""
        rows: list[IndexRow | None] = [
            schedule_from_learninglogin(s, login.login_id, login.username) for s in sessions
        ]
        rows += [completion_from_learninglogin(s, login.login_id, login.username) for s in sessions]
        await self._put(rows, at)

    async def replace_login_sessions(
        self, login: Login, sessions: Sequence[TrainSession], at: datetime
    ) -> None:
        """One login's sessions, read whole: those indexed under it and not among them go."""
        await self.put_login_sessions(login, sessions, at)
        listed = {str(s.id) for s in sessions}
        completed = {str(s.id) for s in sessions if completion_from_learninglogin(s, None) is not None}
        await self._keep_only(Kind.SCHEDULES, Source.LEARNINGLOGIN, "username", login.username, listed)
        await self._keep_only(Kind.COMPLETIONS, Source.LEARNINGLOGIN, "username", login.username, completed)

    async def _logins_of_sessions(self, ids: Sequence[str]) -> dict[str, Login | None]:
        """The indexed sessions among `ids`, each with the login it is held under (None: nobody's)."""
        table = TABLES[Kind.SCHEDULES]
        found: dict[str, Login | None] = {}
        async with self.index.engine.connect() as connection:
            for start in range(0, len(ids), 500):
                statement = select(table.c.native_id, table.c.user_native_id, table.c.username).where(
                    table.c.source == Source.LEARNINGLOGIN.value,
                    table.c.native_id.in_(list(ids[start : start + 500])),
                )
                for native_id, login_id, username in (await connection.execute(statement)).all():
                    found[native_id] = Login(login_id, username) if login_id and username else None
        return found

    async def put_training_records(self, records: Sequence[TrainingRecord], at: datetime) -> None:
        rows: list[IndexRow | None] = [schedule_from_training_record(r) for r in records]
        rows += [completion_from_training_record(r) for r in records]
        await self._put(rows, at)

    async def put_iscout_completions(self, completions: Sequence[IScoutCompletion], at: datetime) -> None:
        await self._put([completion_from_iscout(c) for c in completions], at)

    async def replace_iscout_completions(
        self, user_id: str, completions: Sequence[IScoutCompletion], at: datetime
    ) -> None:
        """One user's completions, read whole: those of theirs not among them go."""
        rows = _present([completion_from_iscout(c) for c in completions])
        await self._put(rows, at)
        await self._keep_only(
            Kind.COMPLETIONS, Source.ISCOUT, "user_native_id", user_id, {r.native_id for r in rows}
        )

    async def _keep_only(self, kind: Kind, source: Source, column: str, value: str, kept: set[str]) -> int:
        """Of the rows whose `column` is `value`, removes those not in `kept`: by id, not by time, so a
        full pass writing the same rows meanwhile (confirmed a moment earlier) loses none of them."""
        table = TABLES[kind]
        statement = select(table.c.native_id).where(table.c.source == source.value, table.c[column] == value)
        async with self.index.engine.connect() as connection:
            held = {row[0] for row in (await connection.execute(statement)).all()}
        gone = held - kept
        return await self.index.remove(kind, source, gone) if gone else 0

    # -- removals -------------------------------------------------------------------------------

    async def remove_unconfirmed(self, source: Source, kinds: Sequence[Kind], before: datetime) -> int:
        """The source's rows of these kinds confirmed before `before`; answers how many."""
        removed = 0
        for kind in kinds:
            removed += await self.index.remove_unconfirmed(kind, source, None, before)
        return removed

    async def remove_row(self, source: Source, kind: Kind, native_id: str) -> int:
        """A row the upstream says is gone; a schedule's completion goes with it, a group's memberships
        and an account's memberships and schedules too."""
        kinds = [kind, Kind.COMPLETIONS] if kind is Kind.SCHEDULES else [kind]
        removed = 0
        for each in kinds:
            removed += await self.index.remove(each, source, [native_id])
        if kind is Kind.GROUPS:
            removed += await self.index.remove_unconfirmed(
                Kind.MEMBERSHIPS, source, {"group_native_id": native_id}, ALWAYS
            )
        if kind is Kind.ACCOUNTS:
            for each in (Kind.MEMBERSHIPS, Kind.SCHEDULES, Kind.COMPLETIONS):
                removed += await self.index.remove_unconfirmed(
                    each, source, {"user_native_id": native_id}, ALWAYS
                )
        return removed

    # -- reads the sync needs -------------------------------------------------------------------

    async def damstra_user_ids(self) -> list[str]:
        """The DAMSTRA users the index holds, in id order."""
        table = TABLES[Kind.ACCOUNTS]
        statement = select(table.c.native_id).where(table.c.source == Source.DAMSTRA.value)
        async with self.index.engine.connect() as connection:
            found = [row[0] for row in (await connection.execute(statement)).all()]
        return sorted(found, key=int)

    async def row_counts(self, source: Source) -> dict[Kind, int]:
        return {kind: await self.index.count(kind, source) for kind in Kind}

    # -- progress, in the sync state ------------------------------------------------------------

    async def load_progress(self, source: Source) -> dict[str, Any] | None:
        state = await self.index.get_sync_state(source)
        return None if state is None else dict(state.cursor)

    async def save_progress(
        self, source: Source, progress: dict[str, Any], *, rows: int | None = None
    ) -> None:
        """`rows`: the rows held, when just counted; else the count saved last stays."""
        if rows is not None:
            self._rows[source] = rows
        elif source not in self._rows:
            previous = await self.index.get_sync_state(source)
            self._rows[source] = previous.rows if previous is not None else 0
        when = progress.get("last_synced_at")
        await self.index.put_sync_state(
            SyncState(
                source=source,
                state=SyncStateName(progress["state"]),
                cursor=progress,
                last_synced_at=datetime.fromisoformat(when) if isinstance(when, str) else None,
                rows=self._rows[source],
                detail=progress.get("error"),
            )
        )
