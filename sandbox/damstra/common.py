"""What every DAMSTRA handler shares: the context, error bodies, paging, parameter parsing, date shapes."""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dates import parse_datetime
from sandbox.controls import SandboxControls
from sandbox.damstra.webhooks import Webhooks
from sandbox.world import (
    ROLE_ADMIN,
    DamstraGroupRow,
    DamstraILTSessionRow,
    DamstraLessonRow,
    DamstraScheduleRow,
    DamstraState,
    DamstraUserRow,
    World,
)

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 20  # the API document says "Default is 0", which would answer nothing at all
MAX_PAGE_SIZE = 1000
CLIENT_ID = 76  # the organisation id in the API document's getting-started example
OPEN_STATUSES = frozenset({"scheduled", "due", "overdue"})


@dataclass
class DamstraApi:
    """What the DAMSTRA handlers (`async def handler(api, request)`) answer from, as IScoutApi and the
    other vendors' apps do: the world they change, the controls they honour, the sandbox's clock."""

    world: World
    controls: SandboxControls
    webhooks: Webhooks
    started: float = field(default_factory=time.monotonic)

    @property
    def state(self) -> DamstraState:
        return self.world.damstra

    def now(self) -> datetime:
        # The world is seeded around its anchor, so "now" runs from there (a test may pin it).
        pinned = self.controls.pinned_now
        if pinned is not None:
            return pinned
        return self.world.anchor + timedelta(seconds=time.monotonic() - self.started)

    @property
    def api_user_id(self) -> int | None:
        """The account owning the access key: the first admin. Acts on writes that name no user."""
        admins = [u.id for u in self.state.users.values() if ROLE_ADMIN in u.roles]
        return min(admins) if admins else None

    def user(self, user_id: int) -> DamstraUserRow:
        found = self.state.users.get(user_id)
        if found is None:
            raise not_found("User", user_id)
        return found

    def group(self, group_id: int) -> DamstraGroupRow:
        found = self.state.groups.get(group_id)
        if found is None or not found.active:
            raise ApiError(
                404,
                {
                    "message": f"Group with id {group_id} not found",
                    "reason": "Group not found",
                    "internalCode": 842,
                    "statusCode": 404,
                },
            )
        return found

    def lesson(self, lesson_id: int) -> DamstraLessonRow:
        found = self.state.lessons.get(lesson_id)
        if found is None:
            raise not_found("Lesson", lesson_id)
        return found

    def schedule(self, schedule_id: int) -> DamstraScheduleRow:
        found = self.state.schedules.get(schedule_id)
        if found is None:
            raise ApiError(404, {"internalCode": 840, "error": "Lesson Schedule does not exist"})
        return found

    def session(self, session_id: int) -> DamstraILTSessionRow:
        found = self.state.ilt_sessions.get(session_id)
        if found is None:
            raise not_found("ILT Session", session_id)
        return found


# -- responses and errors -----------------------------------------------------------------------


class ApiError(Exception):
    """Answered as `body` with `status` by the app's exception handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("message") or body.get("error"))
        self.status = status
        self.body = body
        self.headers: dict[str, str] = {}


def error_body(status: int, message: str, reason: str) -> dict[str, Any]:
    """The API document's error style for the cases it gives no body of its own."""
    return {
        "message": message,
        "reason": reason,
        "internalCode": status,
        "error": HTTPStatus(status).phrase,
        "statusCode": status,
    }


def not_found(kind: str, ident: object) -> ApiError:
    return ApiError(404, error_body(404, f"{kind} with id {ident} not found", f"{kind} not found"))


def bad_request(message: str, reason: str = "Invalid request") -> ApiError:
    return ApiError(400, error_body(400, message, reason))


def method_not_allowed(request: Request, allowed: Sequence[str]) -> ApiError:
    error = ApiError(405, error_body(405, f"No {request.method} {request.url.path}", "Method Not Allowed"))
    error.headers = {"Allow": ", ".join(allowed)}
    return error


def conflict(message: str, reason: str) -> ApiError:
    return ApiError(409, error_body(409, message, reason))


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def empty_response() -> Response:
    """The API document's bare `HTTP/1.1 200 OK` answers."""
    return Response(b"", status_code=200, media_type="application/json")


Handler = Callable[[DamstraApi, Request], Awaitable[Response]]


def route(path: str, handler: Handler, api: DamstraApi, methods: Sequence[str] = ("GET",)) -> Route:
    return Route(path, functools.partial(handler, api), methods=list(methods))


# -- parameters ---------------------------------------------------------------------------------


def to_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise bad_request(f"{name} must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.strip().isascii():
        return int(value.strip())
    raise bad_request(f"{name} must be a number")


def path_id(request: Request, name: str) -> int:
    value = request.path_params[name]
    if not (isinstance(value, str) and value.isascii() and value.isdigit()):
        raise bad_request(f"{name} must be a number, not {value!r}", "Invalid id")
    return int(value)


def query_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    return to_int(value, name)


def query_list(request: Request, name: str) -> list[str]:
    """`a,b,c`, repeated parameters, or both."""
    return [
        part.strip() for raw in request.query_params.getlist(name) for part in raw.split(",") if part.strip()
    ]


def page_window(request: Request) -> tuple[int, int]:
    start = query_int(request, "startIndex") or 0
    size = query_int(request, "maxResults")
    size = DEFAULT_PAGE_SIZE if size is None else size
    if start < 0 or size < 0:
        raise bad_request("startIndex and maxResults must not be negative", "Invalid paging")
    return start, min(size, MAX_PAGE_SIZE)


def page_of(items: Sequence[T], request: Request) -> list[T]:
    start, size = page_window(request)
    return list(items[start : start + size])


def paged(items: Sequence[T], request: Request, render: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """`{"results": [...], "meta": {...}}`; `endIndex` is exclusive, as documented (0, 2 for two users)."""
    start, _ = page_window(request)
    window = page_of(items, request)
    return {
        "results": [render(item) for item in window],
        "meta": {"totalResultCount": len(items), "startIndex": start, "endIndex": start + len(window)},
    }


async def body_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON", "Invalid body") from None
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object", "Invalid body")
    return body


def field_int(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required", "Missing field")
        return None
    return to_int(value, name)


def field_str(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (required and value == ""):
        if required:
            raise bad_request(f"{name} is required", "Missing field")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string")
    return value


def field_bool(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad_request(f"{name} must be true or false")
    return value


def field_ints(body: dict[str, Any], name: str) -> list[int]:
    value = body.get(name)
    if not isinstance(value, list):
        raise bad_request(f"{name} must be a list of ids", "Missing field")
    return [to_int(item, name) for item in value]


def field_id_objects(body: dict[str, Any], name: str) -> list[int] | None:
    """The API document's `[{"id": 1}]` lists (a user's groups)."""
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad_request(f'{name} must be a list of {{"id": n}} objects')
    return [to_int(item.get("id"), f"{name}.id") for item in value]


def field_datetime(body: dict[str, Any], name: str, *, required: bool = False) -> datetime | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is required", "Missing field")
        return None
    try:
        parsed = parse_datetime(value)
    except (TypeError, ValueError):
        raise bad_request(f"{name} is not a date: {value!r}", "Invalid date") from None
    assert parsed is not None
    return parsed
