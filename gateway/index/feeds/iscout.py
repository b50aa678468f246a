"""iScout into the index: its completed trainings, newest first, 1,000 a page (the cursor is the next
page's number), re-read whole every `LEARNGRAPH_INDEX_ISCOUT_REREAD_MINUTES`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.index.feeds.base import DONE, Phase
from gateway.index.rows import Kind
from gateway.index.sink import IndexSink
from gateway.sources import Source
from gateway.upstreams.iscout.client import MAX_PAGE_SIZE, IScoutClient


class IScoutFeed:
    source = Source.ISCOUT
    kinds: Sequence[Kind] = (Kind.COMPLETIONS,)

    def __init__(self, client: IScoutClient, sink: IndexSink) -> None:
        self.client = client
        self.sink = sink

    def phases(self) -> list[Phase]:
        return [Phase("completions", self._completions)]

    async def _completions(self, cursor: Any, at: datetime) -> Any:
        number = int(cursor or 1)
        page = await self.client.completions().page(number, limit=MAX_PAGE_SIZE)
        await self.sink.put_iscout_completions(page.items, at)
        if page.last_page is not None:
            return number + 1 if number < page.last_page and page.items else DONE
        return number + 1 if len(page.items) >= MAX_PAGE_SIZE else DONE

    async def reread_user(self, user_id: str, at: datetime) -> None:
        """One user's completions (after a write that names them)."""
        found = [c async for c in self.client.completions(user_id=user_id).iterate()]
        await self.sink.replace_iscout_completions(user_id, found, at)
