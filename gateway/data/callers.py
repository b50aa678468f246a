"""Who is calling: the caller a request runs for, as authentication found them.

    caller = Caller("dashboard", Role.SUPERVISOR, PersonRef("ava.smith0@example.com"))

Placeholder for the authentication work (JWT, API keys), which sets the caller on the ASGI scope
under `CALLER_SCOPE_KEY`; what each role may see and do is `gateway.data.access`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NewType


class Role(enum.IntEnum):
    TRAINEE = 1
    SUPERVISOR = 2
    ADMIN = 3


PersonRef = NewType("PersonRef", str)
"""The caller's person as the credential names them: an email (case-insensitive), a User global ID
(base64 of `User:<source>:<nativeId>`), or `<source>:<native id>` such as `damstra:10000`."""


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role
    person: PersonRef | None


# What a request runs as when nothing authenticated it (tests, and the development switch that lets
# anonymous callers in): the authentication layer refuses such requests before they get this far.
ANONYMOUS_ADMIN = Caller("anonymous", Role.ADMIN, None)
CALLER_SCOPE_KEY = "learngraph.caller"


def caller_of(scope: Mapping[str, Any]) -> Caller:
    """The caller authentication put on an ASGI scope (HTTP or WebSocket)."""
    caller = scope.get(CALLER_SCOPE_KEY)
    return caller if isinstance(caller, Caller) else ANONYMOUS_ADMIN
