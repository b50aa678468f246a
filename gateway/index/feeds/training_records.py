"""Training Records into the index: its records (one with `date_completed` is a completion).

The API filters by nothing but a name, so every re-read is a full pass, `limit`/`offset` 100 a page
(the cursor is the next offset), every `LEARNGRAPH_INDEX_TRAINING_RECORDS_REREAD_MINUTES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gateway.errors import UpstreamNotFound
from gateway.index.feeds.base import DONE, Phase
from gateway.index.rows import Kind
from gateway.index.sink import IndexSink
from gateway.sources import Source
from gateway.upstreams.training_records.client import MAX_PAGE_SIZE, TrainingRecordsClient


class TrainingRecordsFeed:
    source = Source.TRAINING_RECORDS
    kinds: Sequence[Kind] = (Kind.SCHEDULES, Kind.COMPLETIONS)

    def __init__(self, client: TrainingRecordsClient, sink: IndexSink) -> None:
        self.client = client
        self.sink = sink

    def phases(self) -> list[Phase]:
        return [Phase("records", self._records)]

    async def _records(self, cursor: Any, at: datetime) -> Any:
        offset = int(cursor or 0)
        page = await self.client.records().window(limit=MAX_PAGE_SIZE, offset=offset)
        await self.sink.put_training_records(page.items, at)
        read = offset + len(page.items)
        more = len(page.items) >= MAX_PAGE_SIZE if page.total is None else read < page.total
        return read if more and page.items else DONE

    async def reread_record(self, api_id: str, at: datetime) -> None:
        try:
            record = await self.client.get_record(api_id)
        except UpstreamNotFound:
            await self.sink.remove_row(Source.TRAINING_RECORDS, Kind.SCHEDULES, api_id)
            return
        await self.sink.put_training_records([record], at)
