"""`TrainingRecordsClient`: each Training Records endpoint declared once, answering `TrainingRecord`s.

    client = TrainingRecordsClient.connect(url, secret=SecretStr(token))
    window = await client.list_records(search="safety", limit=20)
    record = await client.update_record("rec-00001", date_completed=datetime.now(UTC))

Paths end in `/` and ids entering them pass `opaque_id`; writes are sent once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from gateway.native_ids import opaque_id
from gateway.sources import Source
from gateway.upstreams.auth import Auth, HeaderAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.paging import LimitOffsetPaging, Listing, PageRequest
from gateway.upstreams.paging.drivers import collect, fetch_window
from gateway.upstreams.records import parse_record, parse_records
from gateway.upstreams.training_records.errors import decode_training_records_error
from gateway.upstreams.training_records.records import UNSET, TrainingRecord, Unset

SOURCE = Source.TRAINING_RECORDS
RECORDS_PATH = "training/record/"
# DRF deployments cap `limit` (max_limit); a bare-array page cannot say it was cut short, so
# never ask for more than the common cap or a short page would look like the last one.
MAX_PAGE_SIZE = 100


def _record_path(api_id: str) -> str:
    return f"{RECORDS_PATH}{opaque_id(api_id, 'training record api_id')}/"


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


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
        person_api_id: str | Unset = UNSET,
        package_api_id: str | Unset = UNSET,
        date_started: datetime | None | Unset = UNSET,
        date_completed: datetime | None | Unset = UNSET,
    ) -> TrainingRecord:
        """PATCH: only the fields given are sent (None clears a date)."""
        body: dict[str, Any] = {}
        if not isinstance(person_api_id, Unset):
            body["person_api_id"] = person_api_id
        if not isinstance(package_api_id, Unset):
            body["package_api_id"] = package_api_id
        if not isinstance(date_started, Unset):
            body["date_started"] = _iso(date_started)
        if not isinstance(date_completed, Unset):
            body["date_completed"] = _iso(date_completed)
        _, updated = await self.http.write("PATCH", _record_path(api_id), json=body)
        return parse_record(SOURCE, TrainingRecord, updated)

    async def delete_record(self, api_id: str) -> None:
        await self.http.write("DELETE", _record_path(api_id))  # 204, no body

    def _listing(self, search: str | None) -> PageRequest:
        return PageRequest(RECORDS_PATH, params={"search": search} if search else {})
