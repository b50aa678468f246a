"""The cross-request caches across replicas: each keeps its own entries, every drop reaches all of them.

    share_invalidations(cache, link)

Why local entries and a broadcast rather than the values themselves in Redis: a cached read stays a
dictionary lookup (values in Redis would cost a round trip and a decode on every hit; `bench/shared_cache.py`
measures both), and the cached values (typed records, a caller's visible set) never need a wire form.

- `cache.invalidate(...)` here drops locally and appends an `invalidate` entry; every other replica
  drops the same entries when it reads it (in stream order, so before any event appended after it).
- While the stream cannot be read, the cache is suspended (every read goes to the upstream) and
  emptied, and it is emptied again when the stream is back: what was missed meanwhile is never served.
- A replica that could not append an invalidation makes every replica empty its cache (`reset`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from gateway.data.cache import KINDS, EntityCache
from gateway.data.shared.link import RESET, RedisLink

KIND = "invalidate"  # the kind of stream entry; `KINDS` are the cache's


def share_invalidations(cache: EntityCache, link: RedisLink) -> None:
    def send(kind: str, scope: str | None, key: Hashable | None) -> None:
        # Keys are ids (strings); anything else is sent as the whole kind, which drops at least as much.
        link.append(KIND, {"kind": kind, "scope": scope, "key": key if isinstance(key, str) else None})

    def received(data: dict[str, Any]) -> None:
        if data.get("kind") in KINDS:
            cache.drop(data["kind"], data.get("scope"), data.get("key"))
        else:  # a kind a newer replica caches: this one cannot tell what it covers
            cache.clear()

    def state(available: bool) -> None:
        cache.clear()
        cache.suspended = not available

    cache.on_invalidate = send
    link.on_entry(KIND, received, own=False)
    link.on_entry(RESET, lambda data: cache.clear(), own=False)
    link.on_state(state)
    state(link.available)
