"""`importUsers`: many DAMSTRA users created or updated in one call (`bulk_import`), every row or none.

Every row is checked before the call: one bad row and nothing is sent, with every bad row named. One
result per row; with a merge type, `created` tells a user the row made from one it updated.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import strawberry

from gateway.data.events import TrainingEventType
from gateway.errors import UpstreamError
from gateway.upstreams.damstra.records import DamstraUser, DamstraUserInput
from resolvers.enums import Role
from resolvers.info import Info
from resolvers.mutations.cache_effects import forget_every_user, forget_users
from resolvers.mutations.checks import Checks
from resolvers.mutations.damstra_users import as_user, publish_user_event
from resolvers.mutations.running import IDEMPOTENCY_KEY, WARNINGS
from resolvers.mutations.targets import non_empty
from resolvers.mutations.user_errors import NOT_READ_BACK, Refused, UserError, from_upstream, user_error
from resolvers.mutations.user_fields import checked_fields
from resolvers.user import User

MAX_IMPORT_ROWS = 1000  # keeps one request body (and DAMSTRA's all-or-nothing check) bounded
# DAMSTRA stamps a new user's created and modified dates milliseconds apart; a merged user's, not.
JUST_CREATED = timedelta(seconds=5)


@strawberry.enum(description="Which field finds the existing user an imported row updates.")
class UserMergeType(enum.Enum):
    # Each value is DAMSTRA's own word, sent as it is.
    NONE = "none"
    EMP_NO = "empNo"
    EMAIL = "email"
    USER_NAME = "userName"


# The row field each merge type matches on: (its input name, its `DamstraUserInput` field).
MERGE_KEYS = {
    UserMergeType.EMP_NO: ("employeeNumber", "employee_number"),
    UserMergeType.EMAIL: ("email", "email_address"),
    UserMergeType.USER_NAME: ("username", "user_name"),
}


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
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type(description="What became of one row of an import.")
class ImportUserResult:
    row: int = strawberry.field(description="The row's index in `input.users`.")
    user: User | None
    created: bool | None = strawberry.field(
        description="True for a new user, false for one the row updated; null when not imported."
    )
    user_errors: list[UserError]
    already_done: bool = strawberry.field(
        default=False, description="Always false: DAMSTRA cannot be asked whether an import happened."
    )


@strawberry.type
class ImportUsersPayload:
    users: list[User] = field(default_factory=list)
    results: list[ImportUserResult] = field(default_factory=list)
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


@dataclass
class _Row:
    index: int
    value: ImportUserInput
    body: DamstraUserInput | None = None
    user: DamstraUser | None = None
    created: bool | None = None
    errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = field(default_factory=list)

    @property
    def field(self) -> list[str | int]:
        return ["users", self.index]


def _rows(value: ImportUsersInput) -> list[_Row]:
    rows = [_Row(index, row) for index, row in enumerate(value.users)]
    merge_key = MERGE_KEYS.get(value.merge_type)
    first_with: dict[tuple[str, str], int] = {}
    for row in rows:
        checks = Checks()
        fields = checked_fields(checks, row.field, row.value, names_required=merge_key is None)
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
    warnings = [warning for row in rows for warning in row.warnings]
    return ImportUsersPayload(
        users=list(users.values()), results=results, user_errors=errors, warnings=warnings
    )


async def import_rows(info: Info, value: ImportUsersInput) -> ImportUsersPayload:
    non_empty(["users"], value.users)
    if len(value.users) > MAX_IMPORT_ROWS:
        raise Refused.at(["users"], f"import at most {MAX_IMPORT_ROWS} users a call")
    rows = _rows(value)
    if any(row.errors for row in rows):
        return _import_payload(info, rows)
    merging = value.merge_type is not UserMergeType.NONE
    imported: list[DamstraUser] = []
    try:
        imported = await info.context.writes.import_users(
            [row.body for row in rows if row.body is not None], value.merge_type.value
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
            message = "imported, but DAMSTRA's answer did not include this row"
            row.warnings.append(user_error(row.field, message, NOT_READ_BACK))
            continue
        row.created = not merging or _looks_new(row.user)
        kind = TrainingEventType.USER_CREATED if row.created else TrainingEventType.USER_UPDATED
        await publish_user_event(info, kind, row.user.id)
    return _import_payload(info, rows)
