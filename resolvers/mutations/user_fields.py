"""A user's fields as an input gives them (`createUser`, `updateUser`, a row of `importUsers`), each
checked, under the names `DamstraUserInput` gives them.

    fields = checked_fields(checks, [], input, names_required=True)   # None where not given
    body = DamstraUserInput(**fields)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any, Protocol
from zoneinfo import available_timezones

from resolvers.enums import DAMSTRA_ROLES, Role
from resolvers.mutations.checks import Checks
from resolvers.mutations.targets import Field

ROLE_IDS = {role: role_id for role_id, role in DAMSTRA_ROLES.items()}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserFields(Protocol):
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


def checked_fields(checks: Checks, at: Field, value: UserFields, *, names_required: bool) -> dict[str, Any]:
    """`DamstraUserInput` fields from the input's, each checked; None where not given."""
    return {
        "first_name": checks.text([*at, "firstName"], value.first_name, required=names_required),
        "last_name": checks.text([*at, "lastName"], value.last_name, required=names_required),
        "email_address": _email(checks, [*at, "email"], value.email),
        "user_name": checks.text([*at, "username"], value.username),
        "phone_number": _clearable(value.phone_number),
        "mobile_number": _clearable(value.mobile_number),
        "employee_number": _clearable(value.employee_number),
        "roles": _roles(checks, [*at, "roles"], value.roles),
        "time_zone": _time_zone(checks, [*at, "timeZone"], value.time_zone),
    }


def _clearable(value: str | None) -> str | None:
    """A field DAMSTRA lets be empty (phone numbers, employee number): "" clears it."""
    return None if value is None else value.strip()


def _email(checks: Checks, where: Field, value: str | None) -> str | None:
    address = checks.text(where, value)
    if address is not None and not EMAIL.match(address):
        checks.fail(where, f"{address!r} is not an email address")
        return None
    return address


def _roles(checks: Checks, where: Field, roles: Sequence[Role] | None) -> list[int] | None:
    if roles is None:
        return None
    if not roles:
        checks.fail(where, "give at least one role, or leave roles out")
        return None
    return list(dict.fromkeys(ROLE_IDS[role] for role in roles))


def _time_zone(checks: Checks, where: Field, value: str | None) -> str | None:
    zone = checks.text(where, value)
    known = _time_zones()
    if zone is not None and known and zone not in known:
        checks.fail(where, f"{zone!r} is not an IANA time zone such as Australia/Perth")
        return None
    return zone


@functools.cache
def _time_zones() -> frozenset[str]:
    # Empty where the system has no zone database: then DAMSTRA judges the zone alone.
    return frozenset(available_timezones())
