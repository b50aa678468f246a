"""TrainingRecordsClient against the TRAINING_RECORDS sandbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from pydantic import SecretStr

from gateway.errors import (
    InvalidNativeId,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.training_records.client import TrainingRecordsClient
from gateway.upstreams.training_records.errors import TrainingRecordsRejected, decode_training_records_error
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox
from sandbox.world import TrainingRecordRow

SOURCE = Source.TRAINING_RECORDS
Connect = Callable[..., Any]


@pytest.fixture
def client(connect: Connect) -> TrainingRecordsClient:
    made: TrainingRecordsClient = connect(TrainingRecordsClient, SOURCE)
    return made


def world_ids(sandbox: Sandbox) -> list[str]:
    return list(sandbox.world.training_records.records)


def log_paths(sandbox: Sandbox) -> list[str]:
    return [e.path for e in sandbox.controls[SOURCE].log.entries]


def add_records(sandbox: Sandbox, count: int) -> None:
    state = sandbox.world.training_records
    for n in range(count):
        api_id = f"extra-{n:03d}"
        state.records[api_id] = TrainingRecordRow(
            api_id, "person-x", "PKG-002", datetime(2026, 1, 1, tzinfo=UTC), None, None
        )


async def test_a_records_window_reads_typed_records_and_total(
    client: TrainingRecordsClient, sandbox: Sandbox
) -> None:
    listing = await client.records().window()
    ids = world_ids(sandbox)
    assert listing.total == len(ids)
    assert [r.api_id for r in listing.items] == ids
    record = next(r for r in listing.items if r.api_id == "rec-00002")
    stored = sandbox.world.training_records.records["rec-00002"]
    assert record.date_completed == stored.date_completed and record.date_completed is not None
    assert record.date_completed.tzinfo is not None
    assert record.package_desc == sandbox.world.training_records.packages[stored.package_api_id]


@pytest.mark.parametrize("bare_array", [False, True])
async def test_list_window_crosses_the_page_cap(
    client: TrainingRecordsClient, sandbox: Sandbox, bare_array: bool
) -> None:
    sandbox.controls[SOURCE].bare_array = bare_array
    add_records(sandbox, 60)
    ids = world_ids(sandbox)
    listing = await client.records().window(limit=120, offset=10)
    assert [r.api_id for r in listing.items] == ids[10:130]
    assert listing.total == (None if bare_array else len(ids))
    assert sandbox.controls[SOURCE].log.count("GET") == 2  # 100 (the cap), then the rest


@pytest.mark.parametrize("bare_array", [False, True])
async def test_iterating_the_records_follows_every_page(
    client: TrainingRecordsClient, sandbox: Sandbox, bare_array: bool
) -> None:
    sandbox.controls[SOURCE].bare_array = bare_array
    ids = world_ids(sandbox)
    seen = [r.api_id async for r in client.records().iterate(page_size=10)]
    assert seen == ids
    pages = -(-len(ids) // 10)
    # A bare array cannot say it ended on a full page; only a short page (or an empty one) does.
    extra = 1 if bare_array and len(ids) % 10 == 0 else 0
    assert sandbox.controls[SOURCE].log.count("GET") == pages + extra


async def test_all_records_are_read_the_pages_after_the_first_at_once(
    client: TrainingRecordsClient, sandbox: Sandbox
) -> None:
    add_records(sandbox, 150)
    ids = world_ids(sandbox)
    assert [r.api_id for r in await client.records().all(page_size=20)] == ids
    offsets = [int(parse_qs(e.query)["offset"][0]) for e in sandbox.controls[SOURCE].log.entries]
    assert offsets == list(range(0, len(ids), 20))  # every page once: the first, then the rest at once
    # Asked for more than the cap, the deployment cuts pages to 100: the rest are asked 100 at a time.
    sandbox.controls[SOURCE].log.clear()
    assert [r.api_id for r in await client.records().all(page_size=250)] == ids
    limits = [parse_qs(e.query)["limit"][0] for e in sandbox.controls[SOURCE].log.entries]
    assert limits == ["250"] + ["100"] * (len(limits) - 1) and len(limits) == -(-len(ids) // 100) > 2


async def test_search(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    listing = await client.records(search="person-00000").window()
    assert listing.items and {r.person_api_id for r in listing.items} == {"person-00000"}
    assert [r.api_id async for r in client.records(search="data protection").iterate()] == [
        r.api_id for r in sandbox.world.training_records.records.values() if r.package_api_id == "PKG-003"
    ]
    assert "search=person-00000" in sandbox.controls[SOURCE].log.entries[0].query


async def test_get_record_and_not_found(client: TrainingRecordsClient) -> None:
    record = await client.get_record("rec-00001")
    assert record.api_id == "rec-00001" and record.date_assigned is not None
    with pytest.raises(UpstreamNotFound) as caught:
        await client.get_record("rec-99999")
    assert caught.value.status_code == 404 and "Not found." in caught.value.message


async def test_every_path_carries_the_trailing_slash(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    await client.records().window(limit=1)
    await client.get_record("rec-00001")
    created = await client.create_record(person_api_id="p", package_api_id="PKG-001")
    await client.update_record(created.api_id, person_api_id="q")
    await client.delete_record(created.api_id)
    paths = log_paths(sandbox)
    assert len(paths) == 5 and all(p.endswith("/") for p in paths)


async def test_a_slashless_get_follows_the_redirect(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    body = await client.http.get_json("training/record/rec-00001", params={"x": "1"})
    assert body["api_id"] == "rec-00001"
    entries = sandbox.controls[SOURCE].log.entries
    assert [e.path for e in entries] == ["/training/record/rec-00001", "/training/record/rec-00001/"]
    assert entries[1].query == "x=1"


async def test_path_injection_is_refused_before_any_request(
    client: TrainingRecordsClient, sandbox: Sandbox
) -> None:
    for bad in ("../training/record", "rec-1/../../x", "a?b", "a#b", "%2e%2e", ".."):
        with pytest.raises(InvalidNativeId):
            await client.get_record(bad)
    with pytest.raises(InvalidNativeId):
        await client.delete_record("../rec-00001")
    with pytest.raises(InvalidNativeId):
        await client.create_record(person_api_id="p", package_api_id="PKG-001", api_id="x/y")
    assert sandbox.controls[SOURCE].log.entries == []


async def test_create_record_generates_an_id(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    started = datetime(2026, 10, 2, 9, 30, tzinfo=UTC)
    created = await client.create_record(
        person_api_id="person-00000", package_api_id="PKG-005", date_started=started
    )
    assert created.package_desc == "Equality and Diversity"
    assert created.date_started == started and created.date_assigned is not None
    stored = sandbox.world.training_records.records[created.api_id]
    assert (stored.person_api_id, stored.package_api_id, stored.date_started) == (
        "person-00000",
        "PKG-005",
        started,
    )
    assert orjson.loads(sandbox.controls[SOURCE].log.entries[0].body) == {
        "person_api_id": "person-00000",
        "package_api_id": "PKG-005",
        "date_started": "2026-10-02T09:30:00Z",
    }


async def test_create_record_with_a_chosen_id(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    completed = datetime(2026, 10, 3, 8, tzinfo=UTC)
    created = await client.create_record(
        person_api_id="p", package_api_id="PKG-001", api_id="hr-77", date_completed=completed
    )
    assert created.api_id == "hr-77"
    assert sandbox.world.training_records.records["hr-77"].date_completed == completed


async def test_create_record_rejected_with_field_errors(
    client: TrainingRecordsClient, sandbox: Sandbox
) -> None:
    before = len(world_ids(sandbox))
    with pytest.raises(TrainingRecordsRejected) as caught:
        await client.create_record(person_api_id="p", package_api_id="PKG-404")
    error = caught.value
    assert isinstance(error, UpstreamRejected) and error.status_code == 400
    assert error.field_errors == {"package_api_id": ["Object with api_id=PKG-404 does not exist."]}
    assert "package_api_id: Object with api_id=PKG-404 does not exist." in error.message
    with pytest.raises(TrainingRecordsRejected) as duplicate:
        await client.create_record(person_api_id="p", package_api_id="PKG-001", api_id="rec-00001")
    assert list(duplicate.value.field_errors) == ["api_id"]
    assert len(world_ids(sandbox)) == before


async def test_update_record_sends_only_the_given_fields(
    client: TrainingRecordsClient, sandbox: Sandbox
) -> None:
    before = sandbox.world.training_records.records["rec-00002"]
    done = before.date_assigned + timedelta(days=30)
    updated = await client.update_record("rec-00002", date_completed=done)
    assert updated.date_completed == done
    after = sandbox.world.training_records.records["rec-00002"]
    assert (after.date_completed, after.date_started, after.person_api_id) == (
        done,
        before.date_started,
        before.person_api_id,
    )
    entry = sandbox.controls[SOURCE].log.entries[0]
    assert entry.method == "PATCH" and set(orjson.loads(entry.body)) == {"date_completed"}

    cleared = await client.update_record("rec-00002", date_started=None)
    assert (
        cleared.date_started is None
        and sandbox.world.training_records.records["rec-00002"].date_started is None
    )


async def test_update_record_rejected(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    with pytest.raises(TrainingRecordsRejected) as caught:
        await client.update_record("rec-00002", package_api_id="nope")
    assert "package_api_id" in caught.value.field_errors
    with pytest.raises(UpstreamNotFound):
        await client.update_record("rec-99999", person_api_id="p")


async def test_delete_record(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    await client.delete_record("rec-00001")
    assert "rec-00001" not in sandbox.world.training_records.records
    with pytest.raises(UpstreamNotFound):
        await client.delete_record("rec-00001")


async def test_wrong_token_is_unauthorized_and_never_shown(connect: Connect) -> None:
    secret = "leaky-token-value"
    client: TrainingRecordsClient = connect(TrainingRecordsClient, SOURCE, secret=SecretStr(secret))
    with pytest.raises(UpstreamUnauthorized) as caught:
        await client.get_record("rec-00001")
    assert "Invalid token." in caught.value.message
    assert secret not in str(caught.value) and secret not in repr(caught.value)


async def test_reads_are_retried_and_writes_are_not(client: TrainingRecordsClient, sandbox: Sandbox) -> None:
    controls = sandbox.controls[SOURCE]
    controls.faults.fail_next = 2
    assert (await client.get_record("rec-00001")).api_id == "rec-00001"
    assert controls.log.count("GET") == 3

    controls.faults.fail_next = 1
    before = len(world_ids(sandbox))
    with pytest.raises(UpstreamUnavailable):
        await client.create_record(person_api_id="p", package_api_id="PKG-001")
    assert controls.log.count("POST") == 1 and len(world_ids(sandbox)) == before


async def test_timeout_over_loopback(sandbox: Sandbox, sandbox_address: str) -> None:
    controls = sandbox.controls[SOURCE]
    controls.faults.hang_next, controls.faults.hang_seconds = 1, 1.0
    client = TrainingRecordsClient.connect(
        sandbox_address + MOUNTS[SOURCE],
        secret=SecretStr(CREDENTIALS[SOURCE]),
        timeout_seconds=0.2,
        retry_attempts=1,
    )
    try:
        with pytest.raises(UpstreamTimeout):
            await client.get_record("rec-00001")
        assert (await client.get_record("rec-00001")).api_id == "rec-00001"
    finally:
        await client.aclose()


def _response(
    status: int, body: Any, method: str = "GET", path: str = "/tr/training/record/"
) -> httpx.Response:
    request = httpx.Request(method, "http://upstream.test" + path)
    return httpx.Response(status, json=body, request=request)


def test_decoder_reads_drf_bodies() -> None:
    detail = decode_training_records_error(SOURCE, _response(403, {"detail": "No."}), {"detail": "No."})
    assert type(detail).__name__ == "UpstreamForbidden"
    body = ["Dates are out of order."]
    listed = decode_training_records_error(SOURCE, _response(400, body, "POST"), body)
    assert isinstance(listed, TrainingRecordsRejected)
    assert listed.field_errors == {"non_field_errors": ["Dates are out of order."]}
    assert decode_training_records_error(SOURCE, _response(502, None), None) is None


def test_decoder_flags_a_listing_of_the_wrong_shape() -> None:
    body = {"detail": "ok"}
    error = decode_training_records_error(SOURCE, _response(200, body), body)
    assert isinstance(error, UpstreamMalformedResponse)
    ok: dict[str, Any] = {"count": 0, "next": None, "previous": None, "results": []}
    assert decode_training_records_error(SOURCE, _response(200, ok), ok) is None
    assert decode_training_records_error(SOURCE, _response(200, []), []) is None
