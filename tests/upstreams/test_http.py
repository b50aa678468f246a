"""UpstreamHTTP against tiny inline upstreams: auth, redirects, retries, de-duplication, redaction."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import (
    UpstreamMalformedResponse,
    UpstreamNotFound,
    UpstreamRejected,
    UpstreamRequestInvalid,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from gateway.sources import Source
from gateway.upstreams.auth import BodyAuth, HeaderAuth, QueryAuth
from gateway.upstreams.http import MAX_URL_LENGTH, UpstreamHTTP
from gateway.upstreams.retries import retry_delay
from sandbox.server import serve_on_loopback
from tests.upstreams.inline_upstream import SECRET, Upstream, client, no_vendor_errors


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


async def test_each_auth_style_carries_the_credential(upstream: Upstream) -> None:
    body = await client(upstream).get_json("/items")
    assert body["headers"]["accesskey"] == SECRET
    bearer = client(upstream, HeaderAuth("Authorization", SecretStr(SECRET), scheme="Bearer"))
    assert (await bearer.get_json("items"))["headers"]["authorization"] == f"Bearer {SECRET}"
    query = client(upstream, QueryAuth("token", SecretStr(SECRET)))
    assert (await query.get_json("/items", {"a": 1}))["query"] == {"a": "1", "token": SECRET}
    in_body = client(upstream, BodyAuth("token", SecretStr(SECRET)))
    await in_body.read_json("POST", "/items", json={"user_id": "u"})
    assert b'"token":"s3cr3t-value"' in upstream.bodies[-1]


async def test_same_origin_redirects_are_followed_with_auth_reapplied(upstream: Upstream) -> None:
    http = client(upstream, QueryAuth("token", SecretStr(SECRET)))
    body = await http.get_json("/moved")
    assert body["query"] == {"x": "1", "token": SECRET}


async def test_redirects_to_another_origin_are_refused(upstream: Upstream) -> None:
    with pytest.raises(UpstreamUnavailable, match="another origin"):
        await client(upstream).get_json("/away")
    assert upstream.seen == []


async def test_reads_are_retried_writes_are_not(upstream: Upstream) -> None:
    http = client(upstream)
    upstream.failures_left = 2
    assert (await http.get_json("/items"))["ok"] is True
    assert len(upstream.seen) == 3

    upstream.seen.clear()
    upstream.failures_left = 1
    with pytest.raises(UpstreamUnavailable):
        await http.write("POST", "/items", json={"a": 1})
    assert len(upstream.seen) == 1


async def test_retries_give_up_after_the_configured_attempts(upstream: Upstream) -> None:
    upstream.failures_left = 5
    with pytest.raises(UpstreamUnavailable):
        await client(upstream, retry_attempts=2).get_json("/items")
    assert len(upstream.seen) == 2


def test_the_wait_between_attempts_doubles_unless_the_upstream_names_one() -> None:
    assert [retry_delay(None, attempt, 0.1, 1.0) for attempt in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    busy = UpstreamUnavailable("damstra", "busy")
    busy.retry_after = 3  # type: ignore[attr-defined]
    assert retry_delay(busy, 1, 0.1, 5.0) == 3.0
    assert retry_delay(busy, 1, 0.1, 1.0) == 1.0  # capped


async def test_identical_reads_in_flight_are_sent_once(upstream: Upstream) -> None:
    upstream.delay = 0.05
    http = client(upstream)
    results = await asyncio.gather(*(http.get_json("/items", {"q": "x"}) for _ in range(5)))
    assert len(upstream.seen) == 1
    assert all(r == results[0] for r in results)
    await http.get_json("/items", {"q": "y"})
    assert len(upstream.seen) == 2


async def test_failures_map_onto_the_error_tree(upstream: Upstream) -> None:
    http = client(upstream)
    with pytest.raises(UpstreamNotFound):
        await http.get_json("/missing")
    with pytest.raises(UpstreamMalformedResponse):
        await http.get_json("/text")
    with pytest.raises(UpstreamNotFound) as raised:
        await http.get_json("/nowhere")
    assert raised.value.extensions() == {"code": "NOT_FOUND", "source": "DAMSTRA"}


async def test_credentials_echoed_by_the_upstream_are_redacted(upstream: Upstream) -> None:
    with pytest.raises(UpstreamUnauthorized) as raised:
        await client(upstream).get_json("/echo")
    assert SECRET not in str(raised.value)
    assert SECRET not in raised.value.message
    assert "[redacted]" in raised.value.message


async def test_a_slow_upstream_times_out() -> None:
    upstream = Upstream()
    upstream.delay = 1.0
    async with serve_on_loopback(upstream.app) as address:
        http = UpstreamHTTP(
            Source.ISCOUT,
            f"{address}/api",
            HeaderAuth("AccessKey", SecretStr(SECRET)),
            decode_error=no_vendor_errors,
            timeout_seconds=0.2,
            retry_attempts=1,
        )
        with pytest.raises(UpstreamTimeout) as raised:
            await http.get_json("/items")
        assert raised.value.extensions()["code"] == "UPSTREAM_TIMEOUT"
        await http.aclose()


async def test_an_unreachable_upstream_is_unavailable() -> None:
    from sandbox.server import free_port

    http = UpstreamHTTP(
        Source.DAMSTRA,
        f"http://127.0.0.1:{free_port()}/api",
        HeaderAuth("AccessKey", SecretStr(SECRET)),
        decode_error=no_vendor_errors,
        retry_attempts=1,
    )
    with pytest.raises(UpstreamUnavailable, match="could not be reached"):
        await http.get_json("/items")
    await http.aclose()


async def test_a_write_that_is_refused_is_reported_not_retried(upstream: Upstream) -> None:
    async def refuse(request: Request) -> Response:
        upstream.seen.append(request)
        return JSONResponse({"error": "Lesson Schedule already exists"}, status_code=409)

    upstream.app.router.routes.append(Route("/api/refuse", refuse, methods=["POST"]))
    with pytest.raises(UpstreamRejected):
        await client(upstream).write("POST", "/refuse", json={})
    assert len(upstream.seen) == 1


async def test_a_url_too_long_for_any_server_is_the_callers_input_and_never_sent(upstream: Upstream) -> None:
    http = client(upstream)
    for search in ("x" * MAX_URL_LENGTH, "é" * (MAX_URL_LENGTH // 4), "x" * 100_000):
        with pytest.raises(UpstreamRequestInvalid, match="longer than 8000 characters") as caught:
            await http.get_json("/items", {"q": search})
        assert caught.value.code == "BAD_USER_INPUT" and not caught.value.retryable
        with pytest.raises(UpstreamRequestInvalid):
            await http.write("POST", "/items", params={"q": search})
    assert upstream.seen == []
    # A long list of IDs that still fits goes out (DAMSTRA's 500 lesson IDs make about 3,500 characters).
    ids = ",".join(str(1_000_000 + n) for n in range(500))
    assert (await http.get_json("/items", {"lessonIds": ids}))["query"] == {"lessonIds": ids}
