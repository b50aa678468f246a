"""A full pass over one source: the backfill, and every reconciliation after it.

    removed = await full_pass(feed, sink, progress, clock)

Phase by phase, page by page, each page's rows confirmed as it is read; after every page the phase
and cursor are saved in the index's sync state, so a pass stopped midway (a restart, a lost lock)
reads on from there. At the end, the rows of the feed's kinds confirmed before the pass began were not
seen again upstream: they are removed, and the source is LIVE.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.index.feeds.base import DONE, Feed
from gateway.index.progress import SourceProgress, SourceState
from gateway.index.sink import IndexSink

log = logging.getLogger("gateway.index.sync")

Clock = Callable[[], datetime]


async def save(sink: IndexSink, feed: Feed, progress: SourceProgress, *, count: bool = False) -> None:
    """`count`: the rows held are counted again for the sync state (at a pass's end, a poll's)."""
    rows = sum((await sink.row_counts(feed.source)).values()) if count else None
    await sink.save_progress(feed.source, progress.to_json(), rows=rows)


async def full_pass(feed: Feed, sink: IndexSink, progress: SourceProgress, clock: Clock) -> int:
    """Reads the source whole (from where a stopped pass left off); answers the rows removed."""
    phases = feed.phases()
    names = [phase.name for phase in phases]
    first = names.index(progress.phase) if progress.phase in names else 0
    if progress.pass_started_at is None or progress.phase not in names:
        progress.pass_started_at = clock()
        progress.cursor = None
    if not progress.live:
        progress.state = SourceState.BACKFILLING
    for phase in phases[first:]:
        cursor = progress.cursor if progress.phase == phase.name else None
        progress.phase, progress.cursor = phase.name, cursor
        await save(sink, feed, progress)
        while True:
            cursor = await phase.step(cursor, clock())
            progress.last_synced_at = clock()
            if cursor == DONE:
                break
            progress.cursor = cursor
            await save(sink, feed, progress)
    started = progress.pass_started_at
    removed = await sink.remove_unconfirmed(feed.source, feed.kinds, started)
    if removed:
        log.info("%s: %d rows no longer upstream were removed from the index", feed.source.name, removed)
    progress.phase = progress.cursor = None
    progress.pass_started_at = None
    progress.last_full_at = started
    progress.live = True
    progress.state = SourceState.LIVE
    progress.error = None
    progress.passes += 1
    await save(sink, feed, progress, count=True)
    return removed
