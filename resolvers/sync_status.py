"""`Query.syncStatus`: where the training index's sync of each source stands (docs/contract.md §6).

Read through the data layer (`gateway.data.sync_hooks.sync_status`): the same rows `/readyz` tells
and the `learngraph_index_*` metrics count. Without an index every enabled source is DISABLED.
"""

from __future__ import annotations

import enum

import strawberry

from gateway.data.sync_hooks import SourceSyncStatus, sync_status
from gateway.sources import Source
from resolvers.info import Info
from resolvers.scalars import DateTime


@strawberry.enum(description="How far the training index holds a source.")
class SyncState(enum.Enum):
    BACKFILLING = strawberry.enum_value(
        "BACKFILLING", description="Its first full read is under way: answers that need it read it live."
    )
    LIVE = strawberry.enum_value("LIVE", description="The index holds it, kept fresh.")
    DISABLED = strawberry.enum_value(
        "DISABLED", description="Not indexed: the source is not configured, or no index is."
    )
    FAILING = strawberry.enum_value(
        "FAILING", description="Its last read failed; tried again, the rows held kept meanwhile."
    )


@strawberry.type(name="SourceSyncStatus", description="One source's sync into the training index.")
class SourceSync:
    source: Source
    state: SyncState
    last_synced_at: DateTime | None = strawberry.field(
        description="The last successful read of the source into the index."
    )
    rows: int = strawberry.field(description="Rows the index holds from the source.")

    @classmethod
    def of(cls, status: SourceSyncStatus) -> SourceSync:
        return cls(
            source=status.source,
            state=SyncState(status.state),
            last_synced_at=status.last_synced_at,
            rows=status.rows,
        )


@strawberry.type
class SyncStatusQuery:
    @strawberry.field(description="Each source's sync into the training index.")
    async def sync_status(self, info: Info) -> list[SourceSync]:
        return [SourceSync.of(s) for s in await sync_status(info.context.services)]
