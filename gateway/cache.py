"""Cross-request caches for slow-changing upstream data (lessons, groups, users).

Bounded TTL caches, one per kind. Every key carries the fingerprint of the upstream
credential it was read with, so callers with different credentials never share entries.
Writes and webhooks call `invalidate` for what they change.

    value = cache.get("lesson", scope, lesson_id)      # MISSING when absent or expired
    cache.set("lesson", scope, lesson_id, record)
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable
from typing import Any, Final

from cachetools import TTLCache

from gateway.settings import Settings

MISSING: Final = object()
KINDS = ("lesson", "group", "user")


def credential_fingerprint(url: str, secret: str) -> str:
    """A short, one-way tag for (upstream, credential): safe to hold in keys and logs."""
    return hashlib.sha256(f"{url}\0{secret}".encode()).hexdigest()[:16]


class EntityCache:
    def __init__(self, settings: Settings) -> None:
        ttls = {
            "lesson": settings.lesson_cache_ttl_seconds,
            "group": settings.group_cache_ttl_seconds,
            "user": settings.user_cache_ttl_seconds,
        }
        size = settings.cache_max_entries
        self._caches: dict[str, TTLCache[tuple[str, Hashable], Any] | None] = {
            kind: TTLCache(maxsize=size, ttl=ttl) if ttl > 0 and size > 0 else None
            for kind, ttl in ttls.items()
        }
        self.hits = 0
        self.misses = 0

    def get(self, kind: str, scope: str, key: Hashable) -> Any:
        cache = self._caches[kind]
        if cache is None:
            return MISSING
        value = cache.get((scope, key), MISSING)
        if value is MISSING:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def set(self, kind: str, scope: str, key: Hashable, value: Any) -> None:
        cache = self._caches[kind]
        if cache is not None:
            cache[(scope, key)] = value

    def invalidate(self, kind: str, scope: str | None = None, key: Hashable | None = None) -> None:
        """Drop one entry, or every entry of a kind (for a scope, or all scopes)."""
        cache = self._caches[kind]
        if cache is None:
            return
        if scope is not None and key is not None:
            cache.pop((scope, key), None)
            return
        for cached_key in list(cache.keys()):
            if scope is None or cached_key[0] == scope:
                cache.pop(cached_key, None)

    def clear(self) -> None:
        for cache in self._caches.values():
            if cache is not None:
                cache.clear()
