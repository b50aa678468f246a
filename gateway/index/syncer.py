"""The training index's sync: one per gateway process, syncing only while it holds the sync lock.

    syncer = IndexSyncer(sink, upstreams, settings, lock)
    await syncer.start()          # in the lifespan; returns at once
    syncer.leading                # this replica holds the lock and syncs
    await syncer.status()         # each source: BACKFILLING | LIVE | DISABLED | FAILING, rows
    await syncer.stop()

While it holds the lock (`gateway.index.lock`), one loop per enabled source:

- a full pass (`passes.full_pass`) when the source has none finished yet (the backfill, resumed
  from its saved cursor after a restart), when a pass was left unfinished, or when the last one
  is older than the source's interval: DAMSTRA `LEARNGRAPH_INDEX_RECONCILE_HOURS`, LearningLogin
  `..._LEARNINGLOGIN_REREAD_MINUTES`, Training Records and iScout their `..._REREAD_MINUTES`
  (never longer than the reconcile interval);
- between passes, LearningLogin's completions by date every `..._LEARNINGLOGIN_POLL_SECONDS`;
  DAMSTRA's changes come by webhook (`freshen`), on whichever replica receives them.

A failed read marks the source FAILING (its rows stay) and is tried again, waiting longer each
time up to MAX_BACKOFF_SECONDS; the pass resumes from its cursor. Losing the lock stops the loops;
another replica's takes over where the saved cursors say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from gateway.errors import UpstreamError
from gateway.index.feeds.base import Feed
from gateway.index.feeds.damstra import DamstraFeed
from gateway.index.feeds.iscout import IScoutFeed
from gateway.index.feeds.learninglogin import LearningLoginFeed, no_logins
from gateway.index.feeds.training_records import TrainingRecordsFeed
from gateway.index.freshen import Freshener, Target, WebhookSubject
from gateway.index.lock import SyncLock, choose_lock
from gateway.index.passes import full_pass, save
from gateway.index.progress import UNATTRIBUTED, SourceProgress, SourceState
from gateway.index.sink import IndexSink, Login
from gateway.index.store import TrainingIndex
from gateway.settings import Settings
from gateway.sources import Source
from gateway.telemetry.index_metrics import record_status
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.registry import Upstreams
from gateway.upstreams.training_records.client import TrainingRecordsClient

log = logging.getLogger("gateway.index.sync")

INDEXED = (Source.DAMSTRA, Source.LEARNINGLOGIN, Source.TRAINING_RECORDS, Source.ISCOUT)
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 300.0
# A loop looks again at least this often (a pass another replica finished, a changed schedule).
MAX_IDLE_SECONDS = 30.0
# How long a stop waits for the loops' cancellation.
STOP_SECONDS = 10.0
# LearningLogin filters by day: each poll reads from the day before its last, for time zones.
POLL_OVERLAP = timedelta(days=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SourceStatus:
    """One source's sync status as `Query.syncStatus` and `/readyz` tell it."""

    source: Source
    state: str
    last_synced_at: datetime | None
    rows: int
    error: str | None = None


class IndexSyncer:
    def __init__(
        self,
        sink: IndexSink,
        upstreams: Upstreams,
        settings: Settings,
        lock: SyncLock,
        *,
        clock: Callable[[], datetime] = utcnow,
        logins: Callable[[], Sequence[Login]] = no_logins,
    ) -> None:
        self.sink = sink
        self.settings = settings
        self.lock = lock
        self.clock = clock
        self.logins = logins
        self.feeds: dict[Source, Feed] = {}
        enabled = set(upstreams.enabled())
        concurrency = settings.index_sync_concurrency
        damstra = learninglogin = training_records = iscout = None
        if Source.DAMSTRA in enabled:
            client = cast(DamstraClient, upstreams.client(Source.DAMSTRA))
            damstra = self.feeds[Source.DAMSTRA] = DamstraFeed(client, sink, concurrency=concurrency)
        if Source.LEARNINGLOGIN in enabled:
            ll = cast(LearningLoginClient, upstreams.client(Source.LEARNINGLOGIN))
            learninglogin = self.feeds[Source.LEARNINGLOGIN] = LearningLoginFeed(
                ll, sink, logins, concurrency=concurrency
            )
        if Source.TRAINING_RECORDS in enabled:
            tr = cast(TrainingRecordsClient, upstreams.client(Source.TRAINING_RECORDS))
            training_records = self.feeds[Source.TRAINING_RECORDS] = TrainingRecordsFeed(tr, sink)
        if Source.ISCOUT in enabled:
            iscout_client = cast(IScoutClient, upstreams.client(Source.ISCOUT))
            iscout = self.feeds[Source.ISCOUT] = IScoutFeed(iscout_client, sink)
        self.freshen = Freshener(
            clock=clock,
            damstra=damstra,
            learninglogin=learninglogin,
            training_records=training_records,
            iscout=iscout,
        )
        self.enabled = [s for s in INDEXED if s in self.feeds]
        self.leading = False
        self.passes_done: dict[Source, int] = dict.fromkeys(self.enabled, 0)
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @classmethod
    def for_index(
        cls,
        index: TrainingIndex,
        upstreams: Upstreams,
        settings: Settings,
        logins: Callable[[], Sequence[Login]] = no_logins,
    ) -> IndexSyncer:
        """The sync of `index`, with the lock the deployment allows (`lock.choose_lock`); `logins`:
        the LearningLogin logins the identity file links to people (their sessions are read by them)."""
        redis_url = settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        lock = choose_lock(redis_url, index.engine, settings.index_lock_ttl_seconds)
        return cls(IndexSink(index), upstreams, settings, lock, logins=logins)

    # -- running --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None and self.enabled:
            self._task = asyncio.create_task(self._lead(), name="index-sync")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: a stop must not hang on a read that ignores its cancellation.
            await asyncio.wait([task], timeout=STOP_SECONDS)
        await self.freshen.aclose()
        await self.lock.aclose()

    async def _lead(self) -> None:
        """Takes the lock whenever it is free, and syncs while it is held."""
        while True:
            if await self.lock.acquire():
                log.info("this replica holds the index sync lock: it syncs")
                self.leading = True
                try:
                    await self._sync_while_held()
                finally:
                    self.leading = False
                    await self.lock.release()
            await asyncio.sleep(self.lock.ttl_seconds / 3)

    async def _sync_while_held(self) -> None:
        loops = [asyncio.create_task(self._source_loop(s), name=f"index-sync-{s.slug}") for s in self.enabled]
        try:
            while await self.lock.renew():  # noqa: ASYNC110 (renewing is the point: no event to wait on)
                await asyncio.sleep(self.lock.ttl_seconds / 3)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.wait(loops, timeout=STOP_SECONDS)

    async def _source_loop(self, source: Source) -> None:
        feed = self.feeds[source]
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            progress = SourceProgress.from_json(await self.sink.load_progress(source))
            try:
                wait = await self.tick(feed, progress)
                backoff = FIRST_BACKOFF_SECONDS
            except UpstreamError as exc:
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._failed(feed, progress, f"{exc.code}: {exc.message}")
            except Exception as exc:  # a bug or the index itself: said, and tried again later
                log.exception("the index sync of %s failed", source.name)
                wait, backoff = backoff, min(backoff * 2, MAX_BACKOFF_SECONDS)
                await self._failed(feed, progress, type(exc).__name__)
            await asyncio.sleep(wait)

    async def _failed(self, feed: Feed, progress: SourceProgress, error: str) -> None:
        log.warning("the index sync of %s failed (%s); it is tried again", feed.source.name, error)
        progress.state = SourceState.FAILING
        progress.error = error
        with contextlib.suppress(Exception):
            await save(self.sink, feed, progress)

    async def sync_once(self, sources: Sequence[Source] | None = None) -> None:
        """One round of each source's sync, here and now (the bench, tests): a full pass where one is
        due or unfinished (the backfill first of all), else LearningLogin's poll when due."""
        for source in sources or self.enabled:
            progress = SourceProgress.from_json(await self.sink.load_progress(source))
            await self.tick(self.feeds[source], progress)

    def interval(self, source: Source) -> timedelta:
        """How old the last full pass of `source` may be before the next one."""
        settings = self.settings
        reconcile = timedelta(hours=settings.index_reconcile_hours)
        minutes = {
            Source.LEARNINGLOGIN: settings.index_learninglogin_reread_minutes,
            Source.TRAINING_RECORDS: settings.index_training_records_reread_minutes,
            Source.ISCOUT: settings.index_iscout_reread_minutes,
        }.get(source)
        return reconcile if minutes is None else min(reconcile, timedelta(minutes=minutes))

    async def tick(self, feed: Feed, progress: SourceProgress) -> float:
        """One round of a source's sync; answers the seconds until the next is due."""
        now = self.clock()
        due = None if progress.last_full_at is None else progress.last_full_at + self.interval(feed.source)
        if not progress.live or progress.phase is not None or due is None or due <= now:
            await full_pass(feed, self.sink, progress, self.clock)
            self.passes_done[feed.source] += 1
            if isinstance(feed, LearningLoginFeed) and progress.last_full_at is not None:
                progress.incremental_from = (progress.last_full_at - POLL_OVERLAP).date()
                progress.extra["polled_at"] = progress.last_full_at.isoformat()
                # The pass read every known login's sessions: what it left unattributed is nobody's.
                progress.extra.pop(UNATTRIBUTED, None)
                await save(self.sink, feed, progress)
            return 0.0
        if progress.state is SourceState.FAILING:
            progress.state, progress.error = SourceState.LIVE, None
            await save(self.sink, feed, progress)
        wait = (due - now).total_seconds()
        if isinstance(feed, LearningLoginFeed):
            wait = min(wait, await self._poll(feed, progress))
        return max(0.0, min(wait, MAX_IDLE_SECONDS))

    async def _poll(self, feed: LearningLoginFeed, progress: SourceProgress) -> float:
        """LearningLogin's completions since the last poll's day, when a poll is due."""
        every = self.settings.index_learninglogin_poll_seconds
        polled = progress.extra.get("polled_at")
        last = datetime.fromisoformat(polled) if isinstance(polled, str) else None
        now = self.clock()
        if last is not None and (now - last).total_seconds() < every:
            return every - (now - last).total_seconds()
        since = progress.incremental_from or (now - POLL_OVERLAP).date()
        polled = await feed.incremental(since, now)
        if polled.unattributed:
            pending = set(progress.extra.get(UNATTRIBUTED) or ()) | polled.unattributed
            progress.extra[UNATTRIBUTED] = sorted(pending)
        progress.incremental_from = (now - POLL_OVERLAP).date()
        progress.extra["polled_at"] = now.isoformat()
        progress.last_synced_at = self.clock()
        await save(self.sink, feed, progress, count=True)
        return every

    # -- the data layer's seam (gateway.data.sync_hooks.IndexSync) -------------------------------

    def webhook_received(self, subject: WebhookSubject, user_id: str, received_at: datetime) -> None:
        self.freshen.webhook_received(subject, user_id, received_at)

    async def written(
        self, write: str, people: Sequence[Target], objects: Sequence[str], answer: Any
    ) -> None:
        await self.freshen.written(write, people, objects, answer)

    async def status(self) -> list[SourceStatus]:
        """Every built-in source: enabled ones as their saved progress says, the others DISABLED."""
        found = []
        for source in INDEXED:
            if source not in self.feeds:
                found.append(SourceStatus(source, SourceState.DISABLED.value, None, 0, None))
                continue
            progress = SourceProgress.from_json(await self.sink.load_progress(source))
            counts = await self.sink.row_counts(source)
            record_status(
                source.slug,
                progress.state.value,
                progress.last_synced_at,
                {kind.value: n for kind, n in counts.items()},
            )
            found.append(
                SourceStatus(
                    source,
                    progress.state.value,
                    progress.last_synced_at,
                    sum(counts.values()),
                    progress.error,
                )
            )
        return found
