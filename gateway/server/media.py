"""The media type of a GraphQL answer over HTTP, and what it changes (GraphQL over HTTP, "Response").

    media_type = negotiate(request.headers.get("accept"))     # GRAPHQL_RESPONSE_JSON or JSON

`application/graphql-response+json` goes to a client that asks for it at least as much as for
`application/json`; every other client (no Accept, `*/*`, `application/json`, anything else) gets
`application/json`, as before the spec named the new type. Under the new type a request error (nothing
ran: a document that does not parse or validate, variables that do not coerce, a refused request) is
an HTTP 400 (or the 4xx already chosen) whose body has no `data`; under `application/json` the same
answer keeps its `"data": null` and its status (200, or the 400 the gateway gives a refusal).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
_JSON_ALIKE = frozenset({JSON, "application/*", "*/*"})


@functools.lru_cache(maxsize=64)
def negotiate(accept: str | None) -> str:
    """GRAPHQL_RESPONSE_JSON when the Accept header names it with a quality at least that of
    `application/json` (or a wildcard covering it); JSON otherwise."""
    if not accept or GRAPHQL_RESPONSE_JSON not in accept.lower():
        return JSON
    graphql_response = json = 0.0
    for part in accept.lower().split(","):
        media_type, *parameters = (piece.strip() for piece in part.split(";"))
        quality = _quality(parameters)
        if media_type == GRAPHQL_RESPONSE_JSON:
            graphql_response = max(graphql_response, quality)
        elif media_type in _JSON_ALIKE:
            json = max(json, quality)
    return GRAPHQL_RESPONSE_JSON if graphql_response > 0 and graphql_response >= json else JSON


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "q":
            try:
                return min(max(float(value), 0.0), 1.0)
            except ValueError:
                return 0.0
    return 1.0


def is_request_error(answer: Mapping[str, Any]) -> bool:
    """Whether an answer reports a request that never ran: no data, and no error that names a field
    (every execution error has a `path`; parse, validation, coercion errors and refusals have none)."""
    if answer.get("data") is not None:
        return False
    errors = answer.get("errors") or ()
    return bool(errors) and all(isinstance(e, Mapping) and e.get("path") is None for e in errors)


def as_request_error(answer: Mapping[str, Any]) -> dict[str, Any]:
    """The answer without its `data` entry, as the new media type carries a request error."""
    return {key: value for key, value in answer.items() if key != "data"}


__all__ = ["GRAPHQL_RESPONSE_JSON", "JSON", "as_request_error", "is_request_error", "negotiate"]
