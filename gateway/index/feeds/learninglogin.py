"""LearningLogin into the index: its train sessions (a completed one is a completion).

A full pass reads every page, newest first, 64 a page (the cursor is the next page's number). Between
passes `incremental` reads only what the API's own filter finds completed since a day
(`completion_date_gteq`); the rolling full pass (`LEARNGRAPH_INDEX_LEARNINGLOGIN_REREAD_MINUTES`)
catches what no completion date tells: new assignments, progress, sessions removed upstream.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from gateway.errors import UpstreamNotFound
from gateway.index.feeds.base import DONE, Phase
from gateway.index.rows import Kind
from gateway.index.sink import IndexSink
from gateway.sources import Source
from gateway.upstreams.learninglogin.client import PER_PAGE, LearningLoginClient
from gateway.upstreams.learninglogin.records import TrainSessionFilters


class LearningLoginFeed:
    source = Source.LEARNINGLOGIN
    kinds: Sequence[Kind] = (Kind.SCHEDULES, Kind.COMPLETIONS)

    def __init__(self, client: LearningLoginClient, sink: IndexSink) -> None:
        self.client = client
        self.sink = sink

    def phases(self) -> list[Phase]:
        return [Phase("train_sessions", self._sessions)]

    async def _sessions(self, cursor: Any, at: datetime) -> Any:
        number = int(cursor or 1)
        page = await self.client.train_sessions().page(number)
        await self.sink.put_train_sessions(page.items, at)
        last = len(page.items) < PER_PAGE or (page.total is not None and number * PER_PAGE >= page.total)
        return DONE if last or not page.items else number + 1

    async def incremental(self, since: date, at: datetime) -> int:
        """The sessions completed on or after `since`; answers how many were read."""
        read = 0
        filters = TrainSessionFilters(completion_date_gteq=since)
        batch = []
        async for session in self.client.train_sessions(filters).iterate():
            batch.append(session)
            if len(batch) >= PER_PAGE:
                await self.sink.put_train_sessions(batch, at)
                read, batch = read + len(batch), []
        await self.sink.put_train_sessions(batch, at)
        return read + len(batch)

    async def reread_session(self, session_id: str, at: datetime) -> None:
        try:
            session = await self.client.get_train_session(session_id)
        except UpstreamNotFound:
            await self.sink.remove_row(Source.LEARNINGLOGIN, Kind.SCHEDULES, session_id)
            return
        await self.sink.put_train_sessions([session], at)
