"""The cross-request cache entries a DAMSTRA write makes stale, and the request's loaders' too.

A write drops them whatever its outcome, a timeout included: what DAMSTRA holds then is unknown.

    try:
        await client.update_user(user_id, body)
    finally:
        forget_users(info, [user_id])
"""

from __future__ import annotations

from collections.abc import Iterable

from resolvers.info import Info


def forget_users(info: Info, user_ids: Iterable[int | str]) -> None:
    for user_id in user_ids:
        info.context.loaders.invalidate_damstra_user(str(user_id))


def forget_every_user(info: Info) -> None:
    info.context.loaders.invalidate_every_damstra_user()


def forget_groups(info: Info, group_ids: Iterable[int | str]) -> None:
    for group_id in group_ids:
        info.context.loaders.invalidate_damstra_group(str(group_id))
