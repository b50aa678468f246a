"""The seam between the data layer and the training index's sync (`gateway.index.syncer`).

    services.sync.webhook_received("schedules", "1023", received_at)   # the webhook receiver
    await services.sync.written("complete_lesson", [(Source.DAMSTRA, "1023")], ["lesson:7"], answer)
    rows = await sync_status(services)                                    # Query.syncStatus, /readyz

The data layer knows the sync only by this interface: the server wires the real one in when an index
is configured; without one, `sync_status` says every source is DISABLED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from gateway.sources import Source

if TYPE_CHECKING:
    from gateway.data.context import Services

Target = tuple[Source, str]
WebhookSubject = Literal["user", "schedules"]


class SourceSyncStatus(Protocol):
    """One source's sync state: BACKFILLING | LIVE | DISABLED | FAILING."""

    @property
    def source(self) -> Source: ...
    @property
    def state(self) -> str: ...
    @property
    def last_synced_at(self) -> datetime | None: ...
    @property
    def rows(self) -> int: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True)
class Disabled:
    """A source no index syncs."""

    source: Source
    state: str = "DISABLED"
    last_synced_at: datetime | None = None
    rows: int = 0
    error: str | None = None


def status_json(status: SourceSyncStatus) -> dict[str, Any]:
    """As `/readyz` tells it."""
    return {
        "state": status.state,
        "lastSyncedAt": status.last_synced_at.isoformat() if status.last_synced_at else None,
        "rows": status.rows,
        **({"error": status.error} if status.error else {}),
    }


class IndexSync(Protocol):
    def webhook_received(self, subject: WebhookSubject, user_id: str, received_at: datetime) -> None:
        """A DAMSTRA webhook named this user (their record, or their schedules): re-read it, in the
        background, into the index."""
        ...

    async def written(
        self, write: str, people: Sequence[Target], objects: Sequence[str], answer: Any
    ) -> None:
        """One of LearnGraph's own writes succeeded: the index reflects it before this returns."""
        ...

    async def status(self) -> Sequence[SourceSyncStatus]: ...


@dataclass(frozen=True)
class Stored:
    """A source's sync as another process saved it in the index (this one does not sync)."""

    source: Source
    state: str
    last_synced_at: datetime | None
    rows: int
    error: str | None


async def sync_status(services: Services) -> Sequence[SourceSyncStatus]:
    """Each source's sync state: this process's syncer's; else, with an index another process syncs
    (LEARNGRAPH_INDEX_SYNC=false), what it saved there; DISABLED for every source without an index."""
    if services.sync is not None:
        return await services.sync.status()
    enabled = services.upstreams.enabled()
    if services.index is None:
        return [Disabled(source) for source in enabled]
    saved = await services.index.sync_states()
    found: list[SourceSyncStatus] = []
    for source in enabled:
        state = saved.get(source)
        if state is None:
            found.append(Disabled(source))
        else:
            found.append(Stored(source, state.state.value, state.last_synced_at, state.rows, state.detail))
    return found
