"""The upstream error tree, and how each branch shows up in GraphQL.

UpstreamError                      any failure talking to an upstream
 ├── UpstreamUnauthorized          bad or missing credential (DAMSTRA 806, iScout token_*)
 ├── UpstreamForbidden             credential lacks the right (DAMSTRA 831, iScout token_permission)
 ├── UpstreamNotFound              the object does not exist (404, DAMSTRA 840/842, content_not_found)
 ├── UpstreamRejected              the upstream refused the request as asked (400/409/422, parameter_*)
 ├── UpstreamRequestInvalid        never sent: the caller's input cannot make a request (a URL too long)
 ├── UpstreamRateLimited           slow down and try again (429, rate_limit_exceeded)
 ├── UpstreamUnavailable           5xx, connection refused, account inactive
 ├── UpstreamTimeout               no answer in time; for a write the outcome is unknown
 │    └── UpstreamDeadlineExceeded the operation's deadline passed first (not retried)
 ├── UpstreamBudgetExceeded        the operation made all the upstream requests it may; not sent
 └── UpstreamMalformedResponse     an answer we cannot read (bad JSON, wrong shape)

InvalidNativeId is not an upstream error: it is raised before any request leaves. Nor is
Forbidden: the caller may not see or do this (`gateway.data.access`), whatever the upstream holds.
Nor is CallerGone: nobody waits for the answer any more, so nothing more is asked for it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class UpstreamError(Exception):
    """Base of every upstream failure. `code` is the GraphQL `extensions.code`."""

    code: ClassVar[str] = "UPSTREAM_ERROR"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status_code: int | None = None,
        upstream_code: str | int | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.message = message
        self.status_code = status_code
        self.upstream_code = upstream_code

    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code, "source": self.source.upper()}
        if self.upstream_code is not None:
            ext["upstreamCode"] = self.upstream_code
        return ext

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, message={self.message!r})"


class UpstreamUnauthorized(UpstreamError):
    code = "UPSTREAM_UNAUTHORIZED"


class UpstreamForbidden(UpstreamError):
    code = "UPSTREAM_FORBIDDEN"


class UpstreamNotFound(UpstreamError):
    code = "NOT_FOUND"


class UpstreamRejected(UpstreamError):
    code = "UPSTREAM_REJECTED"


class UpstreamRequestInvalid(UpstreamError):
    """The caller's input would make a request no upstream takes (a URL past what servers accept);
    nothing was sent, and sending it again would fail the same way."""

    code = "BAD_USER_INPUT"


class UpstreamRateLimited(UpstreamError):
    code = "UPSTREAM_RATE_LIMITED"
    retryable = True


class UpstreamUnavailable(UpstreamError):
    code = "UPSTREAM_UNAVAILABLE"
    retryable = True


class UpstreamTimeout(UpstreamError):
    code = "UPSTREAM_TIMEOUT"
    retryable = True


class UpstreamMalformedResponse(UpstreamError):
    code = "UPSTREAM_BAD_RESPONSE"


class UpstreamDeadlineExceeded(UpstreamTimeout):
    """The operation's deadline came before the answer (or before the request was sent).
    `allowance` is the operation's (`gateway.upstreams.allowance`), whose limit this is."""

    retryable = False

    def __init__(self, source: str, message: str, *, allowance: object = None) -> None:
        super().__init__(source, message)
        self.allowance = allowance


class UpstreamBudgetExceeded(UpstreamError):
    """The operation has made every upstream request it may: this one was not sent."""

    code = "UPSTREAM_BUDGET_EXCEEDED"

    def __init__(self, source: str, message: str, *, allowance: object = None) -> None:
        super().__init__(source, message)
        self.allowance = allowance


class InvalidNativeId(ValueError):
    """An ID that does not match its source's strict pattern; never sent upstream."""

    code = "INVALID_ID"

    def __init__(self, kind: str, value: str) -> None:
        shown = value if len(value) <= 64 else value[:61] + "..."
        super().__init__(f"{shown!r} is not a valid {kind}")
        self.kind = kind
        self.value = value


class Forbidden(Exception):
    """The caller may not see this object or make this write; nothing about it is told."""

    code = "FORBIDDEN"

    def __init__(self, message: str = "not allowed for this caller") -> None:
        super().__init__(message)
        self.message = message


class CallerGone(Exception):
    """The caller went away: no upstream request is sent for them (a mutation's writes once begun
    excepted, `gateway.upstreams.allowance`)."""

    code = "CALLER_GONE"

    def __init__(self, message: str = "the caller went away", *, allowance: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.allowance = allowance


OPERATION_STOPS = (UpstreamDeadlineExceeded, UpstreamBudgetExceeded, CallerGone)
"""What one operation's own limits raise (`exc.allowance` says whose): another operation sharing
the read has limits of its own and reads again rather than take them on."""


def error_for_status(
    source: str, status: int, message: str, upstream_code: str | int | None = None
) -> UpstreamError:
    """The branch of the tree an HTTP status belongs to, for vendors whose body says no more."""
    cls: type[UpstreamError]
    if status == 401:
        cls = UpstreamUnauthorized
    elif status == 403:
        cls = UpstreamForbidden
    elif status in (404, 410):
        cls = UpstreamNotFound
    elif status == 429:
        cls = UpstreamRateLimited
    elif status in (408, 504):
        cls = UpstreamTimeout
    elif status >= 500:
        cls = UpstreamUnavailable
    else:
        cls = UpstreamRejected
    return cls(source, message, status_code=status, upstream_code=upstream_code)
