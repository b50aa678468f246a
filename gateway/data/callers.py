"""Who is calling: the caller of one request (or one WebSocket connection), as authentication found it.

    caller = info.context.caller
    caller.role >= Role.SUPERVISOR          # roles are ordered: TRAINEE < SUPERVISOR < ADMIN
    caller.person                           # PersonRef | None: who the caller is, not yet resolved

`gateway.server.auth` makes callers from a bearer token or an API key; nothing here checks a credential.
A `PersonRef` is what the token or key said, parsed: resolving it to a person (through the identity
directory and the sources) is the access rules' work.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.sources import Source

_BY_SLUG = {source.slug: source for source in Source}


class Role(enum.IntEnum):
    """What a caller may see and do; a higher role includes the lower ones."""

    TRAINEE = 1
    SUPERVISOR = 2
    ADMIN = 3

    @classmethod
    def highest(cls, names: Iterable[str]) -> Role:
        """The highest role named (case-insensitive); unknown names are ignored; none known is TRAINEE."""
        known = [cls[name.strip().upper()] for name in names if name.strip().upper() in cls.__members__]
        return max(known, default=cls.TRAINEE)


class InvalidPersonRef(ValueError):
    """A text that names no person in any form a `PersonRef` takes."""


class PersonRefKind(enum.Enum):
    EMAIL = "email"  # ava.smith0@example.com (compared case-insensitively)
    GLOBAL_ID = "global_id"  # a `User` global ID: base64 of `User:<source>:<native id>`
    ACCOUNT = "account"  # `<source>:<native id>`, e.g. damstra:10000


@dataclass(frozen=True)
class PersonRef:
    """A reference to a person as a credential gives it: an email, or one of their accounts.

    `email` is set (lower-cased) for EMAIL; `source` and `native_id` for GLOBAL_ID and ACCOUNT, which
    differ only in how they were written.
    """

    kind: PersonRefKind
    email: str | None = None
    source: Source | None = None
    native_id: str | None = None

    @classmethod
    def parse(cls, text: str) -> PersonRef:
        value = text.strip()
        if "@" in value:
            local, _, domain = value.rpartition("@")
            if not local or not domain or any(c.isspace() for c in value):
                raise InvalidPersonRef(f"{text!r} is not an email address")
            return cls(PersonRefKind.EMAIL, email=value.lower())
        slug, colon, native = value.partition(":")
        if colon:
            if slug.lower() not in _BY_SLUG or not native:
                raise InvalidPersonRef(
                    f"{text!r} is not `<source>:<native id>` with a source of {', '.join(_BY_SLUG)}"
                )
            return cls(PersonRefKind.ACCOUNT, source=_BY_SLUG[slug.lower()], native_id=native)
        try:
            decoded = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError, ValueError):
            decoded = ""
        type_name, _, rest = decoded.partition(":")
        slug, _, native = rest.partition(":")
        if type_name != "User" or slug not in _BY_SLUG or not native:
            raise InvalidPersonRef(
                f"{text!r} is neither an email, a User ID, nor `<source>:<native id>` (e.g. damstra:10000)"
            )
        return cls(PersonRefKind.GLOBAL_ID, source=_BY_SLUG[slug], native_id=native)

    @property
    def account(self) -> tuple[Source, str] | None:
        """(source, native id) for GLOBAL_ID and ACCOUNT; None for EMAIL."""
        if self.source is None or self.native_id is None:
            return None
        return self.source, self.native_id

    def __str__(self) -> str:
        if self.email is not None:
            return self.email
        assert self.source is not None
        return f"{self.source.slug}:{self.native_id}"


@dataclass(frozen=True)
class Caller:
    """Who made a request. `name` is for logs (an API key's name, a token's `sub`), never a secret;
    `expires_at` (epoch seconds) is when the credential stops being valid, None if it does not."""

    name: str
    role: Role
    person: PersonRef | None = None
    expires_at: float | None = None

    @classmethod
    def anonymous_admin(cls) -> Caller:
        """A request without a credential where LEARNGRAPH_ALLOW_ANONYMOUS allows it (development)."""
        return cls("anonymous", Role.ADMIN)

    @classmethod
    def unauthenticated(cls) -> Caller:
        """No one yet: a WebSocket before its `connection_init`, the GraphiQL page. The least a caller
        can be (a trainee who is no person); never the caller of an operation behind the gateway's door."""
        return cls("unauthenticated", Role.TRAINEE)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def key(self) -> str:
        """Whom per-caller state belongs to (idempotency keys, fairness counters): one caller's
        never answers or counts for another's."""
        return f"{self.role.name}:{self.name}:{self.person or ''}"
