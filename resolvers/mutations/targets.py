"""Reading the IDs in a mutation's input: right type, right source, an account where the write goes,
and a person the caller may write for.

person = await person_at(info, ["userId"], input.user_id)
damstra_id = account_in(person, Source.DAMSTRA, ["userId"])

A person the caller may not write for is FORBIDDEN before anything about them is read: the answer
says no more (not even whether they exist).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from gateway.data.people import Person
from gateway.errors import Forbidden
from gateway.native_ids import numeric_id, opaque_id
from gateway.sources import Source
from resolvers.global_id import GlobalId, InvalidGlobalId, decode
from resolvers.info import Info
from resolvers.mutations.user_errors import (
    FORBIDDEN,
    INVALID_INPUT,
    NO_ACCOUNT_IN_SOURCE,
    NOT_FOUND,
    NOT_SUPPORTED_BY_SOURCE,
    Refused,
    UserError,
    user_error,
)

Field = Sequence[str | int]


def global_id(field: Field, raw: str, type_name: str) -> GlobalId:
    """The decoded ID, or a refusal naming the field (malformed, or an ID of another type)."""
    try:
        return decode(raw, type_name)
    except InvalidGlobalId as exc:
        raise Refused.at(field, str(exc), INVALID_INPUT) from None


def native_of(field: Field, gid: GlobalId) -> str:
    """The native id, held to its source's pattern before it can reach a URL."""
    numeric = gid.source is Source.DAMSTRA or (
        gid.source is Source.LEARNINGLOGIN and gid.type_name != "Lesson"
    )
    what = f"{gid.source.name} {gid.type_name} id"
    try:
        return numeric_id(gid.native_id, what) if numeric else opaque_id(gid.native_id, what)
    except ValueError as exc:
        raise Refused.at(field, str(exc), INVALID_INPUT) from None


def only_from(field: Field, gid: GlobalId, sources: Sequence[Source], doing: str) -> None:
    if gid.source not in sources:
        names = " or ".join(s.name for s in sources)
        raise Refused.at(
            field, f"{doing} is done in {names}; {gid.source.name} cannot do it", NOT_SUPPORTED_BY_SOURCE
        )


def damstra_native(field: Field, raw: str, type_name: str, doing: str) -> str:
    """The native id of what `raw` names, which only DAMSTRA holds (a group, an ILT session)."""
    gid = global_id(field, raw, type_name)
    only_from(field, gid, (Source.DAMSTRA,), doing)
    return native_of(field, gid)


async def may_write_for(info: Info, field: Field, gid: GlobalId, native: str) -> None:
    """A refusal on `field` unless the running mutation may write for the person this account is."""
    try:
        await info.context.writes.check_target(gid.source, native)
    except Forbidden as exc:
        raise Refused.at(field, exc.message, FORBIDDEN) from None


async def person_at(info: Info, field: Field, raw: str) -> Person:
    gid = global_id(field, raw, "User")
    native = native_of(field, gid)
    await may_write_for(info, field, gid, native)
    person = await info.context.people.for_account(gid.source, native)
    if person is None:
        raise Refused.at(field, f"no User with ID {raw}", NOT_FOUND)
    return person


def account_in(person: Person, source: Source, field: Field) -> str:
    """The person's (first) account in `source`, where a write for them must go."""
    ids = person.ids(source)
    if not ids:
        raise Refused.at(field, f"this person has no {source.name} account", NO_ACCOUNT_IN_SOURCE)
    return ids[0]


def non_empty(field: Field, values: Sequence[object] | None) -> None:
    if not values:
        raise Refused.at(field, "must list at least one", INVALID_INPUT)


async def damstra_account(info: Info, field: Field, raw: str) -> str:
    """The DAMSTRA user id of the person `raw` names."""
    return account_in(await person_at(info, field, raw), Source.DAMSTRA, field)


class ListedUser(Protocol):
    """One entry of an input's list of User IDs, as a write goes through it."""

    raw_id: str
    damstra_id: int | None
    errors: list[UserError]

    @property
    def field(self) -> list[str | int]: ...


async def find_damstra_accounts(info: Info, listed: Sequence[ListedUser]) -> None:
    """Each entry's DAMSTRA user id, or why not in its errors; a person listed twice (under two of
    their IDs, say) is named at the second."""

    async def find(entry: ListedUser) -> None:
        try:
            entry.damstra_id = int(await damstra_account(info, entry.field, entry.raw_id))
        except Refused as exc:
            entry.errors += exc.errors

    await asyncio.gather(*(find(entry) for entry in listed if not entry.errors))
    seen: set[int] = set()
    for entry in listed:
        if entry.damstra_id in seen:
            entry.errors.append(user_error(entry.field, "this person is listed twice", INVALID_INPUT))
            entry.damstra_id = None
        elif entry.damstra_id is not None:
            seen.add(entry.damstra_id)
