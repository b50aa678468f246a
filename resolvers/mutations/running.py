"""The frame every mutation runs in: idempotency key, refusals as `userErrors`, fresh reads after.

    return await run_mutation(info, "scheduleLessons", input, ScheduleLessonsPayload, _schedule_lessons)

`_schedule_lessons(info, input)` does the work; the payload class answers a refusal with only its
`userErrors`.

- The same `idempotencyKey` with the same input within the window answers the first payload and
  writes nothing (duplicates in flight wait for the first); with a different input it is refused.
  When the keys are shared through Redis and it cannot be reached, a keyed write is refused with
  IDEMPOTENCY_UNAVAILABLE before anything is sent.
- `Refused` raised by the work, and bad IDs, become the payload's `userErrors`.
- After the work, the request's loaders are replaced so the payload (and any later mutation in the
  same document) reads what the upstream holds now, not what this request read before the write.
- A mutation the caller's role may not run is refused before anything is read or sent, and any
  `Forbidden` the work meets (a target the caller may not write for) is a FORBIDDEN `userError`:
  the rules are the writes door's (`gateway.data.writes`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson

from gateway.data.idempotency import IdempotencyKeyReused, IdempotencyUnavailable
from gateway.errors import Forbidden, InvalidNativeId, UpstreamError
from resolvers.global_id import InvalidGlobalId
from resolvers.info import Info
from resolvers.mutations.user_errors import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_UNAVAILABLE,
    INVALID_INPUT,
    Refused,
    UserError,
    from_upstream,
    user_error,
)

# The description of every write's `idempotencyKey`.
IDEMPOTENCY_KEY = "Repeats with the same key and input answer the first result and write nothing."


class Payload(Protocol):
    user_errors: list[UserError]


P = TypeVar("P", bound=Payload)
P_co = TypeVar("P_co", covariant=True)
In = TypeVar("In")


class PayloadType(Protocol[P_co]):
    """A payload class: every field but `userErrors` has a default."""

    def __call__(self, *, user_errors: list[UserError]) -> P_co: ...


def fingerprint(input_value: Any) -> str:
    """The input, minus its idempotency key, as a stable digest."""
    is_instance = dataclasses.is_dataclass(input_value) and not isinstance(input_value, type)
    fields = dataclasses.asdict(input_value) if is_instance else dict(input_value)
    fields.pop("idempotency_key", None)
    encoded = orjson.dumps(fields, default=str, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


async def run_mutation(
    info: Info,
    operation: str,
    input_value: In,
    payload: PayloadType[P],
    work: Callable[[Info, In], Awaitable[P]],
) -> P:
    def refused(errors: list[UserError]) -> P:
        return payload(user_errors=errors)

    async def attempt() -> P:
        try:
            return await work(info, input_value)
        except Refused as exc:
            return refused(exc.errors)
        except Forbidden as exc:
            return refused([user_error(None, exc.message, FORBIDDEN)])
        except (InvalidGlobalId, InvalidNativeId) as exc:
            return refused([user_error(None, str(exc), INVALID_INPUT)])
        except UpstreamError as exc:
            # A read the write depends on failed: nothing was written.
            return refused([from_upstream(exc, None)])

    writes = info.context.writes
    try:
        writes.admit(operation)
    except Forbidden as exc:
        return refused([user_error(None, exc.message, FORBIDDEN)])
    key = getattr(input_value, "idempotency_key", None)
    if key is not None and not key.strip():
        return refused([user_error(["idempotencyKey"], "idempotencyKey must not be blank", INVALID_INPUT)])
    try:
        caller = writes.caller
        with writes.running(operation):
            return await info.context.services.idempotency.run(
                operation,
                key,
                fingerprint(input_value),
                attempt,
                caller=f"{caller.role.name}:{caller.name}:{caller.person or ''}",
            )
    except IdempotencyKeyReused as exc:
        return refused([user_error(["idempotencyKey"], str(exc), IDEMPOTENCY_KEY_REUSED)])
    except IdempotencyUnavailable as exc:
        return refused([user_error(["idempotencyKey"], str(exc), IDEMPOTENCY_UNAVAILABLE)])
    finally:
        # A replay wrote nothing here, but this request may have read the object before the first did.
        info.context.refresh_after_write()
        # Other replicas drop what this write made stale before its caller can ask them.
        await info.context.services.flush()
