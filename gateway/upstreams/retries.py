"""Which failed reads are sent again, and how long to wait before each new attempt.

One place decides it for every upstream: a failure is retried when its `UpstreamError` says it is
`retryable` (timeouts, an unreachable or failing upstream, rate limits), after the upstream's own
`Retry-After` or else an exponential wait. Only idempotent reads come here; writes are sent once.

    body = await with_retries(lambda: send(request), attempts=3, wait_seconds=0.05)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from gateway.errors import UpstreamError

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


async def with_retries(send: Callable[[], Awaitable[T]], *, attempts: int, wait_seconds: float) -> T:
    """`send()`, and again after each retryable failure, `attempts` times in all at most."""
    # The first attempt goes without tenacity: setting it up costs more than a fast request's
    # own bookkeeping, and most requests succeed at once.
    initial, maximum = wait_seconds, max(1.0, wait_seconds)
    try:
        return await send()
    except Exception as exc:
        if attempts < 2 or not is_retryable(exc):
            raise
        await asyncio.sleep(retry_delay(exc, 1, initial, maximum))
    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts - 1),
        wait=_wait(initial, maximum, attempts_before=1),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await send()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
