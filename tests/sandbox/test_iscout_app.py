"""The ISCOUT sandbox app, spoken to with plain httpx."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.sources import Source
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox
from tests.conftest import IN_PROCESS
from tests.server.processes import start_sandbox

BASE = IN_PROCESS + MOUNTS[Source.ISCOUT]
TOKEN = CREDENTIALS[Source.ISCOUT]
METHOD = "/completedtrainings.list"


@pytest.fixture
async def client(sandbox_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=sandbox_transport, base_url=BASE) as c:
        yield c


async def call(client: httpx.AsyncClient, **data: Any) -> dict[str, Any]:
    response = await client.post(METHOD, json={"token": TOKEN, **data})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_lists_completions_newest_first_with_paging(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    completions = sandbox.world.iscout.completions
    body = await call(client)
    assert body["ok"] is True
    assert body["paging"] == {"page": 1, "limit": 100, "total": len(completions), "last_page": 2}
    first = body["completedtrainings"][0]
    assert first["user_id"] == completions[0].user_id
    assert first["created"] == completions[0].created_ms and first["dateNumber"] == completions[0].date_number
    numbers = [c["dateNumber"] for c in body["completedtrainings"]]
    assert numbers == sorted(numbers, reverse=True)


async def test_optional_fields_appear_only_when_set(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    rows = (await call(client, limit=1000))["completedtrainings"]
    for row, completion in zip(rows, sandbox.world.iscout.completions, strict=True):
        assert ("specialExpirationDateNumber" in row) == (
            completion.special_expiration_date_number is not None
        )
        assert row.get("groupTraining_id") == completion.group_training_id
    assert any("specialExpirationDateNumber" not in row for row in rows)


async def test_pages_and_filters(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    completions = sandbox.world.iscout.completions
    page = await call(client, limit=10, page=3)
    assert [c["created"] for c in page["completedtrainings"]] == [c.created_ms for c in completions[20:30]]
    assert page["paging"]["last_page"] == -(-len(completions) // 10)
    beyond = await call(client, limit=10, page=99)
    assert beyond["ok"] is True and beyond["completedtrainings"] == []

    user = completions[0].user_id
    mine = (await call(client, user_id=user))["completedtrainings"]
    assert mine and all(c["user_id"] == user for c in mine)
    assert len(mine) == sum(1 for c in completions if c.user_id == user)
    training = completions[0].training_id
    both = (await call(client, user_id=user, training_id=training))["completedtrainings"]
    assert [c["training_id"] for c in both] == [training]


async def test_get_with_query_parameters_matches_post(client: httpx.AsyncClient) -> None:
    posted = await call(client, limit=5, page=2)
    got = await client.get(METHOD, params={"token": TOKEN, "limit": "5", "page": "2"})
    assert got.json() == posted


async def test_pretty_indents(client: httpx.AsyncClient) -> None:
    response = await client.post(METHOD, json={"token": TOKEN, "limit": 1, "pretty": True})
    assert response.text.startswith('{\n  "ok": true')
    plain = await client.post(METHOD, json={"token": TOKEN, "limit": 1})
    assert "\n" not in plain.text


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {}}, "token_missing"),
        ({"json": {"token": ""}}, "token_missing"),
        ({"json": {"token": TOKEN, "colour": "red"}}, "parameter_unexpected"),
        ({"json": {"token": TOKEN, "limit": 1001}}, "parameter_invalid"),
        ({"json": {"token": TOKEN, "limit": 0}}, "parameter_invalid"),
        ({"json": {"token": TOKEN, "page": 0}}, "parameter_invalid"),
        ({"json": {"token": TOKEN, "limit": "10"}}, "parameter_invalid"),
        ({"json": {"token": TOKEN, "user_id": 5}}, "parameter_invalid"),
        ({"json": {"token": TOKEN, "pretty": "yes"}}, "parameter_invalid"),
        ({"content": b"{not json"}, "request_data_invalid"),
        ({"content": b"[1, 2]"}, "request_data_invalid"),
    ],
)
async def test_errors_are_ok_false_on_200(
    client: httpx.AsyncClient, kwargs: dict[str, Any], error: str
) -> None:
    response = await client.post(METHOD, **kwargs)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False and body["error"] == error and body["description"]


async def test_token_invalid_echoes_the_token(client: httpx.AsyncClient) -> None:
    body = (await client.post(METHOD, json={"token": "guess-123"})).json()
    assert body == {
        "ok": False,
        "error": "token_invalid",
        "description": "The token `guess-123` was not found.",
    }


async def test_unknown_method_and_http_method(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/users.list", json={"token": TOKEN})
    assert (unknown.status_code, unknown.json()["error"]) == (200, "api_method_not_found")
    wrong = await client.put(METHOD, json={"token": TOKEN})
    assert (wrong.status_code, wrong.json()["error"]) == (200, "request_method_invalid")


async def test_rate_limit_switch_answers_that_many_requests(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.controls[Source.ISCOUT].rate_limit_next = 2
    assert (await call(client))["error"] == "rate_limit_exceeded"
    assert (await call(client))["error"] == "rate_limit_exceeded"
    assert (await call(client))["ok"] is True


async def test_forced_identifiers(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.ISCOUT].error_next = ["account_inactive"]
    body = await call(client)
    assert body["error"] == "account_inactive"
    assert body["description"] == "The request token was for an account that is not active."
    assert (await call(client))["ok"] is True


async def test_injected_fault_uses_the_vendor_body(client: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.controls[Source.ISCOUT].faults.fail_next = 1
    failed = await client.post(METHOD, json={"token": TOKEN})
    assert failed.status_code == 500
    assert failed.json()["ok"] is False and failed.json()["error"] == "server_error"


async def test_a_completion_added_to_the_world_is_listed_for_its_user(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    completions = sandbox.world.iscout.completions
    user = completions[-1].user_id
    before = (await call(client, user_id=user, limit=1000))["completedtrainings"]
    completions.append(replace(completions[0], user_id=user, date_number=30_000_101))  # a tests' direct write
    after = (await call(client, user_id=user, limit=1000))["completedtrainings"]
    assert len(after) == len(before) + 1 and after[0]["dateNumber"] == 30_000_101
    training = (await call(client, user_id=user, training_id=completions[0].training_id))[
        "completedtrainings"
    ]
    assert training[0]["dateNumber"] == 30_000_101


async def test_the_request_limit_when_set_refuses_calls_past_it_within_a_second(
    client: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.controls[Source.ISCOUT].rate_limit_per_second = 3
    answers = [await call(client, limit=1) for _ in range(5)]
    assert [a["ok"] for a in answers] == [True, True, True, False, False]
    assert answers[3] == {
        "ok": False,
        "error": "rate_limit_exceeded",
        "description": "This token is exceeding its request limit.",
    }
    await asyncio.sleep(1.05)  # the window has moved past the first three
    assert (await call(client, limit=1))["ok"] is True


def test_learngraph_sandbox_enforces_the_request_limit_it_is_given(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, "--iscout-request-limit", "3")
    try:
        url = sandbox.env["LEARNGRAPH_ISCOUT_URL"] + METHOD
        token = sandbox.env["LEARNGRAPH_ISCOUT_TOKEN"]
        with httpx.Client(timeout=10) as http:
            answers = [http.post(url, json={"token": token, "limit": 1}).json() for _ in range(5)]
    finally:
        sandbox.stop()
    assert [answer.get("error") for answer in answers].count("rate_limit_exceeded") >= 1
    assert all(answer["ok"] for answer in answers[:3])
