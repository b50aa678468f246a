"""The request limits through the whole gateway: each refusal is an HTTP 400 (413 for the body) with its
`extensions.code`, whatever the Accept header (under `application/graphql-response+json` without `data`), on the lean POST path, Strawberry's view (POST, GET) and
the WebSocket alike; in the contract's order 413 → 401 → 400 → FORBIDDEN; and nothing reaches an upstream."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from gateway.data.callers import Caller, PersonRef, Role
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

USER = "VXNlcjpkYW1zdHJhOjEwMDAw"
OUTSIDER = "VXNlcjpkYW1zdHJhOjEwMDEz"  # DAMSTRA 10013: not the trainee's to see
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("bea.walker27@example.com"))
# user → groups → members nested 4 deep: 18 fields.
DEEP = f'{{ user(id: "{USER}") ' + "{ groups { members { edges { node " * 4 + "{ id }" + " } } } }" * 4 + " }"
COSTLY = "{ users(first: 1000) { edges { node { schedules { edges { node { lesson { name } } } } } } } }"
REFUSED = {
    "tokens": ("{ " + "__typename " * 15_001 + "}", "LIMIT_EXCEEDED"),
    "depth": (DEEP, "LIMIT_EXCEEDED"),
    "aliases": ("{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }", "LIMIT_EXCEEDED"),
    "rootFields": (
        "{ " + " ".join(f'u{n}: user(id: "{USER}") {{ id }}' for n in range(11)) + " }",
        "LIMIT_EXCEEDED",
    ),
    "cost": (COSTLY, "COST_LIMIT_EXCEEDED"),
    "subscription": ("subscription { trainingEvents { type } }", "SUBSCRIPTION_NEEDS_WEBSOCKET"),
}
ACCEPTS = ["application/json", "application/graphql-response+json", "text/html", "*/*", "text/plain"]


@pytest.fixture(params=["fast-paths", "strawberry-only"])
async def gateway(
    request: pytest.FixtureRequest, sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_FAST_PATHS": "true" if request.param == "fast-paths" else "false"}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        yield served


def upstream_requests(gateway: Gateway) -> int:
    return sum(len(gateway.log(source).entries) for source in Source)


@pytest.fixture
def no_server_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    with caplog.at_level(logging.INFO):
        yield
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text


def codes(response: httpx.Response) -> list[tuple[str, str | None]]:
    errors = response.json()["errors"]
    return [(e["extensions"]["code"], e["extensions"].get("limit")) for e in errors]


@pytest.mark.parametrize("name", list(REFUSED))
async def test_each_refusal_is_a_400_with_its_code_on_every_accept_and_method(
    gateway: Gateway, name: str, no_server_errors: None
) -> None:
    query, code = REFUSED[name]
    limit = name if code == "LIMIT_EXCEEDED" else None
    gateway.clear_logs()
    for accept in ACCEPTS:
        response = await gateway.http.post("/graphql", json={"query": query}, headers={"accept": accept})
        assert (response.status_code, codes(response)) == (400, [(code, limit)]), (accept, response.text)
        # Nothing ran: `"data": null`, or under GraphQL over HTTP's own media type no `data` at all.
        if accept == "application/graphql-response+json":
            assert "data" not in response.json()
        else:
            assert response.json()["data"] is None
    if name != "tokens":  # a URL of 165 kB is beyond the server's request line
        response = await gateway.http.get(
            "/graphql", params={"query": query}, headers={"accept": "application/json"}
        )
        assert (response.status_code, codes(response)) == (400, [(code, limit)]), response.text
    assert upstream_requests(gateway) == 0


async def test_the_cost_refusal_says_how_much(gateway: Gateway) -> None:
    response = await gateway.http.post("/graphql", json={"query": COSTLY})
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["maxCost"] == 1000 and extensions["cost"] > 1000


async def test_the_lean_path_and_the_view_refuse_alike(gateway: Gateway) -> None:
    if not gateway.services.settings.fast_paths:
        pytest.skip("compared from the fast-paths side")
    from gateway.server.app import create_app

    view = create_app(
        gateway.services.settings.model_copy(update={"fast_paths": False}), services=gateway.services
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=view), base_url="http://gateway.test"
    ) as slow:
        for query, _ in REFUSED.values():
            for body in ({"query": query}, {"query": query, "variables": {"n": 1}, "operationName": None}):
                lean = await gateway.http.post("/graphql", json=body)
                strawberry = await slow.post("/graphql", json=body)
                assert (lean.status_code, lean.content) == (strawberry.status_code, strawberry.content)


async def test_a_cost_depending_on_variables_is_judged_per_request(gateway: Gateway) -> None:
    query = "query($n: Int) { users(first: $n) { edges { node { groups { name } } } } }"
    small = await gateway.http.post("/graphql", json={"query": query, "variables": {"n": 2}})
    large = await gateway.http.post("/graphql", json={"query": query, "variables": {"n": 500}})
    assert small.status_code == 200 and "errors" not in small.json()
    assert (large.status_code, codes(large)) == (400, [("COST_LIMIT_EXCEEDED", None)])


async def test_a_subscription_by_post_or_get_logs_no_fault(gateway: Gateway, no_server_errors: None) -> None:
    # Once a 200 with INTERNAL_SERVER_ERROR and two tracebacks in the log.
    query = "subscription S { trainingEvents(types: [USER_CREATED]) { type user { fullName } } }"
    for response in (
        await gateway.http.post("/graphql", json={"query": query, "operationName": "S"}),
        await gateway.http.get("/graphql", params={"query": query}),
    ):
        assert (response.status_code, codes(response)) == (400, [("SUBSCRIPTION_NEEDS_WEBSOCKET", None)])


async def test_measure_mode_lets_a_costly_operation_run(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_COST_MODE": "measure", "LEARNGRAPH_MAX_COST": "10"}
    async for gateway in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        with caplog.at_level(logging.INFO, logger="gateway.limits"):
            body = await gateway.data("{ users(first: 3) { edges { node { groups { name } } } } }")
        assert len(body["users"]["edges"]) == 3
        assert any("measure mode" in r.getMessage() for r in caplog.records)
        depth = await gateway.http.post("/graphql", json={"query": DEEP})
        assert codes(depth) == [("LIMIT_EXCEEDED", "depth")]  # the shape limits still hold


# -- the body, and the order of refusals -----------------------------------------------------------


@pytest.fixture
async def closed(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A gateway that takes no anonymous caller, with a 64 kB body limit."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_ALLOW_ANONYMOUS": "false", "LEARNGRAPH_MAX_BODY_BYTES": "65536"}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        yield served


def padded(query: str, size: int) -> bytes:
    body = json.dumps({"query": query, "padding": ""}).encode()
    return body.replace(b'"padding": ""', b'"padding": "' + b"x" * (size - len(body)) + b'"')


async def test_the_order_is_413_then_401_then_400_then_forbidden(closed: Gateway) -> None:
    json_type = {"content-type": "application/json"}
    big = padded("{ __typename }", 65_537)
    assert len(big) == 65_537
    too_large = await closed.http.post("/graphql", content=big, headers=json_type)
    assert (too_large.status_code, too_large.json()["errors"][0]["extensions"]) == (
        413,
        {"code": "REQUEST_TOO_LARGE", "maxBytes": 65536},
    )
    unauthenticated = await closed.http.post("/graphql", content=padded(DEEP, 65_536), headers=json_type)
    assert unauthenticated.status_code == 401
    async with closed.as_caller(TRAINEE) as trainee:
        assert (await trainee.http.post("/graphql", content=big, headers=json_type)).status_code == 413
        refused = await trainee.http.post("/graphql", json={"query": DEEP})
        assert (refused.status_code, codes(refused)) == (400, [("LIMIT_EXCEEDED", "depth")])
        forbidden = await trainee.http.post(
            "/graphql", json={"query": f'{{ user(id: "{OUTSIDER}") {{ id }} }}'}
        )
        assert (forbidden.status_code, codes(forbidden)) == (200, [("FORBIDDEN", None)])
        fits = await trainee.http.post(
            "/graphql", content=padded("{ __typename }", 65_536), headers=json_type
        )
        assert fits.json() == {"data": {"__typename": "Query"}}
    assert upstream_requests(closed) <= 2  # the trainee's person, looked up for the FORBIDDEN


async def test_a_body_without_a_length_stops_at_the_limit(closed: Gateway) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 1 MB offered, 64 kB allowed
            sent += 1024
            yield b" " * 1024

    async with closed.as_caller(TRAINEE) as trainee:
        response = await trainee.http.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    assert (
        response.status_code == 413
        and response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    )
    assert upstream_requests(closed) == 0


# -- the WebSocket ----------------------------------------------------------------------------------


async def test_a_websocket_operation_over_a_limit_is_refused_before_it_runs(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    from gateway.server.app import build_services, create_app
    from gateway.settings import load_settings
    from tests.conftest import AS_ADMIN

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = load_settings({**sandbox.gateway_env(IN_PROCESS, identity), **AS_ADMIN})
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    deep = "subscription { trainingEvents { " + DEEP.removeprefix("{ ").removesuffix(" }") + " } }"
    async with serve_on_loopback(create_app(settings, services=services)) as address:
        url = address.replace("http://", "ws://") + "/graphql"
        async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
            for n, (query, code) in enumerate(
                [
                    (deep, "LIMIT_EXCEEDED"),
                    (REFUSED["aliases"][0], "LIMIT_EXCEEDED"),
                    (COSTLY, "COST_LIMIT_EXCEEDED"),
                ]
            ):
                await ws.send(json.dumps({"id": str(n), "type": "subscribe", "payload": {"query": query}}))
                message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert message["type"] == "error", message
                assert [e["extensions"]["code"] for e in message["payload"]] == [code]
            await ws.send(
                json.dumps({"id": "ok", "type": "subscribe", "payload": {"query": "{ __typename }"}})
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["payload"] == {
                "data": {"__typename": "Query"}
            }
    await services.upstreams.aclose()
    assert sum(len(sandbox.controls[s].log.entries) for s in Source) == 0
