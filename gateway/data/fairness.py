"""Each caller's share: operations a minute, and operations in flight at once.

    counters = InProcessCallerCounters(rate_per_minute=600, concurrency=8)
    refusal = await counters.admit(caller.key)          # None: admitted, and counted
    if refusal is None:
        try: ...                                        # the operation
        finally: await counters.release(caller.key)
    await counters.admit(caller.key, hold=False)        # counted in the rate only (a WebSocket operation)

One script must not use up a vendor's quota, or the gateway's CPU, for everyone else. `CallerCounters`
is the seam: the in-process counters here, and counters that replicas share (the rate in the
`limits` library's Redis storage, the operations in flight in a Redis counter) plug in the same way.
A limit of 0 is no limit.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from typing import Literal, Protocol

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True)
class TooMuch:
    """Why an operation was refused, and when to try again."""

    limit: Literal["rate", "concurrency"]
    retry_after: int  # whole seconds, at least 1
    message: str


class CallerCounters(Protocol):
    async def admit(self, caller: str, *, hold: bool = True) -> TooMuch | None:
        """Count one operation of `caller` starting now, or refuse it (counting nothing). With `hold`,
        it is in flight until `release`; without, only the rate counts it."""
        ...

    async def release(self, caller: str) -> None:
        """An operation `admit` held has ended."""
        ...


class InProcessCallerCounters:
    """This process's counts: a moving window of a minute (`limits`), and a count of operations in flight."""

    def __init__(self, rate_per_minute: int, concurrency: int, storage: Storage | None = None) -> None:
        self.rate_per_minute = rate_per_minute
        self.concurrency = concurrency
        self._rate = RateLimitItemPerMinute(rate_per_minute) if rate_per_minute > 0 else None
        self._window = MovingWindowRateLimiter(storage or MemoryStorage()) if self._rate else None
        self._in_flight: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # by limit, for the metrics

    async def admit(self, caller: str, *, hold: bool = True) -> TooMuch | None:
        if hold:
            # Taken before the rate is asked (an await), so two arrivals cannot both take the last place.
            self._in_flight[caller] += 1
            if self.concurrency and self._in_flight[caller] > self.concurrency:
                await self.release(caller)
                self.refused["concurrency"] += 1
                return TooMuch(
                    "concurrency",
                    1,
                    f"this caller has {self.concurrency} operations in flight already: "
                    "wait for one to finish (LEARNGRAPH_CALLER_CONCURRENCY)",
                )
        if (
            self._rate is not None
            and self._window is not None
            and not await self._window.hit(self._rate, caller)
        ):
            if hold:
                await self.release(caller)
            self.refused["rate"] += 1
            stats = await self._window.get_window_stats(self._rate, caller)
            return TooMuch(
                "rate",
                max(1, math.ceil(stats.reset_time - time.time())),
                f"this caller made {self.rate_per_minute} operations in the last minute "
                "(LEARNGRAPH_CALLER_RATE_LIMIT)",
            )
        return None

    async def release(self, caller: str) -> None:
        self._in_flight[caller] -= 1
        if self._in_flight[caller] <= 0:
            del self._in_flight[caller]

    def in_flight(self, caller: str) -> int:
        return self._in_flight[caller]
