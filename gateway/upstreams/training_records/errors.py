"""DRF error bodies onto the error tree: `detail` by status, field errors as `TrainingRecordsRejected`."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.errors import UpstreamError, UpstreamMalformedResponse, UpstreamRejected, error_for_status
from gateway.sources import Source


class TrainingRecordsRejected(UpstreamRejected):
    """A 400 carrying DRF field errors: `field_errors` maps a field (or `non_field_errors`) to its messages."""

    def __init__(self, source: str, message: str, *, field_errors: dict[str, list[str]]) -> None:
        super().__init__(source, message, status_code=400)
        self.field_errors = field_errors


def _field_errors(body: Any) -> dict[str, list[str]]:
    if isinstance(body, list):
        return {"non_field_errors": [str(item) for item in body]}
    errors: dict[str, list[str]] = {}
    for name, messages in body.items():
        items = messages if isinstance(messages, list) else [messages]
        errors[str(name)] = [str(item) for item in items]
    return errors


def decode_training_records_error(
    source: Source, response: httpx.Response, body: Any
) -> UpstreamError | None:
    """DRF bodies onto the error tree: `detail` by status, field errors (400) as TrainingRecordsRejected."""
    status = response.status_code
    if status < 400:
        listing = response.request.method == "GET" and response.request.url.path.endswith("/training/record/")
        if listing and not (
            isinstance(body, list) or isinstance(body, dict) and isinstance(body.get("results"), list)
        ):
            return UpstreamMalformedResponse(
                source.slug, "a record listing was neither a list nor {results: [...]}"
            )
        return None
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        return error_for_status(source.slug, status, f"{source.name} answered {status}: {body['detail']}")
    if status == 400 and isinstance(body, dict | list) and body:
        errors = _field_errors(body)
        text = "; ".join(
            " ".join(messages) if name == "non_field_errors" else f"{name}: {' '.join(messages)}"
            for name, messages in errors.items()
        )
        return TrainingRecordsRejected(
            source.slug, f"{source.name} rejected the record: {text}", field_errors=errors
        )
    return None  # not a DRF body (a proxy's error page): http.py maps the status
