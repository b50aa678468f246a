"""The wire under the upstream clients: keep-alive connections behind httpx's models. Queries encoded as httpx encodes
them, responses httpx's own, failures httpx's exceptions, the connection limit and its pool timeout,
cancellation, an httpx.AsyncClient over the transport, and the four connectors over loopback."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.sources import Source
from gateway.upstreams.auth import HeaderAuth
from gateway.upstreams.damstra.client import DamstraClient
from gateway.upstreams.http import UpstreamHTTP
from gateway.upstreams.iscout.client import IScoutClient
from gateway.upstreams.learninglogin.client import LearningLoginClient
from gateway.upstreams.training_records.client import TrainingRecordsClient
from gateway.upstreams.transport import (
    LeanClient,
    PoolTransport,
    encode_query,
    upstream_client,
)
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox, free_port, serve_on_loopback
from tests.upstreams.inline_upstream import SECRET, Upstream, no_vendor_errors

TIMEOUT = httpx.Timeout(5.0)


@pytest.mark.parametrize(
    "params",
    [
        {"a": 1, "b": "two words", "c": True, "d": False, "e": None},
        {"q": "é&=+/?#%20", "ids": "1,2,3"},
        {"many": [1, "x y", None], "one": ("t",)},
        {"": "", "k": 0.5},
        {"status": "overdue", "maxResults": 100, "plain": "a~b_c.d-E9", "date": "2026-12-06T10:00:00+00:00"},
        {"ünï": "ü", "tab": "a\tb", "list": ["x", "y&z"], "k:": "v"},
    ],
)
def test_a_query_is_encoded_as_httpx_encodes_it(params: dict[str, Any]) -> None:
    url = httpx.URL("https://up.test/api/v2/user/7")
    assert f"{url}?{encode_query(params)}" == str(httpx.Request("GET", url, params=params).url)


def test_a_transport_given_explicitly_goes_through_httpx() -> None:
    asgi = httpx.ASGITransport(app=Starlette())
    assert isinstance(upstream_client(TIMEOUT, asgi), httpx.AsyncClient)
    lean = upstream_client(TIMEOUT, None, max_connections=7)
    assert isinstance(lean, LeanClient) and lean.transport.max_connections == 7
    with pytest.raises(ValueError):
        PoolTransport(0)


# -- against a loopback server ----------------------------------------------------------------


def _app(seen: list[Request]) -> Starlette:
    async def echo(request: Request) -> Response:
        seen.append(request)
        await asyncio.sleep(float(request.query_params.get("sleep", 0)))
        body = await request.body()
        response = JSONResponse(
            {
                "method": request.method,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": body.decode(),
            },
            headers={"Link": '<http://elsewhere.test/next?page=2>; rel="next"', "X-Many": "1"},
        )
        response.set_cookie("session", "abc")
        return response

    async def packed(request: Request) -> Response:
        return Response(
            gzip.compress(b'{"packed": true}'),
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async def pdf(request: Request) -> Response:
        return Response(b"%PDF-" + bytes(range(256)) * 4096, media_type="application/pdf")

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST"]),
            Route("/packed", packed),
            Route("/pdf", pdf),
        ]
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[Request]]]:
    seen: list[Request] = []
    async with serve_on_loopback(_app(seen)) as address:
        yield address, seen


@pytest.fixture
async def lean() -> AsyncIterator[LeanClient]:
    client = LeanClient(PoolTransport(4), TIMEOUT)
    yield client
    await client.aclose()


async def test_the_answer_is_an_httpx_response_like_httpx_makes(
    served: tuple[str, list[Request]], lean: LeanClient
) -> None:
    address, seen = served
    url = httpx.URL(f"{address}/echo")
    params: dict[str, Any] = {"status": "overdue", "flag": True, "text": "a b"}
    headers = {"Accept": "application/json", "AccessKey": SECRET}
    ours = await lean.request("GET", url, params=params, headers=headers)
    async with httpx.AsyncClient() as plain:
        theirs = await plain.request("GET", url, params=params, headers=headers)
    assert isinstance(ours, httpx.Response)
    assert ours.status_code == theirs.status_code == 200
    assert ours.json()["query"] == theirs.json()["query"] == "status=overdue&flag=true&text=a+b"
    assert ours.json()["headers"]["accesskey"] == SECRET
    # What paging and the error readers use: the URL, the request, the headers, the links.
    assert ours.url == theirs.url and ours.request.method == "GET"
    assert ours.request.url.path == "/echo" and ours.request.headers["AccessKey"] == SECRET
    assert ours.links == theirs.links and ours.headers["x-many"] == "1"
    assert ours.url.join(ours.links["next"]["url"]) == httpx.URL("http://elsewhere.test/next?page=2")

    posted = await lean.request("POST", url, content=b'{"a":1}', headers={"Content-Type": "application/json"})
    assert posted.json()["body"] == '{"a":1}' and posted.request.content == b'{"a":1}'
    # A query already in the URL is merged as httpx merges it.
    merged = await lean.request("GET", f"{address}/echo?page=2&x=1", params={"x": 2})
    assert merged.json()["query"] == "page=2&x=2"
    # No cookie is kept from one request to the next: a vendor's cookie must not ride on another caller's.
    await lean.request("GET", url)
    assert "cookie" not in seen[-1].headers


async def test_bodies_are_decoded_and_read_whole(served: tuple[str, list[Request]], lean: LeanClient) -> None:
    address, _ = served
    packed = await lean.request("GET", f"{address}/packed")
    assert packed.json() == {"packed": True} and packed.headers["content-encoding"] == "gzip"
    pdf = await lean.request("GET", f"{address}/pdf")
    whole = b"%PDF-" + bytes(range(256)) * 4096
    # Read as httpx reads a response: the body once more, in chunks, closed.
    assert pdf.content == whole and pdf.read() == whole and await pdf.aread() == whole
    assert b"".join(pdf.iter_bytes()) == whole and pdf.is_closed and pdf.is_stream_consumed
    assert pdf.headers["content-type"] == "application/pdf" and pdf.text.startswith("%PDF-")


async def test_a_slow_answer_is_a_read_timeout_and_frees_its_connection(
    served: tuple[str, list[Request]],
) -> None:
    address, _ = served
    transport = PoolTransport(1)
    client = LeanClient(transport, httpx.Timeout(5.0, read=0.1))
    with pytest.raises(httpx.ReadTimeout):
        await client.request("GET", f"{address}/echo", params={"sleep": 1})
    assert transport.in_flight == 0
    assert (await client.request("GET", f"{address}/echo")).status_code == 200
    await client.aclose()


async def test_requests_past_the_limit_wait_their_turn_or_time_out(served: tuple[str, list[Request]]) -> None:
    address, seen = served
    transport = PoolTransport(2)
    client = LeanClient(transport, TIMEOUT)
    answers = await asyncio.gather(
        *(client.request("GET", f"{address}/echo", params={"sleep": 0.02, "n": n}) for n in range(8))
    )
    assert [a.json()["query"] for a in answers] == [f"sleep=0.02&n={n}" for n in range(8)]
    # Two connections at most, each kept alive from one request to the next.
    assert len({request.client for request in seen}) <= 2 and transport.in_flight == 0

    slow = asyncio.ensure_future(client.request("GET", f"{address}/echo", params={"sleep": 0.3}))
    also = asyncio.ensure_future(client.request("GET", f"{address}/echo", params={"sleep": 0.3}))
    await asyncio.sleep(0.05)
    with pytest.raises(httpx.PoolTimeout):
        await client.request("GET", f"{address}/echo", timeout=httpx.Timeout(5.0, pool=0.05))
    assert (await slow).status_code == (await also).status_code == 200
    assert transport.in_flight == 0
    await client.aclose()


async def test_a_cancelled_request_gives_its_connection_back(served: tuple[str, list[Request]]) -> None:
    address, _ = served
    transport = PoolTransport(1)
    client = LeanClient(transport, TIMEOUT)
    pending = asyncio.ensure_future(client.request("GET", f"{address}/echo", params={"sleep": 1}))
    await asyncio.sleep(0.05)
    assert transport.in_flight == 1
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert transport.in_flight == 0
    assert (await client.request("GET", f"{address}/echo")).status_code == 200
    await client.aclose()


async def _raw_server(answer: Callable[[asyncio.StreamWriter], Any]) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        answer(writer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (lambda w: None, httpx.RemoteProtocolError),  # hangs up without a word
        (lambda w: w.write(b"NOT HTTP AT ALL\r\n\r\n"), httpx.RemoteProtocolError),
        (
            lambda w: w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
            httpx.RemoteProtocolError,
        ),
    ],
    ids=["hang-up", "not-http", "cut-short"],
)
async def test_a_broken_answer_is_a_protocol_error(
    answer: Callable[[asyncio.StreamWriter], Any], expected: type[Exception], lean: LeanClient
) -> None:
    server, address = await _raw_server(answer)
    async with server:
        with pytest.raises(expected):
            await lean.request("GET", f"{address}/x")
    assert lean.transport.in_flight == 0


async def test_a_closed_port_is_a_connect_error(lean: LeanClient) -> None:
    with pytest.raises(httpx.ConnectError):
        await lean.request("GET", f"http://127.0.0.1:{free_port()}/x")
    assert lean.transport.in_flight == 0


async def test_httpx_over_the_transport_streams_and_gives_connections_back(
    served: tuple[str, list[Request]],
) -> None:
    address, _ = served
    transport = PoolTransport(1)
    async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as client:
        answer = await client.get(f"{address}/echo", params={"a": "b c"}, headers={"X-Mine": "1"})
        assert answer.json()["query"] == "a=b+c" and answer.json()["headers"]["x-mine"] == "1"
        assert (await client.post(f"{address}/echo", json={"n": 1})).json()["body"] == '{"n":1}'
        assert (await client.get(f"{address}/packed")).json() == {"packed": True}
        async with client.stream("GET", f"{address}/pdf") as streamed:
            first = await anext(streamed.aiter_bytes())
            assert first.startswith(b"%PDF-")  # left half-read: the connection is closed, not reused
        assert transport.in_flight == 0
        async with client.stream("GET", f"{address}/pdf") as streamed:
            assert len(await streamed.aread()) == 5 + 256 * 4096
        with pytest.raises(httpx.ReadTimeout):
            await client.get(f"{address}/echo", params={"sleep": 1}, timeout=httpx.Timeout(5, read=0.1))
        assert transport.in_flight == 0


def test_a_transport_serves_one_event_loop_after_another() -> None:
    async def main() -> None:
        async with serve_on_loopback(_app([])) as address:
            for _ in range(2):  # a session made for each loop; the last is closed
                assert (await client.request("GET", f"{address}/echo")).status_code == 200

    client = LeanClient(PoolTransport(2), TIMEOUT)
    asyncio.run(main())
    asyncio.run(main())
    asyncio.run(client.aclose())


async def test_upstream_http_over_loopback_reuses_its_connections() -> None:
    upstream = Upstream()
    upstream.delay = 0.02
    async with serve_on_loopback(upstream.app) as address:
        http = UpstreamHTTP(
            Source.DAMSTRA,
            f"{address}/api",
            HeaderAuth("AccessKey", SecretStr(SECRET)),
            decode_error=no_vendor_errors,
            max_connections=20,
        )
        for wave in range(2):
            results = await asyncio.gather(*(http.get_json("/items", {"n": n}) for n in range(50)))
            assert [r["query"]["n"] for r in results] == [str(n) for n in range(50)], wave
        await http.aclose()
    # At most 20 connections for 100 reads, each kept alive from one read to the next.
    connections = {request.client for request in upstream.seen}
    assert len(upstream.seen) == 100 and len(connections) <= 20


# -- the connectors, in-process and over loopback alike --------------------------------------------


async def test_each_connector_reads_and_writes_the_same_over_loopback(
    sandbox: Sandbox, sandbox_address: str, connect: Callable[..., Any]
) -> None:
    def over_loopback(cls: Any, source: Source) -> Any:
        return cls.connect(
            sandbox_address + MOUNTS[source], secret=SecretStr(CREDENTIALS[source]), retry_wait_seconds=0.0
        )

    async def both(cls: Any, source: Source, read: Callable[[Any], Any]) -> tuple[Any, Any]:
        local, remote = connect(cls, source), over_loopback(cls, source)
        try:
            return await read(local), await read(remote)
        finally:
            await local.aclose()
            await remote.aclose()

    # LEARNINGLOGIN: a Link header to the next page, the token in the query.
    local, remote = await both(
        LearningLoginClient, Source.LEARNINGLOGIN, lambda c: c.train_sessions().all(page_size=10)
    )
    assert len(remote) > 10 and remote == local
    # ISCOUT: POSTed reads, the token in the JSON body.
    local, remote = await both(IScoutClient, Source.ISCOUT, lambda c: c.completions().all(page_size=20))
    assert len(remote) > 20 and remote == local
    # TRAINING_RECORDS: limit/offset pages read at once.
    local, remote = await both(
        TrainingRecordsClient, Source.TRAINING_RECORDS, lambda c: c.records().all(page_size=20)
    )
    assert len(remote) > 20 and remote == local
    # DAMSTRA: a listing, writes, and a certificate's PDF bytes.
    local, remote = await both(DamstraClient, Source.DAMSTRA, lambda c: c.groups().all(page_size=5))
    assert len(remote) > 5 and remote == local
    state = sandbox.world.damstra
    damstra = over_loopback(DamstraClient, Source.DAMSTRA)
    completed = next(
        s for s in state.schedules.values() if s.status == "completed" and s.passed and s.completed
    )
    pdf = await damstra.get_certificate(completed.id)
    assert pdf.startswith(b"%PDF-")
    await damstra.aclose()
