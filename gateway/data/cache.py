"""Cross-request caches of upstream data: slow-changing records (lessons, groups, users, the TRAINING_RECORDS
list), what each caller may see, which follows from groups and users (`gateway.data.access`), and each
person's schedule lists (DAMSTRA's per user, LEARNINGLOGIN's per username) and DAMSTRA's group member
pages (per group and window; README, "How fresh is an answer").
What is cached is always the upstream's answer, never a caller's filtered view of it.

Bounded TTL caches, one per kind. Every key carries the fingerprint of the upstream
credential it was read with, so callers with different credentials never share entries.
Writes and webhooks call `invalidate` for what they change.

With several replicas (`gateway.data.shared`), each keeps its own entries and every invalidation is
told to the others (`on_invalidate` here, `drop` there); while that cannot be done the cache is
`suspended`: reads go to the upstreams, nothing is kept.

    value = cache.get("lesson", scope, lesson_id)      # MISSING when absent or expired
    cache.set("lesson", scope, lesson_id, record)
    listing = await cache.read_through("training_records", scope, ALL, read_every_record)
    lists = await cache.read_each_through("damstra_schedules", scope, user_ids, read_one_users)
    fresh = cache.refreshing()                          # a request's view that reads afresh and stores

`LEARNGRAPH_CROSS_REQUEST_CACHE=false` keeps nothing (every kind off).

A read in flight shared by several requests belongs to the one that started it (its upstream budget,
`gateway.upstreams.allowance`); the others wait within their own deadline, and read again themselves
if the starter's own limits stop it.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Any, Final, TypeVar, cast

from cachetools import TTLCache

from gateway.settings import Settings
from gateway.sources import Source
from gateway.telemetry.metrics import CACHE_HITS, CACHE_KINDS, CACHE_MISSES
from gateway.upstreams.allowance import stopped_for_another, waited

MISSING: Final = object()
# The kinds, as the metrics label them: one list, so a kind added here is counted there.
KINDS = CACHE_KINDS
SCHEDULE_KINDS = ("damstra_schedules", "learninglogin_schedules")
# A caller's visible set, and a group's member pages (the users in it, as records), are read off groups
# and users: whatever drops either drops every visible set and every member page (all of a scope: which
# groups a user joined or left, or which pages a user is on, no single key says).
_DERIVED = {"group": ("access", "group_members"), "user": ("access", "group_members")}
ALL: Final = "all"  # the key of a kind cached whole (every TRAINING_RECORDS record)
# The upstream each kind is read from, to name in an error (a caller's visible set: from DAMSTRA's groups).
_SOURCE = {
    "training_records": Source.TRAINING_RECORDS.slug,
    "learninglogin_schedules": Source.LEARNINGLOGIN.slug,
}

V = TypeVar("V")
K = TypeVar("K", bound=Hashable)


class EntityCache:
    def __init__(self, settings: Settings) -> None:
        ttls = {
            "lesson": settings.lesson_cache_ttl_seconds,
            "group": settings.group_cache_ttl_seconds,
            "user": settings.user_cache_ttl_seconds,
            "training_records": settings.training_records_ttl,
            "access": settings.group_cache_ttl_seconds,
            "damstra_schedules": settings.damstra_schedule_ttl,
            "learninglogin_schedules": settings.learninglogin_schedule_cache_ttl_seconds,
            "group_members": settings.group_cache_ttl_seconds,
        }
        size = settings.cache_max_entries if settings.cross_request_cache else 0
        self._caches: dict[str, TTLCache[tuple[str, Hashable], Any] | None] = {
            kind: TTLCache(maxsize=size, ttl=ttl) if ttl > 0 and size > 0 else None
            for kind, ttl in ttls.items()
        }
        # Reads in flight, shared by the callers that miss meanwhile; and per kind a count of
        # invalidations, so a read that began before one does not store what it read.
        self._reading: dict[tuple[str, str, Hashable], asyncio.Task[Any]] = {}
        self._invalidations = dict.fromkeys(ttls, 0)
        self.hits = 0
        self.misses = 0
        self.on_invalidate: Callable[[str, str | None, Hashable | None], None] | None = None
        self.suspended = False

    def keeps(self, kind: str) -> bool:
        """Whether entries of `kind` are kept at all (a TTL of 0, or the switch off: never)."""
        return self._caches[kind] is not None and not self.suspended

    def refreshing(self, kinds: Iterable[str] = KINDS) -> EntityCache:
        """A view for one request: `kinds` are never answered from the cache, but what is read afresh
        is stored for the next requests (`Cache-Control: no-cache`; a mutation's schedule reads)."""
        return RefreshingCache(self, frozenset(kinds))

    def get(self, kind: str, scope: str, key: Hashable, *, counting_misses: bool = True) -> Any:
        """The entry, or MISSING. `counting_misses=False`: a look that a loader's read follows when it
        misses (which counts it), so a miss is counted once."""
        cache = self._caches[kind]
        if cache is None or self.suspended:
            return MISSING
        try:
            # Not `cache.get`: that checks the entry's time twice (`in`, then `[]`) inside a timer
            # context; `[]` alone raises KeyError for one absent or expired. Hundreds per dashboard.
            value = cache[(scope, key)]
        except KeyError:
            value = MISSING
        if value is MISSING:
            if not counting_misses:
                return MISSING
            self.misses += 1
            CACHE_MISSES[kind].inc()
        else:
            self.hits += 1
            CACHE_HITS[kind].inc()
        return value

    def set(self, kind: str, scope: str, key: Hashable, value: Any) -> None:
        cache = self._caches[kind]
        if cache is not None and not self.suspended:
            cache[(scope, key)] = value

    async def read_through(self, kind: str, scope: str, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        """The cached value, else `read()`'s answer, cached. Callers that miss while a read is in
        flight wait for that read rather than start their own (a whole listing costs dozens of calls)."""
        if self._caches[kind] is None or self.suspended:
            return await read()
        value = self.get(kind, scope, key)
        if value is not MISSING:
            return cast(V, value)
        return await self._read_missing(kind, scope, key, read)

    async def read_each_through(
        self, kind: str, scope: str, keys: Sequence[K], read: Callable[[K], Awaitable[V]]
    ) -> list[V | BaseException]:
        """`read_through` for each key, an exception in place of each failure: the cached ones
        answered in place, only the missing ones read (together), so a warm list of a hundred people
        costs no task per person."""
        if self._caches[kind] is None or self.suspended:
            return list(await asyncio.gather(*(read(key) for key in keys), return_exceptions=True))
        found: list[Any] = [self.get(kind, scope, key) for key in keys]
        missing = [index for index, value in enumerate(found) if value is MISSING]
        if missing:
            read_now = await asyncio.gather(
                *(
                    self._read_missing(kind, scope, keys[i], functools.partial(read, keys[i]))
                    for i in missing
                ),
                return_exceptions=True,
            )
            for index, value in zip(missing, read_now, strict=True):
                found[index] = value
        return found

    async def _read_missing(
        self, kind: str, scope: str, key: Hashable, read: Callable[[], Awaitable[V]]
    ) -> V:
        loop = asyncio.get_running_loop()
        slot = (kind, scope, key)
        while True:
            pending = self._reading.get(slot)
            if pending is None or pending.get_loop() is not loop:
                pending = loop.create_task(self._read(slot, read))
                # Retrieved even when every caller was cancelled meanwhile.
                pending.add_done_callback(lambda task: task.cancelled() or task.exception())
                self._reading[slot] = pending
            try:
                return cast(V, await waited(_SOURCE.get(kind, Source.DAMSTRA.slug), pending))
            except Exception as exc:
                if not stopped_for_another(exc):
                    raise
            value = self.get(kind, scope, key)
            if value is not MISSING:
                return cast(V, value)

    async def refresh(self, kind: str, scope: str, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        """`read()`'s answer, stored unless dropped meanwhile: no look-up, no sharing of a read in flight."""
        if self._caches[kind] is None or self.suspended:
            return await read()
        invalidations = self._invalidations[kind]
        value = await read()
        if self._invalidations[kind] == invalidations:
            self.set(kind, scope, key, value)
        return value

    async def _read(self, slot: tuple[str, str, Hashable], read: Callable[[], Awaitable[V]]) -> V:
        kind, scope, key = slot
        invalidations = self._invalidations[kind]
        try:
            value = await read()
        finally:
            if self._reading.get(slot) is asyncio.current_task():
                del self._reading[slot]
        if self._invalidations[kind] == invalidations:
            self.set(kind, scope, key, value)
        return value

    def invalidate(self, kind: str, scope: str | None = None, key: Hashable | None = None) -> None:
        """Drop one entry, or every entry of a kind (for a scope, or all scopes), here and on every replica."""
        self.drop(kind, scope, key)
        if self.on_invalidate is not None:
            self.on_invalidate(kind, scope, key)

    def drop(self, kind: str, scope: str | None = None, key: Hashable | None = None) -> None:
        """`invalidate`, in this process only."""
        for derived in _DERIVED.get(kind, ()):
            self.drop(derived, scope)
        self._invalidations[kind] += 1
        for slot in [
            s for s in self._reading if s[0] == kind and scope in (None, s[1]) and key in (None, s[2])
        ]:
            del self._reading[slot]  # later callers read afresh; the read in flight stores nothing
        cache = self._caches[kind]
        if cache is None:
            return
        if scope is not None and key is not None:
            cache.pop((scope, key), None)
            return
        for cached_key in list(cache.keys()):
            if scope is None or cached_key[0] == scope:
                cache.pop(cached_key, None)

    def invalidate_training_records(self, scope: str | None = None) -> None:
        """After any TRAINING_RECORDS write: the whole list is cached as one entry per credential."""
        self.invalidate("training_records", scope)

    def clear(self) -> None:
        for kind in self._invalidations:
            self._invalidations[kind] += 1
        self._reading.clear()
        for cache in self._caches.values():
            if cache is not None:
                cache.clear()


class RefreshingCache(EntityCache):
    """`EntityCache.refreshing`: the same entries, never answered for `kinds`. Everything but the reads of
    those kinds goes to the cache it was made from."""

    def __init__(self, base: EntityCache, kinds: frozenset[str]) -> None:
        self._base = base
        self._kinds = kinds

    def keeps(self, kind: str) -> bool:
        return self._base.keeps(kind)

    def refreshing(self, kinds: Iterable[str] = KINDS) -> EntityCache:
        return RefreshingCache(self._base, self._kinds | frozenset(kinds))

    def get(self, kind: str, scope: str, key: Hashable, *, counting_misses: bool = True) -> Any:
        if kind in self._kinds:
            return MISSING
        return self._base.get(kind, scope, key, counting_misses=counting_misses)

    def set(self, kind: str, scope: str, key: Hashable, value: Any) -> None:
        self._base.set(kind, scope, key, value)

    async def read_through(self, kind: str, scope: str, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        if kind in self._kinds:
            return await self._base.refresh(kind, scope, key, read)
        return await self._base.read_through(kind, scope, key, read)

    async def read_each_through(
        self, kind: str, scope: str, keys: Sequence[K], read: Callable[[K], Awaitable[V]]
    ) -> list[V | BaseException]:
        if kind not in self._kinds:
            return await self._base.read_each_through(kind, scope, keys, read)
        refreshed = (self._base.refresh(kind, scope, key, functools.partial(read, key)) for key in keys)
        return list(await asyncio.gather(*refreshed, return_exceptions=True))

    async def refresh(self, kind: str, scope: str, key: Hashable, read: Callable[[], Awaitable[V]]) -> V:
        return await self._base.refresh(kind, scope, key, read)

    def invalidate(self, kind: str, scope: str | None = None, key: Hashable | None = None) -> None:
        self._base.invalidate(kind, scope, key)

    def drop(self, kind: str, scope: str | None = None, key: Hashable | None = None) -> None:
        self._base.drop(kind, scope, key)

    def clear(self) -> None:
        self._base.clear()
