"""What a browser meets (contract §8): CORS for the configured origins only, GraphiQL and
introspection only when turned on, introspection refused alike on every way in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from gateway.server import cli
from gateway.settings import load_settings
from gateway.sources import Source
from resolvers.schema import schema, sdl
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

APP = "https://app.example.com"
CLIENT_HEADERS = "content-type, authorization, x-api-key, x-request-id"
SCHEMA_QUERY = "{ __schema { queryType { name } } }"
TYPE_QUERY = '{ __type(name: "User") { name } }'

Serve = Callable[[dict[str, str]], AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def serve(sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path) -> Serve:
    """`async with serve({"LEARNGRAPH_...": ...}) as gateway`: the gateway with these settings."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")

    @asynccontextmanager
    async def served(env: dict[str, str]) -> AsyncIterator[Gateway]:
        gateways = _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env)
        yield await anext(gateways)
        await anext(gateways, None)

    return served


# -- CORS ----------------------------------------------------------------------------------------


async def test_cors_answers_the_configured_origins_only(serve: Serve) -> None:
    async with serve({"LEARNGRAPH_CORS_ORIGINS": f"{APP}, http://localhost:3000/"}) as gateway:
        for origin in (APP, "http://localhost:3000"):
            preflight = await gateway.http.options(
                "/graphql",
                headers={
                    "origin": origin,
                    "access-control-request-method": "POST",
                    "access-control-request-headers": CLIENT_HEADERS,
                },
            )
            assert preflight.status_code == 200
            assert preflight.headers["access-control-allow-origin"] == origin
            allowed = {
                h.strip() for h in preflight.headers["access-control-allow-headers"].lower().split(",")
            }
            assert allowed >= {h.strip() for h in CLIENT_HEADERS.split(",")}
            assert "POST" in preflight.headers["access-control-allow-methods"]
            answer = await gateway.http.post(
                "/graphql", json={"query": "{ __typename }"}, headers={"origin": origin}
            )
            assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == origin

        other = "https://elsewhere.example"
        preflight = await gateway.http.options(
            "/graphql", headers={"origin": other, "access-control-request-method": "POST"}
        )
        assert preflight.status_code == 400 and "access-control-allow-origin" not in preflight.headers
        answer = await gateway.http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"origin": other}
        )
        assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


async def test_without_origins_there_is_no_cors(gateway: Gateway) -> None:
    preflight = await gateway.http.options(
        "/graphql", headers={"origin": APP, "access-control-request-method": "POST"}
    )
    assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers
    answer = await gateway.http.post("/graphql", json={"query": "{ __typename }"}, headers={"origin": APP})
    assert not any(name.startswith("access-control-") for name in answer.headers)


# -- GraphiQL ------------------------------------------------------------------------------------


async def test_graphiql_is_served_only_when_turned_on(gateway: Gateway, serve: Serve) -> None:
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = await gateway.http.get("/graphql", headers=browser)
    assert page.status_code == 404 and "<html" not in page.text.lower()
    # A GET that carries a query is GraphQL over HTTP, page or no page.
    answer = await gateway.http.get("/graphql", params={"query": "{ __typename }"}, headers=browser)
    assert answer.json() == {"data": {"__typename": "Query"}}
    async with serve({"LEARNGRAPH_GRAPHIQL": "true"}) as with_page:
        page = await with_page.http.get("/graphql", headers=browser)
        assert page.status_code == 200 and "LearnGraph" in page.text and "<html" in page.text.lower()


# -- Introspection -------------------------------------------------------------------------------


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["data"] is None
    assert {e["extensions"]["code"] for e in answer["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection has been disabled" in answer["errors"][0]["message"]


@pytest.mark.parametrize(
    "query", [SCHEMA_QUERY, TYPE_QUERY, "{ users(first: 1) { totalCount } __schema { types { name } } }"]
)
async def test_introspection_is_refused_with_a_400_on_every_http_path(gateway: Gateway, query: str) -> None:
    assert_refused(await gateway.http.post("/graphql", json={"query": query}))  # the lean path's way
    assert_refused(await gateway.http.get("/graphql", params={"query": query}))


async def test_typename_still_answers_without_introspection(gateway: Gateway) -> None:
    typename = {"query": "{ __typename users(first: 1) { __typename } }"}
    assert (await gateway.http.post("/graphql", json=typename)).json()["data"]["__typename"] == "Query"
    assert (await gateway.http.get("/graphql", params=typename)).json()["data"]["__typename"] == "Query"


@pytest.mark.parametrize("fast_paths", ["true", "false"])
async def test_introspection_answers_when_turned_on(serve: Serve, fast_paths: str) -> None:
    env = {"LEARNGRAPH_INTROSPECTION": "true", "LEARNGRAPH_FAST_PATHS": fast_paths}
    async with serve(env) as gateway:
        for response in (
            await gateway.http.post("/graphql", json={"query": SCHEMA_QUERY}),
            await gateway.http.get("/graphql", params={"query": SCHEMA_QUERY}),
        ):
            assert response.status_code == 200
            assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


async def test_introspection_off_with_the_fast_paths_off_too(serve: Serve) -> None:
    async with serve({"LEARNGRAPH_FAST_PATHS": "false"}) as gateway:
        assert_refused(await gateway.http.post("/graphql", json={"query": TYPE_QUERY}))
        assert_refused(await gateway.http.get("/graphql", params={"query": TYPE_QUERY}))


@pytest.mark.parametrize("introspection", [False, True])
async def test_introspection_over_a_websocket_follows_the_setting(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, introspection: bool
) -> None:
    from gateway.server.app import build_services, create_app

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {
        **sandbox.gateway_env(IN_PROCESS, identity),
        "LEARNGRAPH_INTROSPECTION": str(introspection).lower(),
        "LEARNGRAPH_ALLOW_ANONYMOUS": "true",
    }
    settings = load_settings(env)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    try:
        async with serve_on_loopback(create_app(settings, services=services)) as address:
            url = address.replace("http://", "ws://") + "/graphql"
            async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                await ws.send(json.dumps({"type": "connection_init"}))
                ack = await ws.recv()
                # Text frames: a browser's graphql-ws cannot read binary ones (GraphiQL's subscriptions).
                assert isinstance(ack, str) and json.loads(ack)["type"] == "connection_ack"
                for id_, query in (("1", SCHEMA_QUERY), ("2", "{ __typename }")):
                    await ws.send(json.dumps({"id": id_, "type": "subscribe", "payload": {"query": query}}))
                    frame = await ws.recv()
                    assert isinstance(frame, str)
                    message: dict[str, Any] = json.loads(frame)
                    if id_ == "1" and not introspection:
                        assert message["type"] == "error", message
                        assert "introspection has been disabled" in message["payload"][0]["message"]
                        continue
                    assert message["type"] == "next" and "errors" not in message["payload"], message
                    assert json.loads(await ws.recv())["type"] == "complete"
    finally:
        await services.upstreams.aclose()


# -- What `serve`, `demo` and `export-schema` start with -----------------------------------------------


def test_the_demo_turns_graphiql_and_introspection_on_unless_set() -> None:
    assert cli._demo_browser_env({}) == {"LEARNGRAPH_GRAPHIQL": "true", "LEARNGRAPH_INTROSPECTION": "true"}
    environ = {
        "LEARNGRAPH_GRAPHIQL": "false",
        "LEARNGRAPH_CORS_ORIGINS": APP,
        "LEARNGRAPH_FAST_PATHS": "false",
        "LEARNGRAPH_PORT": "1",  # not the demo's to take
    }
    assert cli._demo_browser_env(environ) == {
        "LEARNGRAPH_GRAPHIQL": "false",
        "LEARNGRAPH_INTROSPECTION": "true",
        "LEARNGRAPH_CORS_ORIGINS": APP,
        "LEARNGRAPH_FAST_PATHS": "false",
    }


def test_export_schema_prints_the_sdl_whatever_the_introspection_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEARNGRAPH_INTROSPECTION", "false")
    assert cli.main(["export-schema"]) == 0
    assert capsys.readouterr().out == sdl()


async def test_an_operation_without_the_gateways_context_is_refused_introspection() -> None:
    result = await schema.execute(SCHEMA_QUERY)
    assert result.data is None and result.errors
    assert (await schema.execute("{ __typename }")).data == {"__typename": "Query"}
