"""DAMSTRA into the index: users (with their group memberships), groups, lessons, every user's
schedules (completed ones are the completions) and ILT attendance.

DAMSTRA lists schedules per user only, so the schedules phase walks the users the index holds, in
id order, a few at a time (`concurrency`); its cursor is the last user done. A webhook names the
user it is about: `reread_user` and `reread_schedules` read exactly that.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.errors import UpstreamNotFound
from gateway.index.feeds.base import DONE, Phase
from gateway.index.rows import Kind
from gateway.index.sink import IndexSink
from gateway.sources import Source
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.damstra.records import DamstraSchedule
from gateway.upstreams.paging import Listing

PAGE = 100


def _next(start: int, page: Listing[Any], size: int) -> Any:
    read = start + len(page.items)
    more = len(page.items) >= size if page.total is None else read < page.total
    return read if more and page.items else DONE


class DamstraFeed:
    source = Source.DAMSTRA
    kinds: Sequence[Kind] = tuple(Kind)

    def __init__(self, client: DamstraClient, sink: IndexSink, *, concurrency: int = 4) -> None:
        self.client = client
        self.sink = sink
        self.concurrency = max(1, concurrency)
        self._user_ids: list[int] | None = None  # in order

    def phases(self) -> list[Phase]:
        return [
            Phase("users", self._users),
            Phase("groups", self._groups),
            Phase("lessons", self._lessons),
            Phase("schedules", self._schedules),
            Phase("attendance", self._attendance),
        ]

    async def _users(self, cursor: Any, at: datetime) -> Any:
        start = int(cursor or 0)
        page = await self.client.users(active_value="all").window(start_index=start, max_results=PAGE)
        await self.sink.put_users(page.items, at)
        return _next(start, page, PAGE)

    async def _groups(self, cursor: Any, at: datetime) -> Any:
        start = int(cursor or 0)
        page = await self.client.groups().window(start_index=start, max_results=PAGE)
        await self.sink.put_groups(page.items, at)
        return _next(start, page, PAGE)

    async def _lessons(self, cursor: Any, at: datetime) -> Any:
        start = int(cursor or 0)
        page = await self.client.lessons().window(start_index=start, max_results=PAGE)
        await self.sink.put_lessons(page.items, at)
        return _next(start, page, PAGE)

    async def _schedules(self, cursor: Any, at: datetime) -> Any:
        after = int(cursor) if cursor is not None else -1
        if cursor is None or self._user_ids is None:
            # Read once a pass (and again after a restart): the users the users phase indexed.
            self._user_ids = [int(uid) for uid in await self.sink.damstra_user_ids()]
        start = bisect.bisect_right(self._user_ids, after)
        batch = self._user_ids[start : start + self.concurrency]
        if not batch:
            return DONE
        found = await asyncio.gather(*(self._schedules_of(str(uid)) for uid in batch))
        # One write for the batch: a transaction per user costs more than the rows.
        await self.sink.put_schedules([s for schedules in found for s in schedules], at)
        return batch[-1] if start + len(batch) < len(self._user_ids) else DONE

    async def _schedules_of(self, user_id: str) -> list[DamstraSchedule]:
        try:
            return await self.client.user_schedules(user_id, status="all").all()
        except UpstreamNotFound:
            return []  # the user is gone; the pass's end removes their rows

    async def _attendance(self, cursor: Any, at: datetime) -> Any:
        start = int(cursor or 0)
        page = await self.client.ilt_sessions().window(start_index=start, max_results=PAGE)
        found = await asyncio.gather(*(self.client.list_attendees(s.id) for s in page.items))
        for session, attendees in zip(page.items, found, strict=True):
            await self.sink.put_attendance(session, attendees, at)
        return _next(start, page, PAGE)

    # -- what a webhook or one of LearnGraph's own writes names ---------------------------------

    async def reread_user(self, user_id: str, at: datetime) -> None:
        """The user's record: their names, status and group memberships."""
        try:
            user = await self.client.get_user(user_id)
        except UpstreamNotFound:
            await self.sink.remove_row(Source.DAMSTRA, Kind.ACCOUNTS, user_id)
            return
        await self.sink.put_users([user], at, whole=True)

    async def reread_schedules(self, user_id: str, at: datetime) -> None:
        """Every schedule of the user; the ones no longer listed go."""
        await self.sink.replace_schedules(user_id, await self._schedules_of(user_id), at)

    async def reread_group(self, group_id: str, at: datetime) -> None:
        """One group's record; gone (an inactivated group is no longer readable) when not found."""
        try:
            group = await self.client.get_group(group_id)
        except UpstreamNotFound:
            await self.sink.remove_row(Source.DAMSTRA, Kind.GROUPS, group_id)
            return
        await self.sink.put_groups([group], at)

    async def reread_session(self, session_id: str, at: datetime) -> None:
        """One ILT session's attendance."""
        try:
            session = await self.client.get_ilt_session(session_id)
            attendees = await self.client.list_attendees(session_id)
        except UpstreamNotFound:
            return
        await self.sink.put_attendance(session, attendees, at)
