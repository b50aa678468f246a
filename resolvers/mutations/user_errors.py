"""`UserError` and how a refused write becomes one.

A mutation never raises for something the caller can act on: bad input, an ID of the wrong type or
source, an upstream refusal, a write whose outcome is unknown. Each becomes a `UserError` with a
stable `code` and the input `field` it concerns, and the payload says what did happen.

    raise Refused.at(["gracePeriod", "unit"], "a grace period needs its unit", "INVALID_INPUT")
    errors.append(from_upstream(exc, ["lessonIds", "2"]))
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from gateway.errors import (
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
)
from gateway.upstreams.damstra.records import ALREADY_SCHEDULED

INVALID_INPUT = "INVALID_INPUT"
NOT_FOUND = "NOT_FOUND"
NOT_SUPPORTED_BY_SOURCE = "NOT_SUPPORTED_BY_SOURCE"
NO_ACCOUNT_IN_SOURCE = "NO_ACCOUNT_IN_SOURCE"
ALREADY_SCHEDULED_CODE = "ALREADY_SCHEDULED"
ALREADY_COMPLETED = "ALREADY_COMPLETED"
NOT_SCHEDULED_FOR_LESSON = "NOT_SCHEDULED_FOR_LESSON"
NOT_REGISTERED = "NOT_REGISTERED"
UPSTREAM_REJECTED = "UPSTREAM_REJECTED"
UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
IDEMPOTENCY_UNAVAILABLE = "IDEMPOTENCY_UNAVAILABLE"  # the shared key store (Redis) is away: nothing was sent
NOT_READ_BACK = "NOT_READ_BACK"  # written, but what the write left could not be read: a warning
# A repeat of a write whose outcome was unknown, which the upstream cannot be asked about: not re-sent.
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
FORBIDDEN = "FORBIDDEN"  # the caller may not make this write (for this person); nothing was sent

# DAMSTRA's own words for a refusal that has a stable code of ours.
_BY_UPSTREAM_CODE: dict[str | int, str] = {
    ALREADY_SCHEDULED: ALREADY_SCHEDULED_CODE,
    837: ALREADY_COMPLETED,  # this lesson schedule is completed
    836: "SCHEDULE_CANCELLED",  # this lesson schedule is cancelled
}


@strawberry.type(description="Why (part of) a mutation was not done. `field` is the path into `input`.")
class UserError:
    field: list[str] | None
    message: str
    code: str


def user_error(field: Sequence[str | int] | None, message: str, code: str) -> UserError:
    return UserError(
        field=None if field is None else [str(part) for part in field], message=message, code=code
    )


class Refused(Exception):
    """Raised inside a mutation to answer with these errors and nothing done (or nothing more)."""

    def __init__(self, errors: list[UserError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors

    @classmethod
    def at(cls, field: Sequence[str | int] | None, message: str, code: str = INVALID_INPUT) -> Refused:
        return cls([user_error(field, message, code)])


def from_upstream(exc: UpstreamError, field: Sequence[str | int] | None) -> UserError:
    """An upstream's answer to a write, as the caller should read it."""
    where = exc.source.upper()
    said = exc.message if exc.message.upper().startswith(where) else f"{where}: {exc.message}"
    if isinstance(exc, UpstreamTimeout):
        return user_error(
            field,
            f"{where} did not answer in time: the write may or may not have happened, and it was not re-sent. "
            "Query the object before trying again.",
            UPSTREAM_TIMEOUT,
        )
    if exc.upstream_code is not None and exc.upstream_code in _BY_UPSTREAM_CODE:
        return user_error(field, said, _BY_UPSTREAM_CODE[exc.upstream_code])
    if isinstance(exc, UpstreamNotFound):
        return user_error(field, said, NOT_FOUND)
    if isinstance(exc, UpstreamRejected):
        return user_error(field, f"refused: {said}", UPSTREAM_REJECTED)
    # Unavailable, unauthorized, rate limited, unreadable: not written, or not known to be.
    return user_error(field, said, exc.code)
