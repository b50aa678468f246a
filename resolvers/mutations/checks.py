"""A write's input problems, gathered before any request so that one answer names every field to fix.

checks = Checks()
name = checks.text(["name"], value.name, required=True)
native = checks.run(lambda: session_native(value.session_id, "Changing an ILT session"))
checks.done()  # raises `Refused` with every problem found, if there is one
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from resolvers.mutations.targets import Field, global_id, native_of
from resolvers.mutations.user_errors import INVALID_INPUT, Refused, UserError, user_error

T = TypeVar("T")


class Checks:
    def __init__(self) -> None:
        self.errors: list[UserError] = []

    def fail(self, where: Field | None, message: str, code: str = INVALID_INPUT) -> None:
        self.errors.append(user_error(where, message, code))

    def absorb(self, refused: Refused) -> None:
        self.errors += refused.errors

    def run(self, check: Callable[[], T]) -> T | None:
        """The check's answer; None when it refused, its reasons kept."""
        try:
            return check()
        except Refused as exc:
            self.absorb(exc)
            return None

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

    def user_id(self, where: Field, raw: str | None) -> bool:
        """Whether `raw`, when given, is a well-formed User ID (no request made)."""
        if raw is None:
            return True
        try:
            native_of(where, global_id(where, raw, "User"))
        except Refused as exc:
            self.absorb(exc)
            return False
        return True
