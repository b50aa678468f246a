"""`TrainingRecordsClient`: each Training Records endpoint declared once, answering `TrainingRecord`s.

    client = TrainingRecordsClient.connect(url, secret=SecretStr(token))
    window = await client.records(search="safety").window(limit=20)
    every = await client.records().all()
    record = await client.update_record("rec-00001", date_completed=datetime.now(UTC))

Paths end in `/` and ids entering them pass `opaque_id`; writes are sent once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from gateway.native_ids import opaque_id
from gateway.sources import Source
from gateway.upstreams.auth import Auth, HeaderAuth
from gateway.upstreams.connector import Connector
from gateway.upstreams.endpoints import ListEndpoint
from gateway.upstreams.paging import LimitOffsetPaging, Listing, PageRequest
from gateway.upstreams.records import parse_record
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


class TrainingRecordListing(ListEndpoint[TrainingRecord]):
    """`GET training/record/`: windows by `limit`/`offset`. Read whole, the pages after the first go
    at once when the first says its `count`; a bare-array deployment says none, so its pages are read
    one after another."""

    page_size = MAX_PAGE_SIZE

    def paging(self, page_size: int) -> LimitOffsetPaging:
        return LimitOffsetPaging(page_size=page_size)

    async def window(self, *, limit: int = 100, offset: int = 0) -> Listing[TrainingRecord]:
        paging = LimitOffsetPaging(page_size=max(1, min(limit, MAX_PAGE_SIZE)), offset=offset)
        return await self.read_window(paging, limit)


class TrainingRecordsClient(Connector):
    """Training Records: list/search, read, create, patch and delete records."""

    source = SOURCE
    decode_error = staticmethod(decode_training_records_error)

    async def probe(self) -> None:
        await self.records().window(limit=1)

    @staticmethod
    def auth(secret: SecretStr) -> Auth:
        return HeaderAuth("Authorization", secret, scheme="Bearer")

    # -- reads ----------------------------------------------------------------------------------

    def records(self, *, search: str | None = None) -> TrainingRecordListing:
        """Every record, or those matching the upstream's name `search`."""
        request = PageRequest(RECORDS_PATH, params={"search": search} if search else {})
        return TrainingRecordListing(self.http, TrainingRecord, request)

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

    async def replace_record(
        self,
        api_id: str,
        *,
        person_api_id: str,
        package_api_id: str,
        date_started: datetime | None,
        date_completed: datetime | None,
    ) -> TrainingRecord:
        """PUT: the record as a whole, every writable field sent (None: no date)."""
        body = {
            "api_id": opaque_id(api_id, "training record api_id"),
            "person_api_id": person_api_id,
            "package_api_id": package_api_id,
            "date_started": _iso(date_started),
            "date_completed": _iso(date_completed),
        }
        _, replaced = await self.http.write("PUT", _record_path(api_id), json=body)
        return parse_record(SOURCE, TrainingRecord, replaced)

    async def delete_record(self, api_id: str) -> None:
        await self.http.write("DELETE", _record_path(api_id))  # 204, no body


CONNECTOR = TrainingRecordsClient
