"""The DAMSTRA groups a write names: decoded before any request, then loaded to prove they exist.

native = decode_group(checks, ["groupId"], input.group_id)     # None, and why in `checks`
checks.done()
group = await load_group(info, ["groupId"], native)            # NOT_FOUND on `groupId`
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import strawberry

from gateway.errors import UpstreamNotFound
from gateway.upstreams.damstra.records import DamstraGroup
from resolvers.info import Info
from resolvers.mutations.cache_effects import forget_groups
from resolvers.mutations.checks import Checks
from resolvers.mutations.targets import Field, damstra_native
from resolvers.mutations.user_errors import NOT_FOUND, Refused

GROUP_NOT_FOUND = 842  # DAMSTRA's internalCode for a missing (or inactivated) group


def decode_group(checks: Checks, where: Field, raw: str) -> str | None:
    """A DAMSTRA group's native id, or None with the reason in `checks` (no request made)."""
    return checks.run(lambda: damstra_native(where, raw, "Group", "Groups"))


def decode_groups(checks: Checks, where: Field, raws: Sequence[strawberry.ID] | None) -> list[str] | None:
    if raws is None:
        return None
    natives = [decode_group(checks, [*where, n], str(raw)) for n, raw in enumerate(raws)]
    return list(dict.fromkeys(n for n in natives if n is not None))


async def load_group(info: Info, where: Field, native_id: str, *, fresh: bool = False) -> DamstraGroup:
    if fresh:
        forget_groups(info, [native_id])
    try:
        group: DamstraGroup = await info.context.loaders.group.load(native_id)
    except UpstreamNotFound:
        raise Refused.at(where, f"no DAMSTRA group {native_id}", NOT_FOUND) from None
    return group


async def load_groups(info: Info, where: Field, natives: list[str] | None) -> list[int] | None:
    """The groups, each checked to exist; every unknown one named."""
    if natives is None:
        return None
    found = await asyncio.gather(
        *(load_group(info, [*where, n], native) for n, native in enumerate(natives)), return_exceptions=True
    )
    checks = Checks()
    for result in found:
        if isinstance(result, Refused):
            checks.absorb(result)
        elif isinstance(result, BaseException):
            raise result
    checks.done()
    return [int(native) for native in natives]
