"""iScout's `{"ok": false, "error": id}` answers onto the error tree, by identifier."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source


class IScoutAccountInactive(UpstreamUnavailable):
    """`account_inactive`: the source is unavailable to us, but retrying will not change that."""

    retryable: ClassVar[bool] = False


_UNAUTHORIZED = {"token_missing", "token_invalid", "token_inactive"}
_BY_IDENTIFIER: dict[str, type[UpstreamError]] = {
    "token_permission": UpstreamForbidden,
    "account_inactive": IScoutAccountInactive,
    "rate_limit_exceeded": UpstreamRateLimited,
    "content_not_found": UpstreamNotFound,
    "server_error": UpstreamUnavailable,
    "api_method_not_found": UpstreamRejected,
}


def decode_iscout_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """`ok: false` on any status -> the branch its identifier names; `upstream_code` is the identifier."""
    if isinstance(body, dict) and body.get("ok") is False:
        identifier = body.get("error") if isinstance(body.get("error"), str) else None
        cls = _BY_IDENTIFIER.get(identifier or "", UpstreamRejected)  # parameter_*, request_*, unknown
        if identifier in _UNAUTHORIZED:
            # token_invalid's description echoes the token (iScout's document's own example): never keep it.
            cls, description = UpstreamUnauthorized, "the token was missing, invalid or inactive"
        else:
            description = str(body.get("description") or "no description")
        return cls(
            source.slug,
            f"{source.name} answered {identifier or 'an error'}: {description}",
            status_code=response.status_code,
            upstream_code=identifier,
        )
    if response.status_code >= 400:
        return None  # not iScout's own answer (a proxy's page): http.py maps the status
    # completedtrainings.list is the only method we call: a success must carry its list.
    if (
        not isinstance(body, dict)
        or body.get("ok", True) is not True
        or not isinstance(body.get("completedtrainings"), list)
    ):
        return UpstreamMalformedResponse(
            source.slug, "the answer had neither ok: true nor completedtrainings"
        )
    return None
