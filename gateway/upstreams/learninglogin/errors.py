"""LearningLogin's failures onto the error tree: status codes with `{"error": ...}`, and answers
that arrive as 200 with a line of text."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamUnauthorized,
    error_for_status,
)
from gateway.sources import Source
from gateway.upstreams.learninglogin.records import NO_MATCHING_TRAIN_SESSIONS

NOTHING_MATCHED_TEXT = "Could not find any corresponding train sessions."
AUTH_ERROR_TEXT = "Authentication error"


def decode_learninglogin_error(source: Source, response: httpx.Response, body: Any) -> UpstreamError | None:
    """LearningLogin's failures: status codes with `{"error": ...}` (or a line of text), and two
    answers that arrive as 200 with a text body."""
    text = response.text.strip() if body is None else ""
    if text == NOTHING_MATCHED_TEXT:
        # LearningLogin answers 200 with a text body when nothing matched: a failed unassign,
        # dressed as a success.
        return UpstreamNotFound(
            source.slug,
            "LEARNINGLOGIN found no train session to unassign",
            status_code=response.status_code,
            upstream_code=NO_MATCHING_TRAIN_SESSIONS,
        )
    said = _said(body)
    status = response.status_code
    if status == 401 or (said or text) == AUTH_ERROR_TEXT:
        # The course player answers a bad token with 'Authentication error', whatever the status.
        return UpstreamUnauthorized(source.slug, "LEARNINGLOGIN rejected the token", status_code=status)
    if status < 400:
        if text and response.request.method not in ("GET", "HEAD"):
            # A write succeeds with an empty body; any other text means we cannot tell what happened.
            return UpstreamMalformedResponse(
                source.slug, "LEARNINGLOGIN answered a write with unexpected text", status_code=status
            )
        return None
    message = said or f"{source.name} answered HTTP {status}"
    if status == 403:
        return UpstreamForbidden(source.slug, message, status_code=status)
    if status == 404:
        return UpstreamNotFound(source.slug, message, status_code=status)
    return error_for_status(source.slug, status, message)


def _said(body: Any) -> str | None:
    """The message of a Rails error body: `{"error": "..."}` or `{"errors": [...]}`."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str) and error.strip():
        return error.strip()
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    return None
