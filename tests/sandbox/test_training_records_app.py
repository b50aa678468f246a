"""The TRAINING_RECORDS sandbox app, spoken to with plain httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import httpx
import pytest

from gateway.sources import Source
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox
from tests.conftest import IN_PROCESS

BASE = IN_PROCESS + MOUNTS[Source.TRAINING_RECORDS]
AUTH = {"Authorization": f"Bearer {CREDENTIALS[Source.TRAINING_RECORDS]}"}


@pytest.fixture
async def client(sandbox_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE, headers=AUTH) as c:
        yield c


def records(sandbox: Sandbox) -> list[str]:
    return list(sandbox.world.training_records.records)


async def test_missing_and_wrong_credentials_answer_drf_401(client: httpx.AsyncClient) -> None:
    missing = await client.get("/training/record/", headers={"Authorization": ""})
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    assert missing.headers["www-authenticate"] == "Bearer"
    other_scheme = await client.get("/training/record/", headers={"Authorization": "Token abc"})
    assert other_scheme.json() == {"detail": "Authentication credentials were not provided."}
    wrong = await client.get("/training/record/", headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})


async def test_list_answers_the_paginated_object(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    ids = records(sandbox)
    first = (await client.get("/training/record/", params={"limit": 10})).json()
    assert first["count"] == len(ids)
    assert [r["api_id"] for r in first["results"]] == ids[:10]
    assert first["previous"] is None
    assert "offset=10" in first["next"] and first["next"].startswith(BASE + "/training/record/")
    second = (await client.get("/training/record/", params={"limit": 10, "offset": 10})).json()
    assert [r["api_id"] for r in second["results"]] == ids[10:20]
    assert second["previous"] is not None and "offset" not in second["previous"]
    last = (await client.get("/training/record/", params={"limit": 10, "offset": len(ids) - 3})).json()
    assert len(last["results"]) == 3 and last["next"] is None


async def test_list_answers_a_bare_array_when_switched(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.TRAINING_RECORDS].bare_array = True
    body = (await client.get("/training/record/", params={"limit": 5, "offset": 2})).json()
    assert isinstance(body, list)
    assert [r["api_id"] for r in body] == records(sandbox)[2:7]


async def test_limit_is_capped_and_bad_values_fall_back(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    for _ in range(30):
        await client.post("/training/record/", json={"person_api_id": "p-1", "package_api_id": "PKG-001"})
    assert len(records(sandbox)) > 100
    capped = (await client.get("/training/record/", params={"limit": 5000})).json()
    assert len(capped["results"]) == 100
    fallback = (await client.get("/training/record/", params={"limit": "x", "offset": "-4"})).json()
    assert len(fallback["results"]) == 100 and fallback["previous"] is None


async def test_search_matches_package_description_and_person(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = sandbox.world.training_records
    by_package = (await client.get("/training/record/", params={"search": "CODE of"})).json()["results"]
    assert by_package and all(r["package_desc"] == "Code of Conduct" for r in by_package)
    assert len(by_package) == sum(1 for r in state.records.values() if r.package_api_id == "PKG-001")
    by_person = (await client.get("/training/record/", params={"search": "person-00000"})).json()["results"]
    assert by_person and {r["person_api_id"] for r in by_person} == {"person-00000"}
    assert (await client.get("/training/record/", params={"search": "no such thing"})).json()["count"] == 0


async def test_get_one_record_with_seed_fields(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    record = sandbox.world.training_records.records["rec-00002"]
    body = (await client.get("/training/record/rec-00002/")).json()
    assert set(body) == {
        "api_id",
        "person_api_id",
        "package_api_id",
        "package_desc",
        "date_assigned",
        "date_started",
        "date_completed",
    }
    assert body["package_desc"] == sandbox.world.training_records.packages[record.package_api_id]
    assert body["date_assigned"].endswith("Z")
    assert datetime.fromisoformat(body["date_completed"]) == record.date_completed
    missing = await client.get("/training/record/nope/")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not found."})


async def test_create_generates_id_and_fills_package_and_assigned(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    response = await client.post(
        "/training/record/",
        json={
            "person_api_id": "person-00000",
            "package_api_id": "PKG-004",
            "date_started": "2026-10-01T09:00:00+02:00",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["package_desc"] == "Health and Safety"
    assert body["date_assigned"] and body["date_started"] == "2026-10-01T07:00:00Z"
    stored = sandbox.world.training_records.records[body["api_id"]]
    assert stored.person_api_id == "person-00000" and stored.date_completed is None

    chosen = await client.post(
        "/training/record/", json={"api_id": "my-id", "person_api_id": "p", "package_api_id": "PKG-001"}
    )
    assert chosen.json()["api_id"] == "my-id" and "my-id" in sandbox.world.training_records.records


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"package_api_id": "PKG-001"}, {"person_api_id": ["This field is required."]}),
        (
            {"person_api_id": "p", "package_api_id": "PKG-999"},
            {"package_api_id": ["Object with api_id=PKG-999 does not exist."]},
        ),
        (
            {"person_api_id": None, "package_api_id": "PKG-001"},
            {"person_api_id": ["This field may not be null."]},
        ),
        ({"person_api_id": "p", "package_api_id": "PKG-001", "date_started": "yesterday"}, None),
        ({"api_id": "rec-00001", "person_api_id": "p", "package_api_id": "PKG-001"}, None),
        ({"api_id": "../x", "person_api_id": "p", "package_api_id": "PKG-001"}, None),
    ],
)
async def test_create_rejects_with_field_errors(
    client: httpx.AsyncClient, sandbox: Sandbox, body: dict[str, object], errors: dict[str, list[str]] | None
) -> None:
    before = len(records(sandbox))
    response = await client.post("/training/record/", json=body)
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    else:
        field = "date_started" if "date_started" in body else "api_id"
        assert list(response.json()) == [field]
    assert len(records(sandbox)) == before


async def test_create_rejects_bad_json_and_non_objects(client: httpx.AsyncClient) -> None:
    broken = await client.post(
        "/training/record/", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and broken.json()["detail"].startswith("JSON parse error")
    listed = await client.post("/training/record/", json=[1])
    assert listed.status_code == 400 and "non_field_errors" in listed.json()


async def test_put_needs_the_full_body(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    partial = await client.put(
        "/training/record/rec-00002/", json={"person_api_id": "p", "package_api_id": "PKG-001"}
    )
    assert partial.status_code == 400
    assert partial.json() == {
        "date_started": ["This field is required."],
        "date_completed": ["This field is required."],
    }
    full = await client.put(
        "/training/record/rec-00002/",
        json={
            "person_api_id": "p",
            "package_api_id": "PKG-001",
            "date_started": None,
            "date_completed": None,
        },
    )
    assert full.status_code == 200 and full.json()["package_desc"] == "Code of Conduct"
    stored = sandbox.world.training_records.records["rec-00002"]
    assert (stored.person_api_id, stored.date_started, stored.date_completed) == ("p", None, None)


async def test_patch_changes_only_given_fields(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    before = sandbox.world.training_records.records["rec-00002"]
    response = await client.patch(
        "/training/record/rec-00002/", json={"date_completed": "2026-10-30T10:00:00Z"}
    )
    assert response.status_code == 200
    after = sandbox.world.training_records.records["rec-00002"]
    assert after.date_completed == datetime.fromisoformat("2026-10-30T10:00:00+00:00")
    assert (after.person_api_id, after.date_started) == (before.person_api_id, before.date_started)
    renamed = await client.patch("/training/record/rec-00002/", json={"api_id": "other"})
    assert renamed.status_code == 400 and "api_id" in renamed.json()


async def test_delete_answers_204_and_removes(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    response = await client.delete("/training/record/rec-00001/")
    assert response.status_code == 204 and response.content == b""
    assert "rec-00001" not in sandbox.world.training_records.records
    assert (await client.delete("/training/record/rec-00001/")).status_code == 404


async def test_missing_trailing_slash_redirects_gets_and_refuses_writes(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    listing = await client.get("/training/record", params={"limit": 2})
    assert listing.status_code == 301
    assert listing.headers["location"] == MOUNTS[Source.TRAINING_RECORDS] + "/training/record/?limit=2"
    one = await client.get("/training/record/rec-00001")
    assert one.headers["location"] == MOUNTS[Source.TRAINING_RECORDS] + "/training/record/rec-00001/"
    before = len(records(sandbox))
    write = await client.post("/training/record", json={"person_api_id": "p", "package_api_id": "PKG-001"})
    assert write.status_code == 404 and "trailing slash" in write.json()["detail"]
    assert (await client.delete("/training/record/rec-00001")).status_code == 404
    assert len(records(sandbox)) == before and "rec-00001" in sandbox.world.training_records.records


async def test_unknown_routes_and_methods(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/training/package/")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not found."})
    wrong = await client.post("/training/record/rec-00001/", json={})
    assert (wrong.status_code, wrong.json()) == (405, {"detail": 'Method "POST" not allowed.'})


async def test_injected_fault_uses_the_vendor_body(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.TRAINING_RECORDS].faults.fail_next = 1
    failed = await client.get("/training/record/")
    assert (failed.status_code, failed.json()) == (500, {"detail": "Internal server error"})
    assert (await client.get("/training/record/")).status_code == 200


# -- the world's lookups follow every write --------------------------------------------------------


async def test_a_person_search_follows_creates_replacements_deletes_and_direct_changes(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    state = sandbox.world.training_records

    async def found(search: str) -> list[str]:
        answer = await client.get("/training/record/", params={"search": search, "limit": 100})
        return [r["api_id"] for r in answer.json()["results"]]

    def scanned(person: str) -> list[str]:
        return [r.api_id for r in state.records.values() if person in r.person_api_id]

    moved = state.records["rec-00002"]
    before, after = moved.person_api_id, "person-77777"
    assert await found(before) == scanned(before) and "rec-00002" in scanned(before)

    made = await client.post("/training/record/", json={"person_api_id": after, "package_api_id": "PKG-003"})
    body = {"person_api_id": after, "package_api_id": moved.package_api_id}
    replaced = await client.put(
        "/training/record/rec-00002/", json={**body, "date_started": None, "date_completed": None}
    )
    assert replaced.status_code == 200
    assert "rec-00002" not in await found(before)
    # In the list's order: the replaced record kept its place, ahead of the one just made.
    assert await found(after) == ["rec-00002", made.json()["api_id"]] == scanned(after)
    assert await found(f"{after} pkg-003") == [made.json()["api_id"]]

    assert (await client.delete("/training/record/rec-00002/")).status_code == 204
    assert await found(after) == [made.json()["api_id"]]
    state.records["direct"] = replace(moved, api_id="direct", person_api_id=after)
    assert await found(after) == [made.json()["api_id"], "direct"]
