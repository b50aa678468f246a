"""`generateLoginUrl`: DAMSTRA's magic link, which signs a person in without a password."""

from __future__ import annotations

import enum
from dataclasses import field

import strawberry

from gateway.errors import UpstreamError
from gateway.sources import Source
from resolvers.info import Info
from resolvers.mutations.checks import Checks
from resolvers.mutations.damstra_users import write_refusal
from resolvers.mutations.running import IDEMPOTENCY_KEY, WARNINGS
from resolvers.mutations.targets import account_in, person_at
from resolvers.mutations.user_errors import Refused, UserError
from resolvers.user import User


@strawberry.enum(description="How long a login link stays valid (DAMSTRA's `expiresIn`).")
class LoginUrlExpiry(enum.Enum):
    # Each value is DAMSTRA's own word, sent as it is.
    DISABLED = "disabled"
    NEVER = "never"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@strawberry.input
class GenerateLoginUrlInput:
    user_id: strawberry.ID
    expires_in: LoginUrlExpiry = strawberry.field(
        description="DISABLED switches the user's login links off and answers no URL."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class GenerateLoginUrlPayload:
    user: User | None = None
    url: str | None = strawberry.field(
        default=None, description="Signs the user in without a password: hand it only to them."
    )
    expires_in: LoginUrlExpiry | None = None
    user_errors: list[UserError] = field(default_factory=list)
    warnings: list[UserError] = strawberry.field(default_factory=list, description=WARNINGS)


async def login_url_for(info: Info, value: GenerateLoginUrlInput) -> GenerateLoginUrlPayload:
    checks = Checks()
    checks.user_id(["userId"], value.user_id)
    checks.done()
    person = await person_at(info, ["userId"], value.user_id)
    user_id = account_in(person, Source.DAMSTRA, ["userId"])
    try:
        # The URL is a credential for this user: it goes into the payload and nowhere else.
        url = await info.context.writes.login_url(user_id, value.expires_in.value)
    except UpstreamError as exc:
        raise Refused([write_refusal(exc, ["userId"])]) from None
    return GenerateLoginUrlPayload(
        user=User.from_person(person), url=url or None, expires_in=value.expires_in
    )
