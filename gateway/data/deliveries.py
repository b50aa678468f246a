"""Webhook deliveries already seen, so a repeat is known as one.

    deliveries = InProcessDeliveries(window_seconds=600)
    if await deliveries.remember(identity):      # True the first time within the window
        publish(event)

A sender retries, and anyone holding the secret can replay a body: a delivery's identity (for DAMSTRA,
whose bodies carry no event ID, the SHA-256 of the canonical body) is remembered for the window.
`DeliveryMemory` is the seam: this process's memory here; one that replicas share (Redis's
`SET key 1 NX EX window`) plugs in the same way.
"""

from __future__ import annotations

from typing import Protocol

from cachetools import TTLCache


class DeliveryMemory(Protocol):
    async def remember(self, identity: str) -> bool:
        """True when `identity` was not seen within the window (it is remembered from now on);
        False for a repeat. Atomic: of two deliveries arriving together, one is first."""
        ...


class InProcessDeliveries:
    """This process's memory of deliveries, bounded in time (the window) and in size."""

    def __init__(self, window_seconds: float, max_entries: int = 100_000) -> None:
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=max_entries, ttl=window_seconds)

    async def remember(self, identity: str) -> bool:
        # No await between the look and the write: atomic on the event loop.
        if identity in self._seen:
            return False
        self._seen[identity] = True
        return True
