"""Outbound pacing for one upstream: at most `max_rps` requests a second, and a pause when it says
"too many requests", for every request this process sends it.

    pacer = Pacer("damstra", max_rps=20)     # LEARNGRAPH_DAMSTRA_MAX_RPS; 0 paces nothing
    if pacer.active:                         # the whole cost when pacing is off and nothing paused it
        await pacer.wait(allowance)          # queued, first come first served; never refused for the rate
    pacer.pause(retry_after_seconds(response.headers["Retry-After"]))   # after a 429

Requests are spaced `1 / max_rps` apart, no bursts: a vendor's "N a second" holds in any window,
however it counts. Each request is given the next free slot when it asks (virtual scheduling, the
GCRA form of a token bucket of one), so the queue is first come first served by construction and
the wait is known before it starts: a request whose slot lies past its operation's deadline fails at
once with UPSTREAM_TIMEOUT (`Allowance.refuse_wait`) instead of waiting for nothing, and gives its slot
back when it was the last one taken. While waiting, it is cut like any request in flight (the
deadline, the caller leaving: `gateway.upstreams.allowance`).

Why not a library: `aiolimiter.AsyncLimiter` (a leaky bucket, maintained) bursts up to its rate
unless used as `AsyncLimiter(1, 1 / rps)`, cannot say how long a wait will be (so a doomed wait
could only run into the deadline), has no shared pause for Retry-After, and wakes its waiters
through a future and a timeout each; `limits` (already a dependency, for callers) refuses rather than
queues. A slot clock is a few lines, costs one comparison per request when off, and is tested here
(tests/upstreams/test_pacing.py).

The bucket is this process's: with `LEARNGRAPH_WORKERS=N` (or N replicas) each paces itself, so set
MAX_RPS to the vendor's limit divided by the processes.
"""

from __future__ import annotations

import asyncio
import email.utils
from datetime import UTC, datetime

from gateway.telemetry import metrics
from gateway.upstreams.allowance import Allowance

LONGEST_PAUSE_SECONDS = 300.0
"""A Retry-After beyond this is taken as this: a date far off (or a typo) must not stop a source for a day."""


class Pacer:
    """The pacing of one upstream in this process. `active` is False exactly when a request need not
    wait: no rate, and no pause in force."""

    __slots__ = ("_interval", "_next", "_paused_until", "_wait_seconds", "active", "max_rps", "source")

    def __init__(self, source: str, max_rps: float = 0.0) -> None:
        if max_rps < 0:
            raise ValueError("max_rps must be 0 (unlimited) or more")
        self.source = source
        self.max_rps = max_rps
        self._interval = 1.0 / max_rps if max_rps else 0.0
        self._next = 0.0  # loop time of the next free slot
        self._paused_until = 0.0
        self._wait_seconds = metrics.pacing_wait(source)
        self.active = bool(max_rps)

    async def wait(self, allowance: Allowance | None = None) -> float:
        """Wait for this request's slot; answers the seconds waited. Raises the operation's
        UPSTREAM_TIMEOUT (or CallerGone) at once when the slot would come past its deadline."""
        loop = asyncio.get_running_loop()
        waited = 0.0
        now = loop.time()
        while True:
            at = self._take(now)
            delay = at - now
            if delay <= 0:
                break
            if allowance is not None and not allowance.may_wait(delay):
                self._give_back(at)
                self._wait_seconds.observe(waited)
                raise allowance.refuse_wait(self.source, delay)
            try:
                await asyncio.sleep(delay)
            except asyncio.CancelledError:
                self._give_back(at)
                raise
            waited += delay
            now = loop.time()
            if self._paused_until <= now:
                break
            # A pause began while this request waited for a slot before its end: queue again.
        if not self.max_rps and self._paused_until <= now:
            self.active = False
        self._wait_seconds.observe(waited)
        return waited

    def pause(self, seconds: float) -> bool:
        """The upstream asked for no requests for `seconds` (Retry-After): none is sent before then.
        True when no pause was in force (a new one begins, rather than one extended)."""
        seconds = min(max(seconds, 0.0), LONGEST_PAUSE_SECONDS)
        now = asyncio.get_running_loop().time()
        began = self._paused_until <= now
        self._paused_until = max(self._paused_until, now + seconds)
        self.active = True
        return began

    def _take(self, now: float) -> float:
        """The next free slot, taken: the later of now, the slot after the last one, the pause's end."""
        at = max(now, self._next, self._paused_until)
        self._next = at + self._interval
        return at

    def _give_back(self, at: float) -> None:
        """A request that will not go hands its slot back, when no later one was taken since (else the
        gap stays: the pace only gets slower, never faster)."""
        if self._next == at + self._interval:
            self._next = at


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After (RFC 9110 §10.2.3) in seconds from now: delay-seconds or an HTTP-date; None when
    absent or unreadable. A date already past is 0."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT; parsedate_to_datetime leaves "-0000" naive
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
