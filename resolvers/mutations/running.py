"""The frame every mutation runs in: idempotency key, refusals as `userErrors`, fresh reads after, and
a repeat that settles the truth.

    return await run_mutation(info, "scheduleLessons", input, ScheduleLessonsPayload, _schedule_lessons)
    return await run_mutation(info, "createUser", input, CreateUserPayload, _create_user, can_check=False)

`_schedule_lessons(info, input)` does the work; the payload class answers a refusal with only its
`userErrors`.

- The same `idempotencyKey` with the same input within the window, once the first answer is settled
  (everything in it done, or refused for a reason that stays true, such as ALREADY_SCHEDULED), answers
  it again per item and writes nothing; duplicates in flight wait for the first. With a different
  input the key is refused. When the keys are shared through Redis (any replica's repeat settles or
  answers the same) and it cannot be reached, a keyed write is refused with IDEMPOTENCY_UNAVAILABLE
  before anything is sent.
- An answer that left something open (an upstream unavailable or timed out, a write not read back:
  `is_open`) is settled by the repeat. Where the upstream can say what the first attempt did
  (`can_check`, the default), the work runs again and, finding `repeating()` set, asks the upstream
  what it holds, writes only what is missing and says which items were done already (`alreadyDone`),
  keeping the first attempt's final items as they were (`Repeat.kept`). Where it cannot (a created
  user or session, a login link), a repeat of an attempt that sent its write answers OUTCOME_UNKNOWN
  rather than write blindly; one that sent nothing runs again.
- A write that was made but not read back is done: its payload names what is known, and says
  NOT_READ_BACK in `warnings`, not in `userErrors`.
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
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import orjson

from gateway.data.idempotency import IdempotencyKeyReused, IdempotencyUnavailable, Outcome
from gateway.errors import Forbidden, InvalidNativeId, UpstreamError
from resolvers.global_id import InvalidGlobalId
from resolvers.info import Info
from resolvers.mutations.user_errors import (
    FORBIDDEN,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_UNAVAILABLE,
    INVALID_INPUT,
    NOT_READ_BACK,
    OUTCOME_UNKNOWN,
    UPSTREAM_REJECTED,
    Refused,
    UserError,
    from_upstream,
    user_error,
)

# The description of every write's `idempotencyKey`.
IDEMPOTENCY_KEY = (
    "Repeats with the same key and input answer the first result and write nothing. A first result left "
    "open (an upstream down or late) is settled by a repeat: what is found done is not written again "
    "(`alreadyDone`), and what the upstream cannot be asked about answers OUTCOME_UNKNOWN."
)
# The description of every `alreadyDone`.
ALREADY_DONE = (
    "True when this was found done already (by an earlier attempt with the same idempotencyKey, say): "
    "nothing was written for it now."
)
# The description of every payload's `warnings`.
WARNINGS = "What went wrong beside a write that was made (NOT_READ_BACK: done, but not read back)."


class Payload(Protocol):
    user_errors: list[UserError]
    warnings: list[UserError]


def is_open(code: str) -> bool:
    """Whether an outcome with this code may yet change: the upstream was down, late or unreadable
    (whatever it said may not be what it holds), or a write was not read back."""
    return code == NOT_READ_BACK or (code.startswith("UPSTREAM_") and code != UPSTREAM_REJECTED)


def settled(payload: Payload, *, can_check: bool = True) -> bool:
    """Nothing left open. Where the upstream cannot be asked, a write not read back is as settled as it gets."""
    notes = [*payload.user_errors, *(payload.warnings if can_check else ())]
    return not any(is_open(note.code) for note in notes)


@dataclasses.dataclass(frozen=True)
class Repeat:
    """The answer of the attempt this one repeats, which left something open."""

    previous: Any  # the payload
    since: datetime  # when the first of the attempts began: what they wrote is no older

    def kept(self, index: int) -> Any | None:
        """The previous result of item `index` of a mutation of several, when it was final (done or
        refused for good): the repeat answers it as it was. None: the item is to be settled now."""
        results: Sequence[Any] = getattr(self.previous, "results", None) or []
        if index >= len(results):
            return None
        result = results[index]
        if any(is_open(error.code) for error in result.user_errors):
            return None
        warned = (w.field for w in self.previous.warnings if w.field and len(w.field) > 1)
        return None if str(index) in (field[1] for field in warned) else result


# Set for the work of an attempt that repeats an open one (its own task, and the tasks it starts).
_repeating: ContextVar[Repeat | None] = ContextVar("learngraph_repeating", default=None)


def repeating() -> Repeat | None:
    """The open answer this attempt settles; None on a first attempt."""
    return _repeating.get()


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
    *,
    can_check: bool = True,
) -> P:
    def refused(errors: list[UserError]) -> P:
        return payload(user_errors=errors)

    async def guarded() -> P:
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

    async def attempt(previous: Outcome[P] | None) -> Outcome[P]:
        if previous is not None and previous.sent and not can_check:
            message = (
                f"the first {operation} with this idempotencyKey sent its write, and its outcome is unknown: "
                "the upstream cannot be asked whether it happened, so it is not sent again. Look for what it "
                "would have made before trying again with a new key."
            )
            return Outcome(refused([user_error(None, message, OUTCOME_UNKNOWN)]), settled=True, sent=True)
        sent_before, since = writes.sent, datetime.now(UTC)
        # Nothing sent before: nothing can have happened, and this attempt is as good as a first.
        repeat = None
        if previous is not None and previous.sent:
            since = previous.since or since
            repeat = Repeat(previous.answer, since)
        token = _repeating.set(repeat)
        try:
            answer = await guarded()
        finally:
            _repeating.reset(token)
        sent = writes.sent > sent_before or repeat is not None
        return Outcome(answer, settled(answer, can_check=can_check), sent, since)

    try:
        writes.admit(operation)
    except Forbidden as exc:
        return refused([user_error(None, exc.message, FORBIDDEN)])
    info.context.read_schedules_fresh()
    key = getattr(input_value, "idempotency_key", None)
    if key is not None and not key.strip():
        return refused([user_error(["idempotencyKey"], "idempotencyKey must not be blank", INVALID_INPUT)])
    try:
        with writes.running(operation):
            return await info.context.services.idempotency.run(
                operation, key, fingerprint(input_value), attempt, caller=writes.caller.key
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
