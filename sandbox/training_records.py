"""The TRAINING_RECORDS sandbox: Training Records API (docs/vendors.md) as Django REST framework serves it.

    app = create_app(world, controls)      # routes relative to the base URL (before `/training/record/`)
    controls.bare_array = True             # list pages as a bare JSON array instead of {count, next, ...}

DRF behaviour mirrored: `Authorization: Bearer` token authentication answering 401 `{"detail": ...}`,
limit/offset pagination, SearchFilter (every term must match one field, case-insensitive), field
errors as `{"field": ["message"]}`, datetimes rendered ISO 8601 with `Z`, and Django's APPEND_SLASH.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from sandbox.controls import ControlsMiddleware, SandboxControls
from sandbox.instants import remembered
from sandbox.world import TrainingRecordRow, TrainingRecordsState, World

# Where this API lives below the sandbox's address (as its production base URL ends), and its key.
MOUNT = "/training-records"
CREDENTIAL = "sandbox-training-records-token"
DEFAULT_LIMIT = 100
MAX_LIMIT = 100  # DRF's LimitOffsetPagination.max_limit: a larger `limit` is cut down to it
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
API_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a DRF SlugField
DATETIME_FORMAT_ERROR = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
FieldErrors = dict[str, list[str]]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _detail(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return _json({"detail": message}, status, headers)


def _error_body(status: int) -> tuple[bytes, str]:
    return orjson.dumps({"detail": "Internal server error"}), "application/json"


@remembered
def _iso(value: datetime) -> str:
    # DRF's DateTimeField: isoformat() in UTC, with `+00:00` written as `Z`.
    text = value.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class TrainingRecordsApi:
    def __init__(self, state: TrainingRecordsState, controls: SandboxControls) -> None:
        self.state = state
        self.controls = controls

    # -- routes ---------------------------------------------------------------------------------

    async def collection(self, request: Request) -> Response:
        # DRF authenticates before it looks at the method, so a bad token wins over a 405.
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if request.method in ("GET", "HEAD"):
            return self._list(request)
        if request.method == "POST":
            return await self._create(request)
        return _method_not_allowed(request.method, "GET, POST, HEAD")

    async def member(self, request: Request) -> Response:
        denied = self._authenticate(request)
        if denied is not None:
            return denied
        if request.method not in ("GET", "HEAD", "PUT", "PATCH", "DELETE"):
            return _method_not_allowed(request.method, "GET, PUT, PATCH, DELETE, HEAD")
        record = self.state.records.get(request.path_params["api_id"])
        if record is None:
            return _detail("Not found.", 404)
        if request.method == "DELETE":
            del self.state.records[record.api_id]
            return Response(status_code=204)
        if request.method in ("PUT", "PATCH"):
            return await self._update(request, record, partial=request.method == "PATCH")
        return _json(self._render(record))

    async def append_slash(self, request: Request) -> Response:
        """Django's APPEND_SLASH: a GET without the trailing slash is redirected to the slashed URL.

        Writes are not redirected: a 301 makes clients replay a POST/PUT/PATCH as a GET (httpx and
        browsers do), so the write would vanish behind a 200 from the listing. Django itself raises
        in DEBUG for this; the sandbox answers 404, which is what the unslashed URL is.
        """
        if request.method in ("GET", "HEAD"):
            location = quote(request.url.path + "/")
            if request.url.query:
                location += "?" + request.url.query
            return Response(status_code=301, headers={"Location": location})
        return _detail(
            f"Not found. {request.method} needs the trailing slash ({request.url.path}/): "
            "writes are not redirected.",
            404,
        )

    # -- handlers -------------------------------------------------------------------------------

    def _list(self, request: Request) -> Response:
        params = request.query_params
        terms = params.get("search", "").replace(",", " ").lower().split()
        matches = self._search(terms)
        limit = _positive_int(params.get("limit"), DEFAULT_LIMIT, strict=True, cutoff=MAX_LIMIT)
        offset = _positive_int(params.get("offset"), 0)
        results = [self._render(r) for r in matches[offset : offset + limit]]
        if self.controls.bare_array:
            return _json(results)
        body = {
            "count": len(matches),
            "next": _page_url(request, limit, offset + limit) if offset + limit < len(matches) else None,
            "previous": _page_url(request, limit, max(0, offset - limit)) if offset > 0 else None,
            "results": results,
        }
        return _json(body)

    async def _create(self, request: Request) -> Response:
        data = await _request_data(request)
        if isinstance(data, Response):
            return data
        values, errors = self._validate(data, required=("person_api_id", "package_api_id"))
        if values.get("api_id") in self.state.records:
            errors["api_id"] = ["training record with this api id already exists."]
        if errors:
            return _json(errors, 400)
        api_id = values.get("api_id") or self._new_api_id()  # its document: generated when not given
        record = TrainingRecordRow(
            api_id=api_id,
            person_api_id=values["person_api_id"],
            package_api_id=values["package_api_id"],
            date_assigned=datetime.now(UTC),
            date_started=values.get("date_started"),
            date_completed=values.get("date_completed"),
        )
        self.state.records[api_id] = record
        return _json(self._render(record), 201)

    async def _update(self, request: Request, record: TrainingRecordRow, *, partial: bool) -> Response:
        data = await _request_data(request)
        if isinstance(data, Response):
            return data
        # PUT replaces the whole record, so every writable field must be sent (nulls allowed for dates).
        required = () if partial else ("person_api_id", "package_api_id", "date_started", "date_completed")
        values, errors = self._validate(data, required=required)
        if values.get("api_id", record.api_id) != record.api_id:
            errors["api_id"] = ["The api_id of an existing record cannot be changed."]
        if errors:
            return _json(errors, 400)
        values.pop("api_id", None)
        updated = replace(record, **values)
        self.state.records[record.api_id] = updated
        return _json(self._render(updated))

    # -- helpers --------------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Response | None:
        # DRF TokenAuthentication with keyword "Bearer".
        parts = request.headers.get("authorization", "").split()
        challenge = {"WWW-Authenticate": "Bearer"}
        if not parts or parts[0].lower() != "bearer":
            return _detail("Authentication credentials were not provided.", 401, challenge)
        if len(parts) == 1:
            return _detail("Invalid token header. No credentials provided.", 401, challenge)
        if len(parts) > 2:
            return _detail("Invalid token header. Token string should not contain spaces.", 401, challenge)
        if not hmac.compare_digest(parts[1].encode(), self.controls.credential.encode()):
            return _detail("Invalid token.", 401, challenge)
        return None

    def _search(self, terms: list[str]) -> list[TrainingRecordRow]:
        """The records every term matches (in the package's description, the package id or the person
        id, case-insensitively), in the list's order. Terms are tried on each distinct person and
        package, not on every record: a few thousand people, ten packages."""
        records = self.state.records
        found: set[str] | None = None
        for term in terms:
            hits: set[str] = set()
            for person in records.indexed_values("person"):
                if term in str(person).lower():
                    hits.update(records.keys_where("person", person))
            for package in records.indexed_values("package"):
                if term in self.state.packages.get(str(package), "").lower() or term in str(package).lower():
                    hits.update(records.keys_where("package", package))
            found = hits if found is None else found & hits
        if found is None:
            return list(records.values())
        return [records[api_id] for api_id in records.in_order(found)]

    def _render(self, record: TrainingRecordRow) -> dict[str, Any]:
        return {
            "api_id": record.api_id,
            "person_api_id": record.person_api_id,
            "package_api_id": record.package_api_id,
            "package_desc": self.state.packages.get(record.package_api_id),
            "date_assigned": _iso(record.date_assigned),
            "date_started": _iso(record.date_started),
            "date_completed": _iso(record.date_completed),
        }

    def _new_api_id(self) -> str:
        api_id = self.state.new_api_id()
        while api_id in self.state.records:
            api_id = self.state.new_api_id()
        return api_id

    def _validate(
        self, data: dict[str, Any], *, required: tuple[str, ...]
    ) -> tuple[dict[str, Any], FieldErrors]:
        """The serializer: known writable fields only (others, like `package_desc`, are ignored)."""
        values: dict[str, Any] = {}
        errors: FieldErrors = {}
        for name in required:
            if name not in data:
                errors[name] = ["This field is required."]
        for name in ("api_id", "person_api_id", "package_api_id"):
            if name not in data:
                continue
            error = self._string_error(name, data[name])
            if error is not None:
                errors[name] = [error]
            elif data[name] is not None:
                values[name] = data[name]
        for name in ("date_started", "date_completed"):
            if name not in data:
                continue
            try:
                values[name] = _parse_datetime(data[name])
            except ValueError:
                errors[name] = [DATETIME_FORMAT_ERROR]
        return values, errors

    def _string_error(self, name: str, value: Any) -> str | None:
        if value is None:
            # api_id may be left out or null: the server then generates one.
            return None if name == "api_id" else "This field may not be null."
        if not isinstance(value, str):
            return "Not a valid string."
        if not value.strip():
            return "This field may not be blank."
        if name == "api_id" and not API_ID.fullmatch(value):
            return "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."
        if name == "package_api_id" and value not in self.state.packages:
            return f"Object with api_id={value} does not exist."
        return None


def _parse_datetime(value: Any) -> datetime | None:
    """None for null, else an aware datetime; ValueError when it is not ISO 8601."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("not a string")
    parsed = datetime.fromisoformat(value.strip())
    # Naive input is taken in the server's zone, which for this deployment is UTC.
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


async def _request_data(request: Request) -> dict[str, Any] | Response:
    """DRF's JSONParser: the body as a dict, or the 400/415 DRF would answer."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    raw = await request.body()
    if not raw.strip():
        return {}
    if content_type != "application/json":
        return _detail(f'Unsupported media type "{content_type}" in request.', 415)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _detail(f"JSON parse error - {exc}", 400)
    if not isinstance(data, dict):
        kind = type(data).__name__
        return _json({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}, 400)
    return data


def _positive_int(raw: str | None, default: int, *, strict: bool = False, cutoff: int | None = None) -> int:
    # DRF's pagination._positive_int: a bad value falls back to the default instead of erroring.
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    if value < 0 or (strict and value == 0):
        return default
    return min(value, cutoff) if cutoff is not None else value


def _page_url(request: Request, limit: int, offset: int) -> str:
    params = dict(request.query_params)
    params["limit"] = str(limit)
    if offset:
        params["offset"] = str(offset)
    else:
        params.pop("offset", None)  # DRF drops offset=0 from `previous`
    return str(request.url.replace_query_params(**params))


def _method_not_allowed(method: str, allow: str) -> Response:
    return _detail(f'Method "{method}" not allowed.', 405, {"Allow": allow})


async def _not_found(request: Request) -> Response:
    return _detail("Not found.", 404)


def create_app(world: World, controls: SandboxControls) -> ASGIApp:
    api = TrainingRecordsApi(world.training_records, controls)
    app = Starlette(
        routes=[
            Route("/training/record/", api.collection, methods=METHODS),
            Route("/training/record/{api_id}/", api.member, methods=METHODS),
            Route("/training/record", api.append_slash, methods=METHODS),
            Route("/training/record/{api_id}", api.append_slash, methods=METHODS),
            Route("/{path:path}", _not_found, methods=METHODS),
        ]
    )
    return ControlsMiddleware(app, controls, _error_body)
