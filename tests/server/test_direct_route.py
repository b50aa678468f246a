"""`DirectRoute`: /graphql reached without the router's walk, with the scope the router would give."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from gateway.server.direct_route import DirectRoute
from tests.conftest import Gateway


class Recording:
    """An ASGI app (as the gateway's /graphql is: not a function Starlette would wrap) noting each scope."""

    def __init__(self) -> None:
        self.seen: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(dict(scope))
        await JSONResponse({})(scope, receive, send)


async def other(request: Request) -> Response:
    return JSONResponse({"other": True})


def _app(endpoint: Recording, *, direct: bool = True) -> Starlette:
    route = Route("/graphql", endpoint, methods=["GET", "POST"])
    middleware = [Middleware(DirectRoute, route=route)] if direct else []
    return Starlette(routes=[route, Route("/other", other)], middleware=middleware)


async def test_the_route_gets_the_scope_the_router_would_give() -> None:
    scopes: list[list[str]] = []
    for direct in (True, False):
        endpoint = Recording()
        app = _app(endpoint, direct=direct)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            assert (await http.post("/graphql", json={})).status_code == 200
        (scope,) = endpoint.seen
        assert scope["router"] is app.router and scope["route"] is app.routes[0]
        assert scope["endpoint"] is endpoint and scope["path_params"] == {}
        scopes.append(sorted(scope))
    # The same keys, but the exception middleware's handlers, which only Starlette's wrapper of a
    # function endpoint reads (the gateway's /graphql is an ASGI app, and the app has none).
    assert set(scopes[1]) - set(scopes[0]) == {"starlette.exception_handlers"}
    assert set(scopes[0]) <= set(scopes[1])


async def test_what_the_route_does_not_match_in_full_takes_the_router() -> None:
    endpoint = Recording()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=_app(endpoint)), base_url="http://t"
    ) as http:
        refused = await http.put("/graphql")
        assert refused.status_code == 405 and "POST" in refused.headers["allow"]
        assert (await http.get("/other")).json() == {"other": True}
        assert (await http.get("/nowhere")).status_code == 404
        redirected = await http.post("/graphql/", json={})
        assert redirected.status_code == 307 and redirected.headers["location"].endswith("/graphql")
    assert endpoint.seen == []


async def test_the_gateways_graphql_route_answers_every_method_as_routed(gateway: Gateway) -> None:
    assert (await gateway.http.post("/graphql", json={"query": "{ __typename }"})).status_code == 200
    assert (await gateway.http.get("/graphql", params={"query": "{ __typename }"})).status_code == 200
    refused = await gateway.http.request("DELETE", "/graphql")
    assert refused.status_code == 405
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
