"""Why a request has no caller.

Unauthenticated          no credential, or one that does not hold (401; WebSocket close 4403)
AuthUnavailable          a credential that cannot be checked now: the issuer's keys are out of reach (503)
"""

from __future__ import annotations


class Unauthenticated(Exception):
    """The message tells the client what was wrong with its credential, never the credential."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AuthUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
