"""Webhook deliveries seen by any replica: the `DeliveryMemory` under `gateway.server.webhooks`.

    deliveries = RedisDeliveries(link, window_seconds=600)
    if await deliveries.remember(identity):      # True the first time on any replica within the window

A delivery is one Redis string, `{learngraph}:webhook:<sha256 of its identity>`, set with
`SET key 1 NX PX window`: of two replicas receiving the same body, one is first. While Redis cannot be
reached this process's own memory answers instead (a repeat reaching another replica meanwhile may be
published twice: an event is a hint to read again, so a double is harmless, a loss is not).
"""

from __future__ import annotations

import hashlib
import logging

from gateway.data.deliveries import InProcessDeliveries
from gateway.data.shared.link import FAILURES, PREFIX, RedisLink

log = logging.getLogger("gateway.data.shared")


class RedisDeliveries:
    def __init__(self, link: RedisLink, window_seconds: float, max_entries: int = 100_000) -> None:
        self._link = link
        self._window_ms = max(1, int(window_seconds * 1000))
        self._local = InProcessDeliveries(window_seconds, max_entries)

    async def remember(self, identity: str) -> bool:
        # Also remembered here: a repeat while Redis is away is still known to this replica.
        first_here = await self._local.remember(identity)
        if not self._link.available:
            return first_here
        try:
            stored = await self._link.client.set(_key(identity), 1, nx=True, px=self._window_ms)
        except FAILURES as exc:
            log.warning("webhook deliveries: Redis failed (%s: %s)", type(exc).__name__, exc)
            return first_here
        return first_here and bool(stored)  # a repeat known here is one, whatever Redis lost


def _key(identity: str) -> str:
    return f"{PREFIX}:webhook:{hashlib.sha256(identity.encode()).hexdigest()}"
