"""DAMSTRA's user writes: `createUser`, `updateUser`, `activateUser` and `inactivateUser`; the
`importUsers` and `generateLoginUrl` fields are here too, their work in `user_import.py` and
`login_urls.py`.

A write for a person goes to their DAMSTRA account (`NO_ACCOUNT_IN_SOURCE` without one). The
cross-request cache entries a write makes stale are dropped whatever its outcome (`cache_effects.py`).
Events go out where DAMSTRA's own webhooks would fire (the bus drops the webhook's echo):
`user.account.created`, `user.settings.updated`, `user.account.inactivate`.
"""

from __future__ import annotations

from dataclasses import field

import strawberry
from pydantic import SecretStr

from gateway.data.events import TrainingEventType
from gateway.errors import UpstreamError
from gateway.upstreams.damstra.records import DamstraUserInput
from resolvers.enums import Role
from resolvers.info import Info
from resolvers.mutations.cache_effects import forget_groups, forget_users
from resolvers.mutations.checks import Checks
from resolvers.mutations.damstra_users import (
    as_user,
    fresh_damstra_user,
    publish_user_event,
    read_back_user,
    write_refusal,
)
from resolvers.mutations.group_targets import decode_groups, load_groups
from resolvers.mutations.login_urls import GenerateLoginUrlInput, GenerateLoginUrlPayload, login_url_for
from resolvers.mutations.running import IDEMPOTENCY_KEY, WARNINGS, repeating, run_mutation
from resolvers.mutations.targets import damstra_account
from resolvers.mutations.user_errors import Refused, UserError
from resolvers.mutations.user_fields import checked_fields
from resolvers.mutations.user_import import ImportUsersInput, ImportUsersPayload, import_rows
from resolvers.user import User

USERNAME_TAKEN = "USERNAME_TAKEN"
# What a write sends that no user record holds back.
SENT_ONLY = {"password", "send_welcome_email"}


@strawberry.input
class CreateUserInput:
    first_name: str
    last_name: str
    email: str | None = None
    username: str | None = strawberry.field(default=None, description="DAMSTRA makes one up when unset.")
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    roles: list[Role] | None = strawberry.field(default=None, description="TRAINEE when unset.")
    time_zone: str | None = strawberry.field(
        default=None, description="An IANA time zone; the organisation's when unset."
    )
    group_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Groups to join.")
    supervised_group_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Groups to supervise."
    )
    send_welcome_email: bool | None = strawberry.field(
        default=None, description="DAMSTRA sends its welcome email unless this is false."
    )
    password: str | None = strawberry.field(
        default=None,
        description="The person's first DAMSTRA password, sent as given; never logged, stored or answered.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)

    def __repr__(self) -> str:
        # The dataclass's own repr would print the password wherever an input is shown.
        return f"CreateUserInput(first_name={self.first_name!r}, last_name={self.last_name!r}, ...)"


@strawberry.input(description="Only the fields given change; the rest keep what DAMSTRA holds.")
class UpdateUserInput:
    user_id: strawberry.ID
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    username: str | None = None
    phone_number: str | None = strawberry.field(default=None, description='"" clears it.')
    mobile_number: str | None = strawberry.field(default=None, description='"" clears it.')
    employee_number: str | None = strawberry.field(default=None, description='"" clears it.')
    roles: list[Role] | None = strawberry.field(default=None, description="Replaces the user's roles.")
    time_zone: str | None = None
    group_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces the groups the user is a member of."
    )
    supervised_group_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Replaces the groups the user supervises."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class ActivateUserInput:
    user_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.input
class InactivateUserInput:
    user_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class CreateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class UpdateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class ActivateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@strawberry.type
class InactivateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


# -- createUser / updateUser ----------------------------------------------------------------------


async def _check_username_free(info: Info, username: str, user_id: str | None = None) -> None:
    # Asked before the write: DAMSTRA's own refusal of a taken name has no documented shape.
    listing = await info.context.listings.damstra_users(q=username, active_value="all", size=100)
    if any(
        (u.user_name or "").casefold() == username.casefold() and str(u.id) != user_id for u in listing.items
    ):
        raise Refused.at(["username"], f"the user name {username!r} is taken", USERNAME_TAKEN)


async def _create_user(info: Info, value: CreateUserInput) -> CreateUserPayload:
    checks = Checks()
    fields = checked_fields(checks, [], value, names_required=True)
    groups = decode_groups(checks, ["groupIds"], value.group_ids)
    supervised = decode_groups(checks, ["supervisedGroupIds"], value.supervised_group_ids)
    if value.password is not None and not value.password.strip():
        checks.fail(["password"], "must not be blank")  # a password is sent as given, never stripped
    checks.done()
    if fields["user_name"] is not None:
        await _check_username_free(info, fields["user_name"])
    group_ids = await load_groups(info, ["groupIds"], groups)
    supervised_ids = await load_groups(info, ["supervisedGroupIds"], supervised)
    body = DamstraUserInput(
        **fields,
        group_ids=group_ids,
        supervised_group_ids=supervised_ids,
        send_welcome_email=value.send_welcome_email,
        password=SecretStr(value.password) if value.password else None,
    )
    try:
        created = await info.context.writes.create_user(body)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc)]) from None
    finally:
        forget_groups(info, [*(group_ids or []), *(supervised_ids or [])])  # their memberCount
    user, warnings = await read_back_user(
        info, created.id, body.model_dump(exclude_none=True, exclude=SENT_ONLY)
    )
    await publish_user_event(info, TrainingEventType.USER_CREATED, created.id)
    return CreateUserPayload(user=user, warnings=warnings)


_UPDATABLE = (
    "first_name",
    "last_name",
    "email",
    "username",
    "phone_number",
    "mobile_number",
    "employee_number",
    "roles",
    "time_zone",
    "group_ids",
    "supervised_group_ids",
)


async def _update_user(info: Info, value: UpdateUserInput) -> UpdateUserPayload:
    checks = Checks()
    checks.user_id(["userId"], value.user_id)
    if all(getattr(value, name) is None for name in _UPDATABLE):
        checks.fail(None, "nothing to change: give at least one field besides userId")
    fields = checked_fields(checks, [], value, names_required=False)
    groups = decode_groups(checks, ["groupIds"], value.group_ids)
    supervised = decode_groups(checks, ["supervisedGroupIds"], value.supervised_group_ids)
    checks.done()
    user_id = await damstra_account(info, ["userId"], value.user_id)
    current = await fresh_damstra_user(info, ["userId"], user_id)
    username = fields["user_name"]
    if username is not None and username.casefold() != (current.user_name or "").casefold():
        await _check_username_free(info, username, user_id)
    group_ids = await load_groups(info, ["groupIds"], groups)
    supervised_ids = await load_groups(info, ["supervisedGroupIds"], supervised)
    # DAMSTRA's update is a PUT of the whole user (its schema requires every field): what is not
    # changing is sent as DAMSTRA holds it now, so nothing is blanked.
    held = {
        "first_name": current.first_name,
        "last_name": current.last_name,
        "email_address": current.email_address,
        "user_name": current.user_name,
        "phone_number": current.phone_number,
        "mobile_number": current.mobile_number,
        "employee_number": current.employee_number,
        "roles": current.roles,
        "time_zone": current.time_zone,
    }
    merged = {key: held[key] if given is None else given for key, given in fields.items()}
    body = DamstraUserInput(**merged, group_ids=group_ids, supervised_group_ids=supervised_ids)
    # Groups left and joined: their memberCount changes.
    touched_groups = set(current.group_ids) | set(group_ids) if group_ids is not None else set()
    try:
        await info.context.writes.update_user(user_id, body)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    finally:
        forget_users(info, [user_id])
        forget_groups(info, touched_groups)
    user, warnings = await read_back_user(
        info, user_id, {**current.model_dump(), **body.model_dump(exclude_none=True, exclude=SENT_ONLY)}
    )
    await publish_user_event(info, TrainingEventType.USER_UPDATED, user_id)
    return UpdateUserPayload(user=user, warnings=warnings)


# -- activateUser / inactivateUser ------------------------------------------------------------------


async def _set_active(info: Info, raw_id: str, active: bool) -> tuple[User | None, list[UserError]]:
    checks = Checks()
    checks.user_id(["userId"], raw_id)
    checks.done()
    user_id = await damstra_account(info, ["userId"], raw_id)
    before = await fresh_damstra_user(info, ["userId"], user_id)
    if repeating() is not None and before.is_active == active:
        # An earlier attempt with this key made it so.
        return as_user(info, before), []
    try:
        await info.context.writes.set_user_active(user_id, active)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    finally:
        forget_users(info, [user_id])
    now_known = {"active": active, "client_status_id": None if active else before.client_status_id}
    user, warnings = await read_back_user(info, user_id, {**before.model_dump(), **now_known})
    if before.is_active != active:
        # DAMSTRA fires nothing for a user already so: neither does LearnGraph.
        kind = TrainingEventType.USER_UPDATED if active else TrainingEventType.USER_INACTIVATED
        await publish_user_event(info, kind, user_id)
    return user, warnings


async def _activate(info: Info, value: ActivateUserInput) -> ActivateUserPayload:
    user, warnings = await _set_active(info, value.user_id, True)
    return ActivateUserPayload(user=user, warnings=warnings)


async def _inactivate(info: Info, value: InactivateUserInput) -> InactivateUserPayload:
    user, warnings = await _set_active(info, value.user_id, False)
    return InactivateUserPayload(user=user, warnings=warnings)


# -- the mutations --------------------------------------------------------------------------------


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Creates a DAMSTRA user.")
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        # DAMSTRA cannot be asked whether a user was made: a repeat never makes one blindly.
        return await run_mutation(info, "createUser", input, CreateUserPayload, _create_user, can_check=False)

    @strawberry.mutation(description="Changes a person's DAMSTRA user; fields left out stay as they are.")
    async def update_user(self, info: Info, input: UpdateUserInput) -> UpdateUserPayload:
        return await run_mutation(info, "updateUser", input, UpdateUserPayload, _update_user)

    @strawberry.mutation(description="Makes a person's DAMSTRA user current (active) again.")
    async def activate_user(self, info: Info, input: ActivateUserInput) -> ActivateUserPayload:
        return await run_mutation(info, "activateUser", input, ActivateUserPayload, _activate)

    @strawberry.mutation(
        description="Marks a person's DAMSTRA user not current; their learning records stay."
    )
    async def inactivate_user(self, info: Info, input: InactivateUserInput) -> InactivateUserPayload:
        return await run_mutation(info, "inactivateUser", input, InactivateUserPayload, _inactivate)

    @strawberry.mutation(
        description="Creates or updates many DAMSTRA users in one call, all rows or none. One result per row."
    )
    async def import_users(self, info: Info, input: ImportUsersInput) -> ImportUsersPayload:
        return await run_mutation(
            info, "importUsers", input, ImportUsersPayload, import_rows, can_check=False
        )

    @strawberry.mutation(
        description="A magic link that signs the person into DAMSTRA without a password. "
        "The URL is a secret for that person."
    )
    async def generate_login_url(self, info: Info, input: GenerateLoginUrlInput) -> GenerateLoginUrlPayload:
        # A login link is made anew each time and only the first answer carries it.
        return await run_mutation(
            info, "generateLoginUrl", input, GenerateLoginUrlPayload, login_url_for, can_check=False
        )
