"""The ISCOUT sandbox: iScout's `completedtrainings.list` (docs/vendors.md), Slack-style `ok`/`error` answers.

    app = create_app(world, controls)              # routes relative to the base URL (ending in `/v1`)
    controls.rate_limit_next = 2               # the next two calls answer `rate_limit_exceeded`
    controls.rate_limit_per_second = 10        # the token's request limit, enforced (0, the default: none)
    controls.error_next = ["token_inactive"]   # force identifiers the sandbox cannot reach itself

Every answer, failures included, is HTTP 200: iScout's document gives errors only as `ok: false` bodies
and shows no status codes, and APIs in this style (Slack's, which iScout's copies: `ok`, `error`,
`pretty`, `method.name` URLs) report everything on 200. Only injected faults use other statuses.

The document's `rate_limit_exceeded` ("This token is exceeding its request limit.") names a limit but
neither its size nor a Retry-After: `rate_limit_per_second` enforces one of the caller's choosing over
the last second, answered the document's way (no 429, no Retry-After).
"""

from __future__ import annotations

import hmac
import math
import time
from collections import deque
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.controls import ControlsMiddleware, SandboxControls
from sandbox.world import IScoutCompletionRow, IScoutState, World

# Where this API lives below the sandbox's address (as its production base URL ends), and its key.
MOUNT = "/iscout/v1"
CREDENTIAL = "sandbox-iscout-token"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
PARAMETERS = {"token", "pretty", "training_id", "user_id", "limit", "page"}
# iScout's table of identifiers and what each means.
DESCRIPTIONS = {
    "api_method_not_found": "The requested url did not match any iScout api method.",
    "request_method_invalid": "The requested method was not GET or POST.",
    "request_data_invalid": "The request did not include a valid JSON request object.",
    "rate_limit_exceeded": "This token is exceeding its request limit.",
    "token_missing": "The request did not include a token.",
    "token_invalid": "The request token was invalid.",
    "token_inactive": "The request token was has been deactivated.",
    "token_permission": "The request token does not have write permission.",
    "account_inactive": "The request token was for an account that is not active.",
    "parameter_unexpected": "The request data included a parameter that is not supported.",
    "parameter_missing": "The request data failed to include a parameter which was required.",
    "parameter_invalid": "The request data included a parameter which had a value that is not allowed.",
    "server_error": "The server encountered an internal error.",
    "content_not_found": "The requested content was not found.",
}


class IScoutFailure(Exception):
    def __init__(self, error: str, description: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.description = description or DESCRIPTIONS.get(error, error)


def _answer(body: dict[str, Any], pretty: bool = False) -> Response:
    content = orjson.dumps(body, option=orjson.OPT_INDENT_2 if pretty else 0)
    return Response(content, media_type="application/json")


def _failure(error: IScoutFailure) -> Response:
    return _answer({"ok": False, "error": error.error, "description": error.description})


def _error_body(status: int) -> tuple[bytes, str]:
    body = {"ok": False, "error": "server_error", "description": DESCRIPTIONS["server_error"]}
    return orjson.dumps(body), "application/json"


def _render(completion: IScoutCompletionRow) -> dict[str, Any]:
    # Unset optional fields are left out, as the document's second and third records leave out
    # `specialExpirationDateNumber`.
    record: dict[str, Any] = {
        "user_id": completion.user_id,
        "training_id": completion.training_id,
        "created": completion.created_ms,
        "dateNumber": completion.date_number,
    }
    optional = {
        "specialExpirationDateNumber": completion.special_expiration_date_number,
        "instructor_id": completion.instructor_id,
        "groupTraining_id": completion.group_training_id,
    }
    record.update({key: value for key, value in optional.items() if value is not None})
    return record


class IScoutApi:
    def __init__(self, state: IScoutState, controls: SandboxControls) -> None:
        self.state = state
        self.controls = controls
        self._answered: deque[float] = deque()  # when the calls within the last second were let through

    async def completed_trainings(self, request: Request) -> Response:
        try:
            if request.method not in ("GET", "POST"):
                raise IScoutFailure("request_method_invalid")
            self._forced_failure()
            data = await _request_data(request)
            self._authenticate(data)
            unexpected = sorted(set(data) - PARAMETERS)
            if unexpected:
                raise IScoutFailure(
                    "parameter_unexpected", f"The parameter `{unexpected[0]}` is not supported."
                )
            return self._list(data)
        except IScoutFailure as failure:
            return _failure(failure)

    async def method_not_found(self, request: Request) -> Response:
        return _failure(IScoutFailure("api_method_not_found"))

    def _forced_failure(self) -> None:
        controls = self.controls
        if controls.rate_limit_next > 0:
            controls.rate_limit_next -= 1
            raise IScoutFailure("rate_limit_exceeded")
        if controls.rate_limit_per_second and self._over_the_limit(controls.rate_limit_per_second):
            raise IScoutFailure("rate_limit_exceeded")
        if controls.error_next:
            raise IScoutFailure(controls.error_next.pop(0))

    def _over_the_limit(self, per_second: float) -> bool:
        now = time.monotonic()
        answered = self._answered
        while answered and answered[0] <= now - 1.0:
            answered.popleft()
        if len(answered) >= per_second:
            return True
        answered.append(now)
        return False

    def _authenticate(self, data: dict[str, Any]) -> None:
        token = data.get("token")
        if token is None or token == "":
            raise IScoutFailure("token_missing")
        if not isinstance(token, str) or not hmac.compare_digest(
            token.encode(), self.controls.credential.encode()
        ):
            # Echoing the token is iScout's own example; the connector must never pass it on.
            raise IScoutFailure("token_invalid", f"The token `{token}` was not found.")

    def _list(self, data: dict[str, Any]) -> Response:
        limit = _int_parameter(data, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        page = _int_parameter(data, "page", 1, 1, None)
        pretty = data.get("pretty", False)
        if not isinstance(pretty, bool):
            raise IScoutFailure("parameter_invalid", "The parameter `pretty` must be true or false.")
        filters = {name: data[name] for name in ("user_id", "training_id") if name in data}
        for name, value in filters.items():
            if not isinstance(value, str):
                raise IScoutFailure("parameter_invalid", f"The parameter `{name}` must be a string.")
        matches = sorted(
            self.state.completions_where(filters.get("user_id"), filters.get("training_id")),
            key=lambda c: (c.date_number, c.created_ms),
            reverse=True,  # newest first
        )
        window = matches[(page - 1) * limit : page * limit]
        body = {
            "ok": True,
            "completedtrainings": [_render(c) for c in window],
            "paging": {
                "page": page,
                "limit": limit,
                "total": len(matches),
                "last_page": max(1, math.ceil(len(matches) / limit)),
            },
        }
        return _answer(body, pretty)


def _int_parameter(data: dict[str, Any], name: str, default: int, low: int, high: int | None) -> int:
    value = data.get(name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise IScoutFailure("parameter_invalid", f"The parameter `{name}` must be an integer {bounds}.")
    return value


async def _request_data(request: Request) -> dict[str, Any]:
    """The request object: the JSON body, or (a GET without one) the query parameters."""
    raw = await request.body()
    if raw.strip():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise IScoutFailure("request_data_invalid") from None
        if not isinstance(data, dict):
            raise IScoutFailure("request_data_invalid")
        return data
    if request.method == "POST":
        return {}
    return {key: _query_value(key, value) for key, value in request.query_params.items()}


def _query_value(key: str, value: str) -> Any:
    # Query strings carry only text; read numbers and booleans the way the JSON object would hold them.
    if key in ("limit", "page") and value.lstrip("-").isdigit():
        return int(value)
    if key == "pretty" and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    return value


def create_app(world: World, controls: SandboxControls) -> ASGIApp:
    api = IScoutApi(world.iscout, controls)
    app = Starlette(
        routes=[
            Route("/completedtrainings.list", api.completed_trainings, methods=METHODS),
            Route("/{path:path}", api.method_not_found, methods=METHODS),
        ]
    )
    return ControlsMiddleware(app, controls, _error_body)
