"""TRAINING_RECORDS: an HR suite's Training Records API (seed 002), a Django REST framework service.

    client = TrainingRecordsClient.connect(url, secret=SecretStr(token))
    window = await client.list_records(search="safety", limit=20)
    record = await client.update_record("rec-00001", date_completed=datetime.now(UTC))

Quirks: every path ends in `/` (Django redirects GETs without it and loses writes); list pages
come as a bare array or as `{count, next, previous, results}` depending on the deployment; errors
are DRF bodies, `{"detail": "..."}` or field errors `{"field": ["message", ...]}`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr

from gateway.errors import UpstreamError, UpstreamMalformedResponse, UpstreamRejected, error_for_status
from gateway.native_ids import opaque_id
from gateway.sources import Source
from gateway.upstreams.auth import Auth, HeaderAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.paging import LimitOffsetPaging, Listing, PageRequest
from gateway.upstreams.paging.drivers import collect, fetch_window
from gateway.upstreams.records import Record, UpstreamDateTime, parse_record, parse_records

SOURCE = Source.TRAINING_RECORDS
RECORDS_PATH = "training/record/"
# DRF deployments cap `limit` (max_limit); a bare-array page cannot say it was cut short, so
# never ask for more than the common cap or a short page would look like the last one.
MAX_PAGE_SIZE = 100


class TrainingRecord(Record):
    api_id: str
    person_api_id: str | None = None
    package_api_id: str | None = None
    package_desc: str | None = None  # the package's description, copied in by the upstream
    date_assigned: UpstreamDateTime = None
    date_started: UpstreamDateTime = None
    date_completed: UpstreamDateTime = None


class TrainingRecordsRejected(UpstreamRejected):
    """A 400 carrying DRF field errors: `field_errors` maps a field (or `non_field_errors`) to its messages."""

    def __init__(self, source: str, message: str, *, field_errors: dict[str, list[str]]) -> None:
        super().__init__(source, message, status_code=400)
        self.field_errors = field_errors


class _Unset(enum.Enum):
    UNSET = "UNSET"


UNSET: Literal[_Unset.UNSET] = _Unset.UNSET
"""Marks a PATCH field as not sent (None clears a date; UNSET leaves it alone)."""


def _record_path(api_id: str) -> str:
    return f"{RECORDS_PATH}{opaque_id(api_id, 'training record api_id')}/"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


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


class TrainingRecordsClient(Connector):
    """Training Records: list/search, read, create, replace, patch and delete records."""

    source = SOURCE
    decode_error = staticmethod(decode_training_records_error)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return HeaderAuth("Authorization", secret, scheme="Bearer")

    # -- reads ----------------------------------------------------------------------------------

    async def list_records(
        self, *, search: str | None = None, limit: int = 100, offset: int = 0
    ) -> Listing[TrainingRecord]:
        paging = LimitOffsetPaging(page_size=max(1, min(limit, MAX_PAGE_SIZE)), offset=offset)
        window = await fetch_window(self.http, paging, self._listing(search), limit)
        return Listing(parse_records(SOURCE, TrainingRecord, window.items), window.total)

    async def all_records(
        self, *, search: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> list[TrainingRecord]:
        """Every record (matching `search`). With `count` in the first page the rest are read at once;
        a bare-array deployment says no count, so its pages are read one after another."""
        items = await collect(self.http, LimitOffsetPaging(page_size=page_size), self._listing(search))
        return parse_records(SOURCE, TrainingRecord, items)

    async def iter_records(
        self, *, search: str | None = None, page_size: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[TrainingRecord]:
        for record in await self.all_records(search=search, page_size=page_size):
            yield record

    async def get_record(self, api_id: str) -> TrainingRecord:
        return parse_record(SOURCE, TrainingRecord, await self.http.get_json(_record_path(api_id)))

    # -- writes (sent once, never retried) ------------------------------------------------------

    async def create_record(
        self,
        *,
        person_api_id: str,
        package_api_id: str,
        api_id: str | None = None,
        date_started: datetime | None = None,
        date_completed: datetime | None = None,
    ) -> TrainingRecord:
        body: dict[str, Any] = {"person_api_id": person_api_id, "package_api_id": package_api_id}
        if api_id is not None:
            # Checked like a path id: a record we create must be one we can address afterwards.
            body["api_id"] = opaque_id(api_id, "training record api_id")
        if date_started is not None:
            body["date_started"] = _iso(date_started)
        if date_completed is not None:
            body["date_completed"] = _iso(date_completed)
        _, created = await self.http.write("POST", RECORDS_PATH, json=body)
        return parse_record(SOURCE, TrainingRecord, created)

    async def replace_record(
        self,
        api_id: str,
        *,
        person_api_id: str,
        package_api_id: str,
        date_started: datetime | None = None,
        date_completed: datetime | None = None,
    ) -> TrainingRecord:
        """PUT: the whole record; dates left as None are cleared."""
        body = {
            "api_id": api_id,
            "person_api_id": person_api_id,
            "package_api_id": package_api_id,
            "date_started": _iso(date_started),
            "date_completed": _iso(date_completed),
        }
        _, updated = await self.http.write("PUT", _record_path(api_id), json=body)
        return parse_record(SOURCE, TrainingRecord, updated)

    async def update_record(
        self,
        api_id: str,
        *,
        person_api_id: str | _Unset = UNSET,
        package_api_id: str | _Unset = UNSET,
        date_started: datetime | None | _Unset = UNSET,
        date_completed: datetime | None | _Unset = UNSET,
    ) -> TrainingRecord:
        """PATCH: only the fields given are sent (None clears a date)."""
        body: dict[str, Any] = {}
        if not isinstance(person_api_id, _Unset):
            body["person_api_id"] = person_api_id
        if not isinstance(package_api_id, _Unset):
            body["package_api_id"] = package_api_id
        if not isinstance(date_started, _Unset):
            body["date_started"] = _iso(date_started)
        if not isinstance(date_completed, _Unset):
            body["date_completed"] = _iso(date_completed)
        _, updated = await self.http.write("PATCH", _record_path(api_id), json=body)
        return parse_record(SOURCE, TrainingRecord, updated)

    async def delete_record(self, api_id: str) -> None:
        await self.http.write("DELETE", _record_path(api_id))  # 204, no body

    def _listing(self, search: str | None) -> PageRequest:
        return PageRequest(RECORDS_PATH, params={"search": search} if search else {})
