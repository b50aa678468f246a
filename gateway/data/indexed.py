"""Company-wide answers from the training index (gateway/index), for one request: the door the graph
reads the index through, with the caller's access rules applied in SQL.

    use = await context.indexed.use_for({Source.DAMSTRA, Source.ISCOUT})
    if use.used:                                              # every source needed is LIVE
        page = await context.indexed.completions(CompletionQuery(), first=20)
    # else the live path answers, and the answer's `extensions.index` says why (use.reason)

The index answers only while every source a question needs is LIVE (its sync's state); until then the
live path answers as it would without an index. One person's reads never come here: they stay live.
Rows read here prime the request's loaders with the DAMSTRA users they name, so the people on a page
cost no upstream read either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.data.identity import IdentityDirectory, LinkedAccounts
from gateway.data.loaders import Loaders
from gateway.index.progress import unattributed_sessions
from gateway.index.rows import CompletionRow, IndexRow, Kind, ScheduleRow
from gateway.index.store import (
    Audience,
    CompletionQuery,
    Page,
    ScheduleQuery,
    SyncState,
    SyncStateName,
    TrainingIndex,
)
from gateway.sources import SOURCE_ORDER, Source
from gateway.upstreams.damstra.records import DamstraUser

if TYPE_CHECKING:
    from gateway.data.access import Access


@dataclass(frozen=True)
class IndexUse:
    """Whether the index answered a field, and if not, why (`DAMSTRA BACKFILLING`); `reason` is None
    when no index is configured (then nothing is said: the answer is as it always was)."""

    used: bool
    reason: str | None = None


NOT_CONFIGURED = IndexUse(False)


class IndexedReads:
    """One request's reads of the index. Without an `Access` (ADMIN) every row is visible."""

    def __init__(
        self,
        index: TrainingIndex | None,
        directory: IdentityDirectory,
        loaders: Loaders,
        access: Access | None = None,
    ) -> None:
        self.index = index
        self.directory = directory
        self.loaders = loaders
        self.access = access
        self.uses: list[IndexUse] = []  # what this request's fields decided, for `extensions.index`
        self._states: asyncio.Future[dict[Source, SyncState]] | None = None
        self._audience: asyncio.Future[Audience] | None = None

    @property
    def configured(self) -> bool:
        return self.index is not None

    async def use_for(self, sources: Iterable[Source], *, by_person: bool = False) -> IndexUse:
        """Whether the index may answer a question needing these sources (all LIVE); recorded for the
        answer's `extensions`. `by_person`: the question narrows to some people's rows (a group's); so
        does every question of a caller who is not ADMIN."""
        if self.index is None:
            return NOT_CONFIGURED
        needed = sorted(set(sources), key=SOURCE_ORDER.index)
        states = await self.sync_states()
        use = IndexUse(True)
        for source in needed:
            state = states.get(source)
            if state is None or state.state is not SyncStateName.LIVE:
                use = IndexUse(False, f"{source.name} {state.state.value if state else 'NOT_SYNCED'}")
                break
        # A train session names no login: the sync attributes each to its login (its username's read),
        # but one an incremental poll found new waits for the next full pass. While any does, a
        # question narrowed to some people could miss it (it is someone's, maybe theirs): live answers.
        # Sessions a full pass left without a login are of no linked person: nobody's but ADMIN's, as live.
        narrowed = by_person or self.access is not None
        login_state = states.get(Source.LEARNINGLOGIN)
        if (
            use.used
            and narrowed
            and Source.LEARNINGLOGIN in needed
            and login_state is not None
            and unattributed_sessions(login_state.cursor)
        ):
            use = IndexUse(False, f"{Source.LEARNINGLOGIN.name} UNATTRIBUTED")
        self.uses.append(use)
        return use

    def extensions(self) -> dict[str, Any] | None:
        """The answer's `extensions` about the index: {"index": {"used": false, "reason": "DAMSTRA
        BACKFILLING"}} when a field that the index answers once LIVE was answered live; {"index":
        {"used": true}} when every such field came from it; None when no field asked (or no index)."""
        said = [use for use in self.uses if use is not NOT_CONFIGURED]
        if not said:
            return None
        missed = next((use for use in said if not use.used), None)
        if missed is None:
            return {"index": {"used": True}}
        return {"index": {"used": False, "reason": missed.reason}}

    async def sync_states(self) -> dict[Source, SyncState]:
        """Each source's sync state, read once per request."""
        assert self.index is not None
        if self._states is None:
            self._states = asyncio.ensure_future(self.index.recent_sync_states())
        return await asyncio.shield(self._states)

    async def audience(self) -> Audience | None:
        """The accounts whose rows the caller may see (None: all, ADMIN), as gateway.data.access says."""
        if self.access is None:
            return None
        if self._audience is None:
            self._audience = asyncio.ensure_future(self._work_out_audience())
        return await asyncio.shield(self._audience)

    async def _work_out_audience(self) -> Audience:
        assert self.access is not None
        seen = await self.access.visibility()
        accounts: dict[Source, set[str]] = {}
        for source, native_id in seen.accounts:
            accounts.setdefault(source, set()).add(native_id)
        return Audience(accounts, frozenset(seen.usernames))

    def _store(self) -> TrainingIndex:
        assert self.index is not None, "use_for() said the index may answer"
        return self.index

    # -- the questions -------------------------------------------------------------------------

    async def completions(
        self, query: CompletionQuery, first: int, after: tuple[datetime, int, str] | None = None
    ) -> Page[CompletionRow]:
        """Completions the caller may see, newest first (the live merge's order), after `after`."""
        page = await self._store().completions_page(await self.audience(), query, first, after)
        await self._prime(page.rows)
        return page

    async def schedules(
        self, query: ScheduleQuery, first: int, offset: int, now: datetime
    ) -> Page[ScheduleRow]:
        """Schedules the caller may see matching `query` at `now`, soonest due first."""
        page = await self._store().schedules_page(await self.audience(), query, first, offset, now)
        await self._prime(page.rows)
        return page

    async def schedules_count(self, query: ScheduleQuery, now: datetime) -> tuple[int, datetime | None]:
        """How many schedules the caller may see match `query` at `now`, and the oldest confirmation
        among the schedules of the sources counted."""
        store = self._store()
        count = await store.schedules_count(await self.audience(), query, now)
        sources = [query.source] if query.source is not None else None
        return count, await store.oldest_confirmation(Kind.SCHEDULES, sources)

    async def damstra_users_count(self, *, include_inactive: bool) -> tuple[int, datetime | None]:
        """How many DAMSTRA users the caller may see (active ones unless `include_inactive`)."""
        store = self._store()
        count = await store.accounts_count(await self.audience(), include_inactive=include_inactive)
        return count, await store.oldest_confirmation(Kind.ACCOUNTS, [Source.DAMSTRA])

    async def without_damstra_user(self, entries: Collection[LinkedAccounts]) -> list[LinkedAccounts]:
        """The identity file's people among `entries` whom no indexed DAMSTRA user matches (by DAMSTRA
        id, email or employee number, as gateway.data.people links them)."""
        found = await self._store().accounts_matching(
            Source.DAMSTRA,
            native_ids=[i for e in entries for i in e.ids(Source.DAMSTRA)],
            emails=[m for e in entries for m in e.emails],
            employee_numbers=[n for e in entries for n in e.employee_numbers],
        )
        ids = {row.native_id for row in found}
        emails = {row.email for row in found if row.email}
        numbers = {row.employee_number for row in found if row.employee_number}
        return [
            entry
            for entry in entries
            if not (
                ids.intersection(entry.ids(Source.DAMSTRA))
                or emails.intersection(m.casefold() for m in entry.emails)
                or numbers.intersection(entry.employee_numbers)
            )
        ]

    async def group_members(self, group_id: str) -> list[DamstraUser]:
        """The DAMSTRA users the index holds as members of the group (the caller's rights aside: the
        counts made of them apply the audience again)."""
        store = self._store()
        ids = await store.group_members([group_id])
        rows = await store.get_many(Kind.ACCOUNTS, Source.DAMSTRA, ids)
        users = [row.record() for row in rows]
        return [u for u in users if isinstance(u, DamstraUser)]

    async def _prime(self, rows: Iterable[IndexRow]) -> None:
        """What the rows name, from the index into this request's loaders (never the cross-request
        cache): the DAMSTRA users of their people (by id, or by the identity file's emails and employee
        numbers, as gateway.data.people links them) and DAMSTRA lessons. The page's people and lessons
        then cost no upstream read either. Only while every source is LIVE: the index holds them all."""
        ids: set[str] = set()
        emails: set[str] = set()
        numbers: set[str] = set()
        lessons: set[str] = set()
        for row in rows:
            lesson = getattr(row, "lesson_native_id", None)
            if row.source is Source.DAMSTRA and lesson is not None:
                lessons.add(lesson)
            user = getattr(row, "user_native_id", None)
            if user is None:
                continue
            if row.source is Source.DAMSTRA:
                ids.add(user)
                continue
            linked = self.directory.find(row.source, user)
            if linked is None:
                continue
            if linked.ids(Source.DAMSTRA):
                ids.update(linked.ids(Source.DAMSTRA))
            else:
                emails.update(linked.emails)
                numbers.update(linked.employee_numbers)
        store = self._store()
        no_rows: list[IndexRow] = []
        found, lesson_rows = await asyncio.gather(
            store.accounts_matching(Source.DAMSTRA, native_ids=ids, emails=emails, employee_numbers=numbers),
            store.get_many(Kind.LESSONS, Source.DAMSTRA, lessons) if lessons else asyncio.sleep(0, no_rows),
        )
        if ids or emails or numbers:
            users = [(row.native_id, row.record()) for row in found]
            by_email: dict[str, DamstraUser] = {}
            by_number: dict[str, DamstraUser] = {}
            for native_id, user in users:
                if not isinstance(user, DamstraUser):
                    continue
                if native_id in ids:
                    self.loaders.damstra_user.prime(native_id, user)
                if user.email_address:
                    by_email.setdefault(user.email_address.lower(), user)
                if user.employee_number:
                    by_number.setdefault(user.employee_number, user)
            for email in emails:
                self.loaders.damstra_user_by_email.prime(email, by_email.get(email))
            for number in numbers:
                self.loaders.damstra_user_by_employee_number.prime(number, by_number.get(number))
        for row in lesson_rows:
            self.loaders.lesson.prime(row.native_id, row.record())
