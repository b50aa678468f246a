"""DAMSTRA's group writes: `createGroup`, `updateGroup`, `inactivateGroup`, and adding and removing
members and supervisors (one result per user).

Groups live in DAMSTRA alone: a Group ID of another source is `NOT_SUPPORTED_BY_SOURCE`. Adding
someone already in the group, or removing someone who is not, is done already: no error. After a
membership write each user is read back, and `inGroup` says what DAMSTRA holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import strawberry

from gateway.data.writes import GroupRole
from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraGroup, DamstraUser
from resolvers.global_id import encode
from resolvers.group import Group
from resolvers.info import Info
from resolvers.mutations.cache_effects import forget_every_user, forget_groups, forget_users
from resolvers.mutations.checks import Checks
from resolvers.mutations.damstra_users import as_user
from resolvers.mutations.group_targets import GROUP_NOT_FOUND, decode_group, load_group
from resolvers.mutations.running import ALREADY_DONE, IDEMPOTENCY_KEY, WARNINGS, repeating, run_mutation
from resolvers.mutations.targets import Field, find_damstra_accounts, non_empty
from resolvers.mutations.user_errors import (
    INVALID_INPUT,
    NOT_READ_BACK,
    Refused,
    UserError,
    from_upstream,
    user_error,
)
from resolvers.user import User

MAX_ANCESTRY = 50  # parents followed when looking for a cycle


@strawberry.input
class CreateGroupInput:
    name: str
    description: str | None = None
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="A Group ID.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input(description="Only the fields given change.")
class UpdateGroupInput:
    group_id: strawberry.ID
    name: str | None = None
    description: str | None = strawberry.field(default=None, description='"" clears it.')
    parent_id: strawberry.ID | None = strawberry.field(default=None, description="A Group ID.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class InactivateGroupInput:
    group_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class GroupUsersInput:
    group_id: strawberry.ID
    user_ids: list[strawberry.ID]
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class CreateGroupPayload:
    group: Group | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class UpdateGroupPayload:
    group: Group | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class InactivateGroupPayload:
    inactivated_group_id: strawberry.ID | None = strawberry.field(
        default=None, description="The group, no longer readable: DAMSTRA forgets an inactivated group."
    )
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type(description="What became of one of the users asked for.")
class GroupUserResult:
    user_id: strawberry.ID
    user: User | None
    in_group: bool | None = strawberry.field(
        description="Whether DAMSTRA now holds the user as a member (for the supervisor mutations: "
        "a supervisor) of the group; null when not known."
    )
    user_errors: list[UserError]
    already_done: bool = strawberry.field(default=False, description=ALREADY_DONE)


@strawberry.type
class GroupUsersPayload:
    group: Group | None = None
    results: list[GroupUserResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


def _refusal(exc: UpstreamError, not_found_at: Field | None) -> UserError:
    """A refused write; a "not found" names the field pointing at what is missing (842: the group)."""
    if exc.upstream_code == GROUP_NOT_FOUND:
        return from_upstream(exc, ["groupId"])
    return from_upstream(exc, not_found_at if isinstance(exc, UpstreamNotFound) else None)


async def _read_back_group(
    info: Info, group_id: int, known: DamstraGroup | None = None
) -> tuple[Group | None, list[UserError]]:
    """The group after a write, and its warnings: when the read fails, what is `known` of it and a NOT_READ_BACK."""
    try:
        group: DamstraGroup = await info.context.loaders.group.load(str(group_id))
    except UpstreamError as exc:
        message = f"written (DAMSTRA group {group_id}), but DAMSTRA did not answer when it was read back: {exc.message}"
        return (Group.from_damstra(known) if known else None), [user_error(None, message, NOT_READ_BACK)]
    return Group.from_damstra(group), []


async def _check_no_cycle(info: Info, group_id: int, parent: DamstraGroup) -> None:
    """The new parent must not be the group itself, nor one of the group's own descendants."""
    ancestor: DamstraGroup | None = parent
    for _ in range(MAX_ANCESTRY):
        if ancestor is None:
            return
        if ancestor.id == group_id:
            raise Refused.at(["parentId"], "a group cannot sit below itself")
        if ancestor.parent_id in (None, ancestor.id):
            return
        try:
            ancestor = await info.context.loaders.group.load(str(ancestor.parent_id))
        except UpstreamError:
            return  # an unreadable ancestor: DAMSTRA judges the rest


# -- createGroup / updateGroup / inactivateGroup --------------------------------------------------


async def _create_group(info: Info, value: CreateGroupInput) -> CreateGroupPayload:
    checks = Checks()
    name = checks.text(["name"], value.name, required=True)
    parent_native = (
        decode_group(checks, ["parentId"], value.parent_id) if value.parent_id is not None else None
    )
    checks.done()
    assert name is not None
    parent = await load_group(info, ["parentId"], parent_native) if parent_native else None
    try:
        created = await info.context.writes.create_group(
            # DAMSTRA's API document marks description required: an empty one is "none".
            name,
            description=(value.description or "").strip(),
            parent_id=parent.id if parent else None,
        )
    except UpstreamError as exc:
        # The only group this write names is the parent.
        where = ["parentId"] if exc.upstream_code == GROUP_NOT_FOUND else None
        raise Refused([from_upstream(exc, where)]) from None
    info.context.refresh_after_write()
    known = DamstraGroup(
        id=created.id, name=name, description=value.description, parent_id=parent.id if parent else None
    )
    group, warnings = await _read_back_group(info, created.id, known)
    return CreateGroupPayload(group=group, warnings=warnings)


async def _update_group(info: Info, value: UpdateGroupInput) -> UpdateGroupPayload:
    checks = Checks()
    native = decode_group(checks, ["groupId"], value.group_id)
    if value.name is None and value.description is None and value.parent_id is None:
        checks.fail(None, "nothing to change: give name, description or parentId")
    name = checks.text(["name"], value.name)
    parent_native = (
        decode_group(checks, ["parentId"], value.parent_id) if value.parent_id is not None else None
    )
    if native is not None and native == parent_native:
        checks.fail(["parentId"], "a group cannot be its own parent")
    checks.done()
    assert native is not None
    # DAMSTRA's update wants name and description (and drops a parent not sent): what is not
    # changing is sent as DAMSTRA holds it now.
    current = await load_group(info, ["groupId"], native, fresh=True)
    parent_id = current.parent_id if current.parent_id != current.id else None
    if parent_native is not None:
        parent = await load_group(info, ["parentId"], parent_native)
        await _check_no_cycle(info, current.id, parent)
        parent_id = parent.id
    description = value.description.strip() if value.description is not None else current.description
    try:
        await info.context.writes.update_group(
            current.id, name or current.name, description=description, parent_id=parent_id
        )
    except UpstreamError as exc:
        raise Refused([_refusal(exc, ["groupId"])]) from None
    finally:
        forget_groups(info, [current.id])
    info.context.refresh_after_write()
    known = current.model_copy(
        update={"name": name or current.name, "description": description, "parent_id": parent_id}
    )
    group, warnings = await _read_back_group(info, current.id, known)
    return UpdateGroupPayload(group=group, warnings=warnings)


async def _inactivate_group(info: Info, value: InactivateGroupInput) -> InactivateGroupPayload:
    checks = Checks()
    native = decode_group(checks, ["groupId"], value.group_id)
    checks.done()
    assert native is not None
    gid = strawberry.ID(encode("Group", Source.DAMSTRA, native))
    if repeating() is not None:
        # DAMSTRA forgets an inactivated group: gone now, the earlier attempt did it.
        try:
            await load_group(info, ["groupId"], native, fresh=True)
        except Refused:
            forget_every_user(info)
            return InactivateGroupPayload(inactivated_group_id=gid, already_done=True)
    group = await load_group(info, ["groupId"], native)
    try:
        await info.context.writes.inactivate_group(group.id)
    except UpstreamError as exc:
        raise Refused([_refusal(exc, ["groupId"])]) from None
    finally:
        forget_groups(info, [group.id])
        # Every member's and supervisor's record lists the group until now.
        forget_every_user(info)
    return InactivateGroupPayload(inactivated_group_id=gid)


# -- members and supervisors --------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One of the four membership writes."""

    role: GroupRole
    adds: bool

    @property
    def supervisors(self) -> bool:
        return self.role is GroupRole.SUPERVISOR

    def holds(self, user: DamstraUser, group_id: int) -> bool:
        return group_id in (user.supervised_group_ids if self.supervisors else user.group_ids)

    @property
    def failure(self) -> tuple[str, str]:
        role = "supervisor" if self.supervisors else "member"
        if self.adds:
            return f"DAMSTRA did not make the user a {role}", "NOT_ADDED"
        return f"DAMSTRA kept the user as a {role}", "NOT_REMOVED"

    async def write(self, info: Info, value: GroupUsersInput) -> GroupUsersPayload:
        return await _group_users(info, value, self)


ADD_MEMBERS = _Change(GroupRole.MEMBER, adds=True)
REMOVE_MEMBERS = _Change(GroupRole.MEMBER, adds=False)
ADD_SUPERVISORS = _Change(GroupRole.SUPERVISOR, adds=True)
REMOVE_SUPERVISORS = _Change(GroupRole.SUPERVISOR, adds=False)


@dataclass
class _Item:
    index: int
    raw_id: str
    damstra_id: int | None = None
    user: User | None = None
    in_group: bool | None = None
    errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = field(default_factory=list)
    already_done: bool = False
    kept: GroupUserResult | None = None  # final in the attempt this one repeats: answered as it was

    @property
    def field(self) -> list[str | int]:
        return ["userIds", self.index]

    def fail(self, message: str, code: str) -> None:
        self.errors.append(user_error(self.field, message, code))


def _items(raw_ids: list[strawberry.ID]) -> list[_Item]:
    non_empty(["userIds"], raw_ids)
    items = [_Item(index, str(raw)) for index, raw in enumerate(raw_ids)]
    seen: set[str] = set()
    for item in items:
        checks = Checks()
        if not checks.user_id(item.field, item.raw_id):
            item.errors += checks.errors
        elif item.raw_id in seen:
            item.fail("this user is listed twice", INVALID_INPUT)
        seen.add(item.raw_id)
    return items


def _group_users_payload(
    group: Group | None, items: list[_Item], warnings: Sequence[UserError] = ()
) -> GroupUsersPayload:
    results = [
        item.kept
        or GroupUserResult(
            user_id=strawberry.ID(item.raw_id),
            user=item.user,
            in_group=item.in_group,
            user_errors=item.errors,
            already_done=item.already_done,
        )
        for item in items
    ]
    return GroupUsersPayload(
        group=group,
        results=results,
        user_errors=[error for result in results for error in result.user_errors],
        warnings=[*warnings, *(warning for item in items for warning in item.warnings)],
    )


async def _read_back_users(info: Info, change: _Change, group_id: int, items: list[_Item]) -> None:
    loaded = await asyncio.gather(
        *(info.context.loaders.damstra_user.load(str(item.damstra_id)) for item in items),
        return_exceptions=True,
    )
    for item, user in zip(items, loaded, strict=True):
        if isinstance(user, UpstreamError):
            message = f"written, but DAMSTRA did not answer when the user was read back: {user.message}"
            item.warnings.append(user_error(item.field, message, NOT_READ_BACK))
        elif isinstance(user, BaseException):
            raise user
        else:
            item.user = as_user(info, user)
            item.in_group = change.holds(user, group_id)
            if item.in_group is not change.adds:
                item.fail(*change.failure)


async def _not_yet_changed(info: Info, change: _Change, group_id: int, items: list[_Item]) -> list[_Item]:
    """Of the users a repeat is to change, those DAMSTRA does not hold so yet; the others are done
    already. A user who cannot be read is not sent: the outcome stays open for the next repeat."""
    forget_users(info, [item.damstra_id for item in items if item.damstra_id is not None])
    loaded = await asyncio.gather(
        *(info.context.loaders.damstra_user.load(str(item.damstra_id)) for item in items),
        return_exceptions=True,
    )
    rest = []
    for item, user in zip(items, loaded, strict=True):
        if isinstance(user, UpstreamError):
            item.errors.append(from_upstream(user, item.field))
        elif isinstance(user, BaseException):
            raise user
        elif change.holds(user, group_id) is change.adds:
            item.user, item.in_group, item.already_done = as_user(info, user), change.adds, True
        else:
            rest.append(item)
    return rest


async def _group_users(info: Info, value: GroupUsersInput, change: _Change) -> GroupUsersPayload:
    checks = Checks()
    native = decode_group(checks, ["groupId"], value.group_id)
    checks.done()
    assert native is not None
    items = _items(value.user_ids)
    repeat = repeating()
    for item in items:
        item.kept = repeat.kept(item.index) if repeat is not None else None
    pending = [item for item in items if item.kept is None]
    if all(item.errors for item in pending):
        return _group_users_payload(None, items)
    group = await load_group(info, ["groupId"], native)
    await find_damstra_accounts(info, pending)
    to_send = [item for item in pending if item.damstra_id is not None and not item.errors]
    if repeat is not None:
        to_send = await _not_yet_changed(info, change, group.id, to_send)
    if not to_send:
        return _group_users_payload(Group.from_damstra(group), items)
    user_ids = [item.damstra_id for item in to_send if item.damstra_id is not None]
    try:
        await info.context.writes.change_group_users(group.id, user_ids, role=change.role, add=change.adds)
    except UpstreamError as exc:
        for item in to_send:
            # Each user's result carries the refusal; 842 is about the group, the rest about them.
            where = ["groupId"] if exc.upstream_code == GROUP_NOT_FOUND else item.field
            item.errors.append(from_upstream(exc, where))
        return _group_users_payload(Group.from_damstra(group), items)
    finally:
        forget_groups(info, [group.id])  # memberCount
        forget_users(info, user_ids)  # their groups and supervisedGroups
    info.context.refresh_after_write()
    (fresh, warnings), _ = await asyncio.gather(
        _read_back_group(info, group.id, group), _read_back_users(info, change, group.id, to_send)
    )
    return _group_users_payload(fresh, items, warnings)


@strawberry.type
class GroupMutations:
    @strawberry.mutation(description="Creates a DAMSTRA group.")
    async def create_group(self, info: Info, input: CreateGroupInput) -> CreateGroupPayload:
        # DAMSTRA cannot be asked whether a group was made (names need not be unique): never twice blindly.
        return await run_mutation(
            info, "createGroup", input, CreateGroupPayload, _create_group, can_check=False
        )

    @strawberry.mutation(description="Renames, redescribes or moves a DAMSTRA group.")
    async def update_group(self, info: Info, input: UpdateGroupInput) -> UpdateGroupPayload:
        return await run_mutation(info, "updateGroup", input, UpdateGroupPayload, _update_group)

    @strawberry.mutation(description="Inactivates a DAMSTRA group: it is no longer listed or readable.")
    async def inactivate_group(self, info: Info, input: InactivateGroupInput) -> InactivateGroupPayload:
        return await run_mutation(info, "inactivateGroup", input, InactivateGroupPayload, _inactivate_group)

    @strawberry.mutation(description="Makes people members of a DAMSTRA group. One result per user.")
    async def add_group_members(self, info: Info, input: GroupUsersInput) -> GroupUsersPayload:
        return await run_mutation(info, "addGroupMembers", input, GroupUsersPayload, ADD_MEMBERS.write)

    @strawberry.mutation(description="Removes people from a DAMSTRA group's members. One result per user.")
    async def remove_group_members(self, info: Info, input: GroupUsersInput) -> GroupUsersPayload:
        return await run_mutation(info, "removeGroupMembers", input, GroupUsersPayload, REMOVE_MEMBERS.write)

    @strawberry.mutation(description="Makes people supervisors of a DAMSTRA group. One result per user.")
    async def add_group_supervisors(self, info: Info, input: GroupUsersInput) -> GroupUsersPayload:
        return await run_mutation(
            info, "addGroupSupervisors", input, GroupUsersPayload, ADD_SUPERVISORS.write
        )

    @strawberry.mutation(
        description="Removes people from a DAMSTRA group's supervisors. One result per user."
    )
    async def remove_group_supervisors(self, info: Info, input: GroupUsersInput) -> GroupUsersPayload:
        return await run_mutation(
            info, "removeGroupSupervisors", input, GroupUsersPayload, REMOVE_SUPERVISORS.write
        )
