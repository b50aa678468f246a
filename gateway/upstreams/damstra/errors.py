"""DAMSTRA's error bodies onto the error tree."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamUnauthorized,
    UpstreamUnavailable,
    error_for_status,
)
from gateway.sources import Source
from gateway.upstreams.damstra.records import ALREADY_SCHEDULED

_BY_INTERNAL_CODE: dict[int, type[UpstreamError]] = {
    806: UpstreamUnauthorized,  # AccessKey does not exist
    831: UpstreamForbidden,  # not authorised to make this request
    840: UpstreamNotFound,  # lesson schedule does not exist
    842: UpstreamNotFound,  # group not found
    836: UpstreamRejected,  # lesson schedule is cancelled
    837: UpstreamRejected,  # lesson schedule is completed
    500: UpstreamUnavailable,
}


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def decode_damstra_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """DAMSTRA error bodies, on any status: stand-ins (and the API document's own examples) send them on 200."""
    if not isinstance(body, dict):
        return None
    internal = body.get("internalCode")
    flag = body.get("error")
    is_error = internal is not None or flag is True or _text(flag) is not None
    if not is_error and response.status_code < 400:
        return None
    message = (
        _text(body.get("message"))
        or _text(flag)
        or _text(body.get("reason"))
        or f"{source.name} answered HTTP {response.status_code}"
    )
    code = internal if isinstance(internal, int) and not isinstance(internal, bool) else None
    if "already exists" in message.lower() and "schedule" in message.lower():
        # `POST /user/{id}/lesson_schedule` answers {"error": "Lesson Schedule already exists"}.
        return UpstreamRejected(source.slug, message, upstream_code=ALREADY_SCHEDULED)
    if code in _BY_INTERNAL_CODE:
        return _BY_INTERNAL_CODE[code](source.slug, message, upstream_code=code)
    status = response.status_code
    if status < 400:
        # The 404 sample carries `"statusCode": 404` (and `"internalCode": TBD`) in its body.
        body_status = body.get("statusCode")
        if not (isinstance(body_status, int) and body_status >= 400):
            return UpstreamRejected(source.slug, message, status_code=status, upstream_code=code)
        status = body_status
    return error_for_status(source.slug, status, message, upstream_code=code)
