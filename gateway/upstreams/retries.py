"""Which failed reads are sent again, and how long to wait before each new attempt.

One place decides it for every upstream: a failure is retried when its `UpstreamError` says it is
`retryable` (timeouts, an unreachable or failing upstream, rate limits), after the upstream's own
`Retry-After` or else an exponential wait, and only while the operation's deadline allows: a retry
whose wait would end past it is not made (`gateway.upstreams.allowance`). Only idempotent reads come
here; writes are sent once.

    body = await with_retries(lambda: send(request), attempts=3, wait_seconds=0.05)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from gateway.errors import UpstreamError
from gateway.upstreams.allowance import Allowance, current

T = TypeVar("T")


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


def retry_delay(exc: BaseException | None, attempt: int, initial: float, maximum: float) -> float:
    """How long to wait after failed attempt `attempt` (from 1): the upstream's Retry-After, else
    exponential."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after >= 0:
        return float(min(retry_after, maximum))
    return float(min(maximum, initial * 2 ** (attempt - 1)))


def _wait(initial: float, maximum: float, *, attempts_before: int) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return retry_delay(exc, attempts_before + state.attempt_number, initial, maximum)

    return wait


class _stop_at_deadline(stop_base):
    """Stops when the wait before the next attempt would end past the operation's deadline."""

    def __init__(self, allowance: Allowance, wait: Callable[[RetryCallState], float]) -> None:
        self.allowance = allowance
        self.wait = wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        return not self.allowance.may_wait(self.wait(retry_state))


async def with_retries(send: Callable[[], Awaitable[T]], *, attempts: int, wait_seconds: float) -> T:
    """`send()`, and again after each retryable failure, `attempts` times in all at most, while the
    operation's deadline allows."""
    # The first attempt goes without tenacity: setting it up costs more than a fast request's
    # own bookkeeping, and most requests succeed at once.
    initial, maximum = wait_seconds, max(1.0, wait_seconds)
    try:
        return await send()
    except Exception as exc:
        if attempts < 2 or not is_retryable(exc):
            raise
        delay = retry_delay(exc, 1, initial, maximum)
        allowance = current()
        if allowance is not None and not allowance.may_wait(delay):
            raise
        await asyncio.sleep(delay)
    wait = _wait(initial, maximum, attempts_before=1)
    stop: stop_base = stop_after_attempt(attempts - 1)
    if allowance is not None:
        stop = stop | _stop_at_deadline(allowance, wait)
    retrying = AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await send()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
