"""`Group`: DAMSTRA groups, their members and supervisors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import strawberry

from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraGroup, DamstraUser
from gateway.upstreams.paging import Listing
from resolvers import relay
from resolvers.global_id import encode
from resolvers.info import Info, or_reported
from resolvers.node import Node
from resolvers.scalars import DateTime

if TYPE_CHECKING:
    from resolvers.user import User


@strawberry.type
class Group(Node):
    id: strawberry.ID
    name: str
    description: str | None
    member_count: int | None
    created_at: DateTime | None
    native_id: strawberry.Private[str]
    parent_id: strawberry.Private[int | None]

    @classmethod
    def from_damstra(cls, group: DamstraGroup) -> Group:
        native = str(group.id)
        return cls(
            id=strawberry.ID(encode("Group", Source.DAMSTRA, native)),
            name=group.name,
            description=group.description,
            member_count=group.member_count,
            created_at=group.created_date,
            native_id=native,
            # A group that names itself as parent (DAMSTRA's documented example does) has none.
            parent_id=group.parent_id if group.parent_id not in (None, group.id) else None,
        )

    @strawberry.field
    async def parent(self, info: Info) -> Group | None:
        if self.parent_id is None:
            return None
        parent = await info.context.loaders.group_inside(str(self.parent_id))
        return Group.from_damstra(parent) if parent is not None else None

    @strawberry.field(
        description="How many schedules of the group's members are OVERDUE now (those the caller may "
        "see): from the training index when it is on and LIVE, else read live member by member."
    )
    async def overdue_count(self, info: Info) -> int | None:
        from resolvers.schedule_list import group_overdue_count

        return await group_overdue_count(info, self.native_id)

    @strawberry.field
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> relay.Connection[Annotated[User, strawberry.lazy("resolvers.user")]]:
        return await _users_page(info, info.context.listings.group_members, self.native_id, first, after)

    @strawberry.field
    async def supervisors(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> relay.Connection[Annotated[User, strawberry.lazy("resolvers.user")]]:
        return await _users_page(info, info.context.listings.group_supervisors, self.native_id, first, after)


async def _users_page(
    info: Info,
    fetch: Callable[..., Awaitable[Listing[DamstraUser]]],
    group_id: str,
    first: int | None,
    after: str | None,
) -> relay.Connection[User]:
    from resolvers.user import user_of_member

    start, size = relay.offset_after(after), relay.page_size(first)
    empty: Listing[DamstraUser] = Listing([], None)
    listing = await or_reported(info, fetch(group_id, start=start, size=size), empty)
    # Member records are whole users: later `user` look-ups for them cost nothing.
    info.context.loaders.prime_damstra_users(listing.items)
    people = info.context.people
    users = [user_of_member(people, u) for u in listing.items]
    has_next = len(users) == size if listing.total is None else None
    return relay.from_window(users, start, listing.total, has_next=has_next)
