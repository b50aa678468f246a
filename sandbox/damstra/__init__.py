"""The DAMSTRA sandbox: Damstra Learning's public API v2 (docs/vendors.md) over the world's DAMSTRA state.

    app = create_app(world, SandboxControls(credential="sandbox-damstra-access-key"))

Routes are relative to the API's base URL (`https://app.velpic.com/api/v2` in production). Every
request carries the key in the `AccessKey` header. Lists page with `startIndex`/`maxResults`; writes
change the world and, when `controls.webhook_url` is set, post the documented webhook events.
"""

from __future__ import annotations

import hmac
import re
from http import HTTPStatus

import orjson
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.controls import ControlsMiddleware, SandboxControls
from sandbox.damstra import groups, ilt, lessons, schedules, users
from sandbox.damstra.common import ApiError, DamstraApi, error_body, json_response
from sandbox.damstra.webhooks import Webhooks
from sandbox.world import World

__all__ = ["create_app"]

# Where this API lives below the sandbox's address (as its production base URL ends), and its key.
MOUNT = "/damstra/api/v2"
CREDENTIAL = "sandbox-damstra-access-key"
INVALID_KEY = {
    "message": "AccessKey does not exist",
    "reason": "Invalid access key",
    "internalCode": 806,
    "error": "Invalid security token",
}


# The group endpoints' own 806 body ("Get Group", "List Groups").
TOKEN_NOT_VALID = {"internalCode": 806, "error": "Token not valid"}
# A valid key whose account is an EDITOR ("Editors have the ability to create and edit lessons"): it
# reads the catalogue, but the requests the document marks with 831 ("You are not authorised to make
# this request": managing users, inactivating a group, scheduling, completing) are not its to make.
EDITOR_CREDENTIAL = "sandbox-damstra-editor-access-key"
NOT_AUTHORISED = {"internalCode": 831, "error": "You are not authorised to make this request"}
# (method, path) of every endpoint whose section in the document lists the 831 answer.
NEEDS_MANAGE_RIGHTS = [
    (re.compile(method), re.compile(path))
    for method, path in (
        ("GET", r"/user/?"),
        ("GET", r"/user/\d+"),
        ("POST", r"/user"),
        ("POST|PUT", r"/user/\d+"),
        ("POST", r"/bulkUserImport"),
        ("POST", r"/user/\d+/(activate|inactivate)"),
        ("POST", r"/group/\d+/inactivate"),
        ("POST", r"/user/\d+/lesson_schedule"),
        ("POST", r"/lesson_schedule/\d+/complete_lesson"),
    )
]


class AccessKeyMiddleware:
    """Answers 806 unless the `AccessKey` header holds the sandbox's key (read per request: tests rotate
    it) or the editor's, and 831 to the editor's key where the document lists that answer."""

    def __init__(self, app: ASGIApp, controls: SandboxControls) -> None:
        self.app = app
        self.controls = controls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = Headers(scope=scope).get("accesskey", "").encode()
            path = scope["path"].removeprefix(scope.get("root_path", ""))
            if hmac.compare_digest(given, EDITOR_CREDENTIAL.encode()):
                if any(m.fullmatch(scope["method"]) and p.fullmatch(path) for m, p in NEEDS_MANAGE_RIGHTS):
                    await json_response(NOT_AUTHORISED, 403)(scope, receive, send)
                    return
            elif not hmac.compare_digest(given, self.controls.credential.encode()):
                body = TOKEN_NOT_VALID if path.startswith("/group") else INVALID_KEY
                await json_response(body, 401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response(exc.body, exc.status, exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and methods answer in the API's JSON error style, not Starlette's plain text.
    assert isinstance(exc, HTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    message = f"No {request.method} {request.url.path}" if exc.status_code in (404, 405) else str(exc.detail)
    return json_response(error_body(exc.status_code, message, phrase), exc.status_code)


def fault_body(status: int) -> tuple[bytes, str]:
    """The API document's 500 body, for the failures the controls inject."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return orjson.dumps({"internalCode": status, "error": phrase}), "application/json"


def create_app(world: World, controls: SandboxControls) -> ASGIApp:
    api = DamstraApi(world, controls, Webhooks(controls))
    app = Starlette(
        routes=[
            *users.routes(api),
            *groups.routes(api),
            *lessons.routes(api),
            *schedules.routes(api),
            *ilt.routes(api),
        ],
        middleware=[Middleware(AccessKeyMiddleware, controls=controls)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
    return ControlsMiddleware(app, controls, fault_body)
