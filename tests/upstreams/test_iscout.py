"""IScoutClient against the ISCOUT sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from gateway.errors import (
    UpstreamError,
    UpstreamForbidden,
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.iscout.errors import IScoutAccountInactive, decode_iscout_error
from gateway.upstreams.iscout.records import IScoutPage
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox

SOURCE = Source.ISCOUT
Connect = Callable[..., Any]


@pytest.fixture
def client(connect: Connect) -> IScoutClient:
    made: IScoutClient = connect(IScoutClient, SOURCE)
    return made


def sent_bodies(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [orjson.loads(e.body) for e in sandbox.controls[SOURCE].log.entries]


async def test_a_page_of_completions_reads_typed_records(client: IScoutClient, sandbox: Sandbox) -> None:
    completions = sandbox.world.iscout.completions
    page = await client.completions().page()
    assert isinstance(page, IScoutPage)
    assert (page.total, page.page, page.last_page) == (len(completions), 1, 2)
    days = [r.completed_on or date.min for r in page.items]
    assert days == sorted(days, reverse=True)  # newest first
    first, world_first = page.items[0], completions[0]
    assert first.user_id == world_first.user_id and first.training_id == world_first.training_id
    assert first.created is not None and int(first.created.timestamp() * 1000) == world_first.created_ms
    assert first.completed_on == date(2026, 10, 25) and world_first.date_number == 20261025
    assert first.group_training_id == world_first.group_training_id
    with_expiry = next(c for c in completions if c.special_expiration_date_number)
    record = next(
        r for r in page.items if r.created and int(r.created.timestamp() * 1000) == with_expiry.created_ms
    )
    assert record.expires_on is not None and with_expiry.special_expiration_date_number is not None
    assert int(record.expires_on.strftime("%Y%m%d")) == with_expiry.special_expiration_date_number
    assert any(r.expires_on is None for r in page.items)


async def test_token_rides_in_the_post_body(client: IScoutClient, sandbox: Sandbox) -> None:
    await client.completions().page(limit=5, page=2)
    entry = sandbox.controls[SOURCE].log.entries[0]
    assert (entry.method, entry.path, entry.query) == ("POST", "/completedtrainings.list", "")
    assert orjson.loads(entry.body) == {"token": CREDENTIALS[SOURCE], "limit": 5, "page": 2}


async def test_a_page_and_filters(client: IScoutClient, sandbox: Sandbox) -> None:
    completions = sandbox.world.iscout.completions
    page = await client.completions().page(limit=10, page=3)
    assert [r.user_id for r in page.items] == [c.user_id for c in completions[20:30]]
    assert page.last_page == -(-len(completions) // 10)

    user, training = completions[0].user_id, completions[0].training_id
    mine = await client.completions(user_id=user).page()
    assert mine.items and {r.user_id for r in mine.items} == {user}
    both = await client.completions(user_id=user, training_id=training).page()
    assert [(r.user_id, r.training_id) for r in both.items] == [(user, training)]
    assert sent_bodies(sandbox)[-1]["training_id"] == training


async def test_iterating_completions_crosses_pages(client: IScoutClient, sandbox: Sandbox) -> None:
    completions = sandbox.world.iscout.completions
    seen = [r async for r in client.completions().iterate(page_size=50)]
    assert [(r.user_id, r.training_id) for r in seen] == [(c.user_id, c.training_id) for c in completions]
    assert [b["page"] for b in sent_bodies(sandbox)] == [1, 2, 3]
    assert all(b["limit"] == 50 for b in sent_bodies(sandbox))


async def test_iterating_completions_filters(client: IScoutClient, sandbox: Sandbox) -> None:
    training = sandbox.world.iscout.completions[0].training_id
    seen = [r async for r in client.completions(training_id=training).iterate()]
    assert len(seen) == sum(1 for c in sandbox.world.iscout.completions if c.training_id == training)
    assert sandbox.controls[SOURCE].log.count() == 1


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("token_missing", UpstreamUnauthorized),
        ("token_invalid", UpstreamUnauthorized),
        ("token_inactive", UpstreamUnauthorized),
        ("token_permission", UpstreamForbidden),
        ("account_inactive", IScoutAccountInactive),
        ("rate_limit_exceeded", UpstreamRateLimited),
        ("parameter_unexpected", UpstreamRejected),
        ("parameter_missing", UpstreamRejected),
        ("parameter_invalid", UpstreamRejected),
        ("request_data_invalid", UpstreamRejected),
        ("request_method_invalid", UpstreamRejected),
        ("api_method_not_found", UpstreamRejected),
        ("content_not_found", UpstreamNotFound),
        ("server_error", UpstreamUnavailable),
    ],
)
async def test_each_identifier_maps_onto_the_tree(
    connect: Connect, sandbox: Sandbox, identifier: str, expected: type[UpstreamError]
) -> None:
    sandbox.controls[SOURCE].error_next = [identifier]
    client: IScoutClient = connect(IScoutClient, SOURCE, retry_attempts=1)
    with pytest.raises(UpstreamError) as caught:
        await client.completions().page()
    assert type(caught.value) is expected
    assert caught.value.upstream_code == identifier and caught.value.status_code == 200


async def test_account_inactive_is_unavailable_but_not_retried(
    client: IScoutClient, sandbox: Sandbox
) -> None:
    sandbox.controls[SOURCE].error_next = ["account_inactive"] * 3
    with pytest.raises(UpstreamUnavailable) as caught:
        await client.completions().page()
    assert caught.value.code == "UPSTREAM_UNAVAILABLE"
    assert sandbox.controls[SOURCE].log.count() == 1


async def test_real_rejections_from_the_sandbox(client: IScoutClient, sandbox: Sandbox) -> None:
    with pytest.raises(UpstreamRejected) as caught:
        await client.completions().page(limit=1001)
    assert caught.value.upstream_code == "parameter_invalid" and "limit" in caught.value.message
    assert sandbox.controls[SOURCE].log.count() == 1  # a refusal is not retried


async def test_token_invalid_never_leaks_the_token(connect: Connect, sandbox: Sandbox) -> None:
    secret = "leaky-iscout-token"
    client: IScoutClient = connect(IScoutClient, SOURCE, secret=SecretStr(secret))
    with pytest.raises(UpstreamUnauthorized) as caught:
        await client.completions().page()
    assert caught.value.upstream_code == "token_invalid"
    # The sandbox did echo it: the connector must be what kept it out.
    assert secret in sandbox.controls[SOURCE].log.entries[0].body.decode()
    for text in (str(caught.value), repr(caught.value), caught.value.message, str(caught.value.extensions())):
        assert secret not in text


async def test_rate_limit_is_retried_then_succeeds(client: IScoutClient, sandbox: Sandbox) -> None:
    sandbox.controls[SOURCE].rate_limit_next = 2
    page = await client.completions().page(limit=3)
    assert len(page.items) == 3
    assert sandbox.controls[SOURCE].log.count("POST", "/completedtrainings.list") == 3


async def test_rate_limit_gives_up_after_the_attempts(client: IScoutClient, sandbox: Sandbox) -> None:
    sandbox.controls[SOURCE].rate_limit_next = 5
    with pytest.raises(UpstreamRateLimited):
        await client.completions().page()
    assert sandbox.controls[SOURCE].log.count() == 3


async def test_rate_limit_mid_iteration_is_retried(client: IScoutClient, sandbox: Sandbox) -> None:
    iterator = client.completions().iterate(page_size=100)
    first = [await anext(iterator) for _ in range(100)]
    sandbox.controls[SOURCE].rate_limit_next = 1
    rest = [r async for r in iterator]
    assert len(first) + len(rest) == len(sandbox.world.iscout.completions)
    assert sandbox.controls[SOURCE].log.count() == 3


async def test_injected_server_error_is_retried(client: IScoutClient, sandbox: Sandbox) -> None:
    sandbox.controls[SOURCE].faults.fail_next = 1
    assert (await client.completions().page(limit=1)).items
    assert sandbox.controls[SOURCE].log.count() == 2


async def test_timeout_over_loopback(sandbox: Sandbox, sandbox_address: str) -> None:
    controls = sandbox.controls[SOURCE]
    controls.faults.hang_next, controls.faults.hang_seconds = 1, 1.0
    client = IScoutClient.connect(
        sandbox_address + MOUNTS[SOURCE],
        secret=SecretStr(CREDENTIALS[SOURCE]),
        timeout_seconds=0.2,
        retry_attempts=1,
    )
    try:
        with pytest.raises(UpstreamTimeout):
            await client.completions().page()
        assert (await client.completions().page(limit=2)).items
    finally:
        await client.aclose()


async def test_total_from_last_page_when_the_upstream_sends_none() -> None:
    # Real iScout documents only `paging.last_page`; a stand-in upstream that sends no total.
    def answer(request: httpx.Request) -> httpx.Response:
        page = orjson.loads(request.content)["page"]
        rows = [{"user_id": "u", "training_id": "t", "created": 1476718840233, "dateNumber": 20190101}]
        return httpx.Response(
            200,
            json={
                "ok": True,
                "completedtrainings": rows * (2 if page == 1 else 1),
                "paging": {"last_page": 2},
            },
        )

    client = IScoutClient.connect(
        "http://iscout.test/v1", secret=SecretStr("t"), transport=httpx.MockTransport(answer)
    )
    try:
        first = await client.completions().page(limit=2, page=1)
        last = await client.completions().page(limit=2, page=2)
    finally:
        await client.aclose()
    assert (first.total, first.last_page) == (None, 2)
    assert (last.total, last.last_page) == (3, 2)
    assert last.items[0].completed_on == date(2019, 1, 1)


def _response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", "http://iscout.test/v1/x"))


@pytest.mark.parametrize(
    "body",
    [
        {"ok": True},
        {"ok": True, "completedtrainings": None},
        {"ok": "yes", "completedtrainings": []},
        [],
        None,
    ],
)
def test_decoder_flags_bodies_without_the_list(body: Any) -> None:
    assert isinstance(decode_iscout_error(SOURCE, _response(200, body), body), UpstreamMalformedResponse)


def test_decoder_reads_ok_false_on_any_status_and_leaves_others_to_http() -> None:
    body = {"ok": False, "error": "rate_limit_exceeded"}
    assert isinstance(decode_iscout_error(SOURCE, _response(429, body), body), UpstreamRateLimited)
    unknown = {"ok": False, "error": "brand_new_error", "description": "?"}
    error = decode_iscout_error(SOURCE, _response(200, unknown), unknown)
    assert isinstance(error, UpstreamRejected) and error.upstream_code == "brand_new_error"
    assert decode_iscout_error(SOURCE, _response(502, None), None) is None
    ok: dict[str, Any] = {"completedtrainings": []}
    assert decode_iscout_error(SOURCE, _response(200, ok), ok) is None


async def test_a_pace_under_the_tokens_request_limit_never_trips_it(
    connect: Connect, sandbox: Sandbox
) -> None:
    # The sandbox enforces a request limit as the document describes it (rate_limit_exceeded); a burst
    # of distinct reads trips it, the same reads paced under it (LEARNGRAPH_ISCOUT_MAX_RPS) never do.
    controls = sandbox.controls[SOURCE]
    controls.rate_limit_per_second = 10
    burst: IScoutClient = connect(IScoutClient, SOURCE, retry_attempts=1)
    answers = await asyncio.gather(
        *(burst.completions(user_id=f"u{n}").page(limit=1) for n in range(12)), return_exceptions=True
    )
    assert sum(isinstance(answer, UpstreamRateLimited) for answer in answers) == 2
    await asyncio.sleep(1.05)
    controls.log.clear()
    paced: IScoutClient = connect(IScoutClient, SOURCE, retry_attempts=1, max_rps=6)
    pages = await asyncio.gather(*(paced.completions(user_id=f"u{n}").page(limit=1) for n in range(12)))
    assert len(pages) == 12 and controls.log.count() == 12
