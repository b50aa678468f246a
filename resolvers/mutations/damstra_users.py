"""A DAMSTRA user around a write: read past the cache before it, read back after it, and what the
write's refusal and event say.

    current = await fresh_damstra_user(info, ["userId"], user_id)
    ...                                   # the write
    user, errors = await read_back_user(info, user_id)
    await publish_user_event(info, TrainingEventType.USER_UPDATED, user_id)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraUser
from resolvers.info import Info
from resolvers.mutations.cache_effects import forget_users
from resolvers.mutations.group_targets import GROUP_NOT_FOUND
from resolvers.mutations.targets import Field
from resolvers.mutations.user_errors import (
    NOT_FOUND,
    NOT_READ_BACK,
    Refused,
    UserError,
    from_upstream,
    user_error,
)
from resolvers.user import User


async def fresh_damstra_user(info: Info, where: Field, user_id: str) -> DamstraUser:
    """Read past the cache: what a write builds on must be what DAMSTRA holds now."""
    forget_users(info, [user_id])
    try:
        user: DamstraUser = await info.context.loaders.damstra_user.load(user_id)
    except UpstreamNotFound:
        raise Refused.at(where, f"no DAMSTRA user {user_id}", NOT_FOUND) from None
    return user


def as_user(info: Info, user: DamstraUser) -> User:
    return User.from_person(info.context.people.from_damstra(user))


async def read_back_user(
    info: Info, user_id: int | str, known: dict[str, Any]
) -> tuple[User | None, list[UserError]]:
    """The user as DAMSTRA holds them after a write, and its warnings. The write stands even when this
    read fails: the user is then what is `known` of them (DamstraUser's fields), with a NOT_READ_BACK."""
    info.context.refresh_after_write()
    try:
        user: DamstraUser = await info.context.loaders.damstra_user.load(str(user_id))
    except UpstreamError as exc:
        message = f"written (DAMSTRA user {user_id}), but DAMSTRA did not answer when it was read back: {exc.message}"
        user = DamstraUser.model_validate({**known, "id": int(user_id)})
        return as_user(info, user), [user_error(None, message, NOT_READ_BACK)]
    return as_user(info, user), []


async def publish_user_event(info: Info, kind: TrainingEventType, user_id: int | str) -> None:
    event = TrainingEvent(kind, Source.DAMSTRA, datetime.now(UTC), user_id=str(user_id))
    await info.context.services.events.publish(event)


def write_refusal(exc: UpstreamError, not_found_at: Field | None = None) -> UserError:
    """An upstream's answer to a write; the user's "not found" names the field that pointed at them."""
    user_missing = isinstance(exc, UpstreamNotFound) and exc.upstream_code != GROUP_NOT_FOUND
    return from_upstream(exc, not_found_at if user_missing else None)
