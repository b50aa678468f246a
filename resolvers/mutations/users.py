"""DAMSTRA's user writes: `createUser`, `updateUser`, `activateUser`, `inactivateUser`, `importUsers`
and `generateLoginUrl`.

A write for a person goes to their DAMSTRA account (`NO_ACCOUNT_IN_SOURCE` without one). The
cross-request cache entries a write makes stale are dropped whatever its outcome, a timeout
included: what DAMSTRA holds then is unknown. Events go out where DAMSTRA's own webhooks would fire
(the bus drops the webhook's echo): `user.account.created`, `user.settings.updated`,
`user.account.inactivate`.

The helpers at the top (`Checks`, `forget_*`, `decode_group`, `load_groups`) serve `groups.py` too.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import available_timezones

import strawberry

from gateway.errors import UpstreamError, UpstreamNotFound
from gateway.events import TrainingEvent, TrainingEventType
from gateway.sources import Source
from gateway.upstreams.damstra import DamstraGroup, DamstraUser, DamstraUserInput, ExpiresIn, MergeType
from resolvers.enums import DAMSTRA_ROLES, Role
from resolvers.info import Info
from resolvers.mutations.running import run_mutation
from resolvers.mutations.targets import (
    Field,
    account_in,
    global_id,
    native_of,
    non_empty,
    only_from,
    person_at,
)
from resolvers.mutations.user_errors import (
    INVALID_INPUT,
    NOT_FOUND,
    Refused,
    UserError,
    from_upstream,
    user_error,
)
from resolvers.user import User

ROLE_IDS = {role: role_id for role_id, role in DAMSTRA_ROLES.items()}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_IMPORT_ROWS = 1000  # keeps one request body (and DAMSTRA's all-or-nothing check) bounded
# DAMSTRA stamps a new user's created and modified dates milliseconds apart; a merged user's, not.
JUST_CREATED = timedelta(seconds=5)

GROUP_NOT_FOUND = 842  # DAMSTRA's internalCode for a missing (or inactivated) group

USERNAME_TAKEN = "USERNAME_TAKEN"
NOT_READ_BACK = "NOT_READ_BACK"


# -- shared by the user and group writes ---------------------------------------------------------


class Checks:
    """Input problems, gathered so that one answer names every field to fix."""

    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def fail(self, where: Field | None, message: str, code: str = INVALID_INPUT) -> None:
        self.errors.append(user_error(where, message, code))

    def absorb(self, refused: Refused) -> None:
        self.errors += refused.errors

    def done(self) -> None:
        if self.errors:
            raise Refused(self.errors)

    def text(self, where: Field, value: str | None, *, required: bool = False) -> str | None:
        """Stripped; blank only where a value may be cleared."""
        if value is None:
            if required:
                self.fail(where, "is required")
            return None
        stripped = value.strip()
        if not stripped:
            self.fail(where, "must not be blank")
            return None
        return stripped

    def email(self, where: Field, value: str | None) -> str | None:
        address = self.text(where, value)
        if address is not None and not EMAIL.match(address):
            self.fail(where, f"{address!r} is not an email address")
            return None
        return address

    def roles(self, where: Field, roles: Sequence[Role] | None) -> list[int] | None:
        if roles is None:
            return None
        if not roles:
            self.fail(where, "give at least one role, or leave roles out")
            return None
        return list(dict.fromkeys(ROLE_IDS[role] for role in roles))

    def time_zone(self, where: Field, value: str | None) -> str | None:
        zone = self.text(where, value)
        known = _time_zones()
        if zone is not None and known and zone not in known:
            self.fail(where, f"{zone!r} is not an IANA time zone such as Australia/Perth")
            return None
        return zone


@functools.cache
def _time_zones() -> frozenset[str]:
    # Empty where the system has no zone database: then DAMSTRA judges the zone alone.
    return frozenset(available_timezones())


def _clearable(value: str | None) -> str | None:
    """A field DAMSTRA lets be empty (phone numbers, employee number): "" clears it."""
    return None if value is None else value.strip()


def damstra_scope(info: Info) -> str:
    return info.context.upstreams.fingerprints.get(Source.DAMSTRA, "")


def forget_users(info: Info, user_ids: Iterable[int | str]) -> None:
    for user_id in user_ids:
        info.context.loaders.invalidate_damstra_user(str(user_id))


def forget_every_user(info: Info) -> None:
    info.context.services.cache.invalidate("user", damstra_scope(info))


def forget_groups(info: Info, group_ids: Iterable[int | str]) -> None:
    scope = damstra_scope(info)
    for group_id in group_ids:
        info.context.loaders.group.clear(str(group_id))
        info.context.services.cache.invalidate("group", scope, str(group_id))


def decode_group(checks: Checks, where: Field, raw: str) -> str | None:
    """A DAMSTRA group's native id, or None with the reason in `checks` (no request made)."""
    try:
        gid = global_id(where, raw, "Group")
        only_from(where, gid, (Source.DAMSTRA,), "Groups")
        return native_of(where, gid)
    except Refused as exc:
        checks.absorb(exc)
        return None


async def load_group(info: Info, where: Field, native_id: str, *, fresh: bool = False) -> DamstraGroup:
    if fresh:
        forget_groups(info, [native_id])
    try:
        group: DamstraGroup = await info.context.loaders.group.load(native_id)
    except UpstreamNotFound:
        raise Refused.at(where, f"no DAMSTRA group {native_id}", NOT_FOUND) from None
    return group


def decode_groups(checks: Checks, where: Field, raws: Sequence[strawberry.ID] | None) -> list[str] | None:
    if raws is None:
        return None
    natives = [decode_group(checks, [*where, n], str(raw)) for n, raw in enumerate(raws)]
    return list(dict.fromkeys(n for n in natives if n is not None))


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


def decode_user(checks: Checks, where: Field, raw: str) -> bool:
    """Whether `raw` is a well-formed User ID (no request made); the reason in `checks` if not."""
    try:
        native_of(where, global_id(where, raw, "User"))
    except Refused as exc:
        checks.absorb(exc)
        return False
    return True


async def damstra_account(info: Info, where: Field, raw: str) -> str:
    """The DAMSTRA user id of the person `raw` names."""
    return account_in(await person_at(info, where, raw), Source.DAMSTRA, where)


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


async def read_back_user(info: Info, user_id: int | str) -> tuple[User | None, list[UserError]]:
    """The user as DAMSTRA holds them after a write; the write stands even when this read fails."""
    info.context.refresh_after_write()
    try:
        user: DamstraUser = await info.context.loaders.damstra_user.load(str(user_id))
    except UpstreamError as exc:
        message = f"written, but DAMSTRA did not answer when it was read back: {exc.message}"
        return None, [user_error(None, message, NOT_READ_BACK)]
    return as_user(info, user), []


async def publish_user_event(info: Info, kind: TrainingEventType, user_id: int | str) -> None:
    event = TrainingEvent(kind, Source.DAMSTRA, datetime.now(UTC), user_id=str(user_id))
    await info.context.services.events.publish(event)


def write_refusal(exc: UpstreamError, not_found_at: Field | None = None) -> UserError:
    """An upstream's answer to a write; the user's "not found" names the field that pointed at them."""
    user_missing = isinstance(exc, UpstreamNotFound) and exc.upstream_code != GROUP_NOT_FOUND
    return from_upstream(exc, not_found_at if user_missing else None)


# -- inputs and payloads ------------------------------------------------------------------------


@strawberry.enum(description="How long a login link stays valid (DAMSTRA's `expiresIn`).")
class LoginUrlExpiry(enum.Enum):
    DISABLED = "disabled"
    NEVER = "never"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


EXPIRES_IN: dict[LoginUrlExpiry, ExpiresIn] = {
    LoginUrlExpiry.DISABLED: "disabled",
    LoginUrlExpiry.NEVER: "never",
    LoginUrlExpiry.DAY: "day",
    LoginUrlExpiry.WEEK: "week",
    LoginUrlExpiry.MONTH: "month",
    LoginUrlExpiry.YEAR: "year",
}


@strawberry.enum(description="Which field finds the existing user an imported row updates.")
class UserMergeType(enum.Enum):
    NONE = "none"
    EMP_NO = "empNo"
    EMAIL = "email"
    USER_NAME = "userName"


MERGE_TYPES: dict[UserMergeType, MergeType] = {
    UserMergeType.NONE: "none",
    UserMergeType.EMP_NO: "empNo",
    UserMergeType.EMAIL: "email",
    UserMergeType.USER_NAME: "userName",
}
# The row field each merge type matches on: (its input name, its `DamstraUserInput` field).
MERGE_KEYS = {
    UserMergeType.EMP_NO: ("employeeNumber", "employee_number"),
    UserMergeType.EMAIL: ("email", "email_address"),
    UserMergeType.USER_NAME: ("username", "user_name"),
}

_IDEMPOTENCY = "Repeats with the same key and input answer the first result and write nothing."


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
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


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
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input
class ActivateUserInput:
    user_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input
class InactivateUserInput:
    user_id: strawberry.ID
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input
class GenerateLoginUrlInput:
    user_id: strawberry.ID
    expires_in: LoginUrlExpiry = strawberry.field(
        description="DISABLED switches the user's login links off and answers no URL."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.input(description="One row of an import (DAMSTRA's UserBasic).")
class ImportUserInput:
    first_name: str | None = strawberry.field(
        default=None, description="Required for a new user (every row when mergeType is NONE)."
    )
    last_name: str | None = strawberry.field(
        default=None, description="Required for a new user (every row when mergeType is NONE)."
    )
    email: str | None = None
    username: str | None = None
    phone_number: str | None = None
    mobile_number: str | None = None
    employee_number: str | None = None
    roles: list[Role] | None = strawberry.field(
        default=None,
        description="Unset means TRAINEE, for an updated user too: DAMSTRA resets the roles of a merged "
        "user the row gives none.",
    )
    time_zone: str | None = None


@strawberry.input
class ImportUsersInput:
    users: list[ImportUserInput] = strawberry.field(
        description=f"At most {MAX_IMPORT_ROWS}. DAMSTRA imports every row or none: one invalid row "
        "and nothing is sent."
    )
    merge_type: UserMergeType = strawberry.field(
        default=UserMergeType.NONE,
        description="NONE creates every row; otherwise a row updates the user it matches on that "
        "field, or creates one when none matches.",
    )
    idempotency_key: str | None = strawberry.field(default=None, description=_IDEMPOTENCY)


@strawberry.type
class CreateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)


@strawberry.type
class UpdateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)


@strawberry.type
class ActivateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)


@strawberry.type
class InactivateUserPayload:
    user: User | None = None
    user_errors: list[UserError] = field(default_factory=list)


@strawberry.type
class GenerateLoginUrlPayload:
    user: User | None = None
    url: str | None = strawberry.field(
        default=None, description="Signs the user in without a password: hand it only to them."
    )
    expires_in: LoginUrlExpiry | None = None
    user_errors: list[UserError] = field(default_factory=list)


@strawberry.type(description="What became of one row of an import.")
class ImportUserResult:
    row: int = strawberry.field(description="The row's index in `input.users`.")
    user: User | None
    created: bool | None = strawberry.field(
        description="True for a new user, false for one the row updated; null when not imported."
    )
    user_errors: list[UserError]


@strawberry.type
class ImportUsersPayload:
    users: list[User] = field(default_factory=list)
    results: list[ImportUserResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)


# -- createUser / updateUser ----------------------------------------------------------------------


class _UserFields(Protocol):
    @property
    def first_name(self) -> str | None: ...
    @property
    def last_name(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def phone_number(self) -> str | None: ...
    @property
    def mobile_number(self) -> str | None: ...
    @property
    def employee_number(self) -> str | None: ...
    @property
    def roles(self) -> list[Role] | None: ...
    @property
    def time_zone(self) -> str | None: ...


def _checked_fields(checks: Checks, at: Field, value: _UserFields, *, names_required: bool) -> dict[str, Any]:
    """`DamstraUserInput` fields from the input's, each checked; None where not given."""
    return {
        "first_name": checks.text([*at, "firstName"], value.first_name, required=names_required),
        "last_name": checks.text([*at, "lastName"], value.last_name, required=names_required),
        "email_address": checks.email([*at, "email"], value.email),
        "user_name": checks.text([*at, "username"], value.username),
        "phone_number": _clearable(value.phone_number),
        "mobile_number": _clearable(value.mobile_number),
        "employee_number": _clearable(value.employee_number),
        "roles": checks.roles([*at, "roles"], value.roles),
        "time_zone": checks.time_zone([*at, "timeZone"], value.time_zone),
    }


async def _check_username_free(info: Info, username: str, user_id: str | None = None) -> None:
    # Asked before the write: DAMSTRA's own refusal of a taken name has no documented shape.
    client = info.context.upstreams.need_damstra()
    listing = await client.search_users(q=username, active_value="all", max_results=100)
    if any(
        (u.user_name or "").casefold() == username.casefold() and str(u.id) != user_id for u in listing.items
    ):
        raise Refused.at(["username"], f"the user name {username!r} is taken", USERNAME_TAKEN)


async def _create_user(info: Info, value: CreateUserInput) -> CreateUserPayload:
    checks = Checks()
    fields = _checked_fields(checks, [], value, names_required=True)
    groups = decode_groups(checks, ["groupIds"], value.group_ids)
    supervised = decode_groups(checks, ["supervisedGroupIds"], value.supervised_group_ids)
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
    )
    try:
        created = await info.context.upstreams.need_damstra().create_user(body)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc)]) from None
    finally:
        forget_groups(info, [*(group_ids or []), *(supervised_ids or [])])  # their memberCount
    user, errors = await read_back_user(info, created.id)
    await publish_user_event(info, TrainingEventType.USER_CREATED, created.id)
    return CreateUserPayload(user=user, user_errors=errors)


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
    decode_user(checks, ["userId"], value.user_id)
    if all(getattr(value, name) is None for name in _UPDATABLE):
        checks.fail(None, "nothing to change: give at least one field besides userId")
    fields = _checked_fields(checks, [], value, names_required=False)
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
        await info.context.upstreams.need_damstra().update_user(user_id, body)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    finally:
        forget_users(info, [user_id])
        forget_groups(info, touched_groups)
    user, errors = await read_back_user(info, user_id)
    await publish_user_event(info, TrainingEventType.USER_UPDATED, user_id)
    return UpdateUserPayload(user=user, user_errors=errors)


# -- activateUser / inactivateUser ------------------------------------------------------------------


async def _set_active(info: Info, raw_id: str, active: bool) -> tuple[User | None, list[UserError]]:
    checks = Checks()
    decode_user(checks, ["userId"], raw_id)
    checks.done()
    user_id = await damstra_account(info, ["userId"], raw_id)
    before = await fresh_damstra_user(info, ["userId"], user_id)
    client = info.context.upstreams.need_damstra()
    try:
        await (client.activate_user(user_id) if active else client.inactivate_user(user_id))
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    finally:
        forget_users(info, [user_id])
    user, errors = await read_back_user(info, user_id)
    if before.is_active != active:
        # DAMSTRA fires nothing for a user already so: neither does LearnGraph.
        kind = TrainingEventType.USER_UPDATED if active else TrainingEventType.USER_INACTIVATED
        await publish_user_event(info, kind, user_id)
    return user, errors


async def _activate(info: Info, value: ActivateUserInput) -> ActivateUserPayload:
    user, errors = await _set_active(info, value.user_id, True)
    return ActivateUserPayload(user=user, user_errors=errors)


async def _inactivate(info: Info, value: InactivateUserInput) -> InactivateUserPayload:
    user, errors = await _set_active(info, value.user_id, False)
    return InactivateUserPayload(user=user, user_errors=errors)


# -- generateLoginUrl -----------------------------------------------------------------------------


async def _generate_login_url(info: Info, value: GenerateLoginUrlInput) -> GenerateLoginUrlPayload:
    checks = Checks()
    decode_user(checks, ["userId"], value.user_id)
    checks.done()
    person = await person_at(info, ["userId"], value.user_id)
    user_id = account_in(person, Source.DAMSTRA, ["userId"])
    try:
        # The URL is a credential for this user: it goes into the payload and nowhere else.
        url = await info.context.upstreams.need_damstra().generate_login_url(
            user_id, EXPIRES_IN[value.expires_in]
        )
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    return GenerateLoginUrlPayload(
        user=User.from_person(person), url=url or None, expires_in=value.expires_in
    )


# -- importUsers ----------------------------------------------------------------------------------


@dataclass
class _Row:
    index: int
    value: ImportUserInput
    body: DamstraUserInput | None = None
    user: DamstraUser | None = None
    created: bool | None = None
    errors: list[UserError] = field(default_factory=list)

    @property
    def field(self) -> list[str | int]:
        return ["users", self.index]


def _rows(value: ImportUsersInput) -> list[_Row]:
    rows = [_Row(index, row) for index, row in enumerate(value.users)]
    merge_key = MERGE_KEYS.get(value.merge_type)
    first_with: dict[tuple[str, str], int] = {}
    for row in rows:
        checks = Checks()
        fields = _checked_fields(checks, row.field, row.value, names_required=merge_key is None)
        # Two rows with one user name, or one merge key, would land on the same user.
        unique = {("username", "user_name")}
        if merge_key is not None:
            unique.add(merge_key)
            name, key = merge_key
            if not fields[key] and not any(e.field == [*map(str, row.field), name] for e in checks.errors):
                checks.fail([*row.field, name], f"needed to merge by {value.merge_type.name}")
        for name, key in sorted(unique):
            if not fields[key]:
                continue
            seen = first_with.setdefault((name, fields[key].casefold()), row.index)
            if seen != row.index:
                checks.fail([*row.field, name], f"the same as row {seen}'s")
        if checks.errors:
            row.errors += checks.errors
        else:
            row.body = DamstraUserInput(**fields)
    return rows


def _match(rows: list[_Row], imported: list[DamstraUser]) -> None:
    """DAMSTRA answers the users in the order of the rows; should it not, match them by name."""
    if len(imported) == len(rows):
        for row, user in zip(rows, imported, strict=True):
            row.user = user
        return
    for row in rows:
        body = row.body
        assert body is not None
        for user in imported:
            pairs = (
                (body.user_name, user.user_name),
                (body.email_address, user.email_address),
                (body.employee_number, user.employee_number),
            )
            if any(mine and theirs and mine.casefold() == theirs.casefold() for mine, theirs in pairs):
                row.user = user
                break


def _looks_new(user: DamstraUser) -> bool:
    if user.created_date is None or user.modified_date is None:
        return False
    return abs(user.modified_date - user.created_date) <= JUST_CREATED


def _import_payload(
    info: Info, rows: list[_Row], batch_errors: Sequence[UserError] = ()
) -> ImportUsersPayload:
    users = {row.index: as_user(info, row.user) for row in rows if row.user is not None}
    results = [
        ImportUserResult(
            row=row.index, user=users.get(row.index), created=row.created, user_errors=row.errors
        )
        for row in rows
    ]
    errors = [*batch_errors] or [error for row in rows for error in row.errors]
    return ImportUsersPayload(users=list(users.values()), results=results, user_errors=errors)


async def _import_users(info: Info, value: ImportUsersInput) -> ImportUsersPayload:
    non_empty(["users"], value.users)
    if len(value.users) > MAX_IMPORT_ROWS:
        raise Refused.at(["users"], f"import at most {MAX_IMPORT_ROWS} users a call")
    rows = _rows(value)
    if any(row.errors for row in rows):
        return _import_payload(info, rows)
    merging = value.merge_type is not UserMergeType.NONE
    client = info.context.upstreams.need_damstra()
    imported: list[DamstraUser] = []
    try:
        imported = await client.bulk_import_users(
            [row.body for row in rows if row.body is not None], MERGE_TYPES[value.merge_type]
        )
    except UpstreamError as exc:
        for row in rows:
            row.errors.append(from_upstream(exc, row.field))
        return _import_payload(info, rows, [from_upstream(exc, ["users"])])
    finally:
        if merging:
            # Rows that merged changed users the cache may hold; which ones is known only on success.
            if imported:
                forget_users(info, [user.id for user in imported])
            else:
                forget_every_user(info)
    info.context.refresh_after_write()
    _match(rows, imported)
    for row in rows:
        if row.user is None:
            message = "sent, but DAMSTRA's answer did not include this row"
            row.errors.append(user_error(row.field, message, NOT_READ_BACK))
            continue
        row.created = not merging or _looks_new(row.user)
        kind = TrainingEventType.USER_CREATED if row.created else TrainingEventType.USER_UPDATED
        await publish_user_event(info, kind, row.user.id)
    return _import_payload(info, rows)


# -- the mutations --------------------------------------------------------------------------------


@strawberry.type
class UserMutations:
    @strawberry.mutation(description="Creates a DAMSTRA user.")
    async def create_user(self, info: Info, input: CreateUserInput) -> CreateUserPayload:
        return await run_mutation(
            info,
            "createUser",
            input,
            lambda errors: CreateUserPayload(user_errors=errors),
            lambda: _create_user(info, input),
        )

    @strawberry.mutation(description="Changes a person's DAMSTRA user; fields left out stay as they are.")
    async def update_user(self, info: Info, input: UpdateUserInput) -> UpdateUserPayload:
        return await run_mutation(
            info,
            "updateUser",
            input,
            lambda errors: UpdateUserPayload(user_errors=errors),
            lambda: _update_user(info, input),
        )

    @strawberry.mutation(description="Makes a person's DAMSTRA user current (active) again.")
    async def activate_user(self, info: Info, input: ActivateUserInput) -> ActivateUserPayload:
        return await run_mutation(
            info,
            "activateUser",
            input,
            lambda errors: ActivateUserPayload(user_errors=errors),
            lambda: _activate(info, input),
        )

    @strawberry.mutation(
        description="Marks a person's DAMSTRA user not current; their learning records stay."
    )
    async def inactivate_user(self, info: Info, input: InactivateUserInput) -> InactivateUserPayload:
        return await run_mutation(
            info,
            "inactivateUser",
            input,
            lambda errors: InactivateUserPayload(user_errors=errors),
            lambda: _inactivate(info, input),
        )

    @strawberry.mutation(
        description="Creates or updates many DAMSTRA users in one call, all rows or none. One result per row."
    )
    async def import_users(self, info: Info, input: ImportUsersInput) -> ImportUsersPayload:
        return await run_mutation(
            info,
            "importUsers",
            input,
            lambda errors: ImportUsersPayload(user_errors=errors),
            lambda: _import_users(info, input),
        )

    @strawberry.mutation(
        description="A magic link that signs the person into DAMSTRA without a password. "
        "The URL is a secret for that person."
    )
    async def generate_login_url(self, info: Info, input: GenerateLoginUrlInput) -> GenerateLoginUrlPayload:
        return await run_mutation(
            info,
            "generateLoginUrl",
            input,
            lambda errors: GenerateLoginUrlPayload(user_errors=errors),
            lambda: _generate_login_url(info, input),
        )
