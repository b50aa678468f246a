"""The lean POST path answers byte for byte what Strawberry's view answers, and leaves it the rest."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocket

from gateway.data.context import Context
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint
from gateway.sources import Source
from resolvers.lesson import Lesson
from resolvers.schema import schema
from tests.conftest import Gateway
from tests.ids import gid, user_id


@dataclass
class Both:
    lean: httpx.AsyncClient
    view: httpx.AsyncClient
    endpoint: GraphQLEndpoint

    async def compare(self, method: str, **kwargs: Any) -> httpx.Response:
        """Send the same request to both; they must answer alike. The lean path's answer."""
        lean = await self.lean.request(method, "/graphql", **kwargs)
        view = await self.view.request(method, "/graphql", **kwargs)
        assert (lean.status_code, lean.content) == (view.status_code, view.content), kwargs
        assert lean.headers == view.headers, kwargs
        return lean

    async def post(self, body: Any, **kwargs: Any) -> dict[str, Any]:
        response = await self.compare("POST", json=body, **kwargs)
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test")


@pytest.fixture
async def both(gateway: Gateway) -> AsyncIterator[Both]:
    yield await _both(gateway, LearnGraphGraphQL(schema))


async def _both(gateway: Gateway, view: LearnGraphGraphQL) -> Both:
    endpoint = GraphQLEndpoint(view)
    lean_app = Starlette(routes=[Route("/graphql", endpoint, methods=["GET", "POST"])])
    view_app = Starlette(routes=[Route("/graphql", view, methods=["GET", "POST"])])
    lean_app.state.services = view_app.state.services = gateway.services
    return Both(_client(lean_app), _client(view_app), endpoint)


LESSONS = "{ lessons(first: 3) { totalCount edges { cursor node { id name status durationSeconds } } } }"
TWO_OPERATIONS = "query A { __typename } query B { lessons(first: 1) { totalCount } }"


async def test_queries_answer_alike(both: Both) -> None:
    assert await both.post({"query": "{ __typename }"}) == {"data": {"__typename": "Query"}}
    assert (await both.post({"query": LESSONS}))["data"]["lessons"]["totalCount"] > 3
    person = {
        "query": "query P($id: ID!) { user(id: $id) { fullName } }",
        "variables": {"id": user_id("damstra", 10000)},
    }
    assert (await both.post(person))["data"]["user"]["fullName"]
    await both.post(
        {"query": TWO_OPERATIONS, "operationName": "B", "variables": None, "extensions": {"x": 1}}
    )
    await both.post({"query": "{ __typename }"}, headers={"content-type": "application/json; charset=utf-8"})
    assert both.endpoint.documents.get.cache_info().hits >= 1


async def test_errors_answer_alike(both: Both, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    bad_id = await both.post(
        {"query": "query($id: ID!) { user(id: $id) { id } }", "variables": {"id": "nope"}}
    )
    assert [e["extensions"]["code"] for e in bad_id["errors"]] == ["INVALID_ID"]
    wrong_type = {
        "query": "query($id: ID!) { lesson(id: $id) { id } }",
        "variables": {"id": gid("User:damstra:1")},
    }
    assert (await both.post(wrong_type))["errors"][0]["extensions"]["code"] == "INVALID_ID"
    paging = await both.post({"query": "{ users(first: -1) { totalCount } }"})
    assert paging["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    variables = await both.post(
        {"query": "query($n: Int) { users(first: $n) { totalCount } }", "variables": {"n": "x"}}
    )
    assert variables["data"] is None and variables["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    missing = await both.post({"query": "query($n: Int!) { users(first: $n) { totalCount } }"})
    assert missing["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    mutation = (
        "mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) { userErrors { code } } }"
    )
    bad_input = {"userId": "nope", "lessonIds": [gid("Lesson:damstra:1003")]}
    await both.post({"query": mutation, "variables": {"input": bad_input}})

    gateway.sandbox.controls[Source.ISCOUT].faults.error_rate = 1.0
    partial = await both.post({"query": "{ lessons(first: 1000) { totalCount edges { node { source } } } }"})
    assert {e["extensions"]["source"] for e in partial["errors"]} == {"ISCOUT"}
    gateway.sandbox.controls[Source.ISCOUT].faults.error_rate = 0.0

    def broken(*args: Any) -> Lesson:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Lesson, "from_damstra", broken)
    masked = await both.post({"query": LESSONS})
    assert masked["errors"][0]["message"] == "Internal error" and "secret" not in str(masked)


async def test_an_unexpected_error_is_logged_alike(
    both: Both, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> Lesson:
        raise RuntimeError("boom")

    monkeypatch.setattr(Lesson, "from_damstra", broken)
    logged = []
    for client in (both.lean, both.view):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            await client.post("/graphql", json={"query": LESSONS})
        logged.append([(r.name, r.levelno, r.getMessage()) for r in caplog.records])
    assert logged[0] == logged[1] and {name for name, _, _ in logged[0]} == {
        "strawberry.execution",
        "gateway.graphql",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"query": "{ __typename"},  # syntax
        {"query": "{ lessons(source: NOPE) { totalCount } }"},  # validation
        {"query": TWO_OPERATIONS},  # which one?
        {"query": TWO_OPERATIONS, "operationName": "C"},
        {"query": TWO_OPERATIONS, "operationName": ""},
        {"query": "subscription { trainingEvents { type } }"},
        {"query": ""},
        {"query": None},
        {},
        {"query": 7},
        {"query": "{ __typename }", "variables": [1]},
        {"query": "{ __typename }", "extensions": "x"},
        {"query": "{ __typename }", "operationName": 3},
        [{"query": "{ __typename }"}],  # a batch
    ],
)
async def test_what_the_lean_path_leaves_to_strawberry_answers_as_before(both: Both, body: Any) -> None:
    await both.compare("POST", content=orjson.dumps(body), headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    "request_",
    [
        {"content": b"{not json", "headers": {"content-type": "application/json"}},
        {"content": b"", "headers": {"content-type": "application/json"}},
        {"content": b'{"query": "{ __typename }"}', "headers": {"content-type": "text/plain"}},
        {"content": b'{"query": "{ __typename }"}'},
    ],
)
async def test_bodies_that_are_not_json_answer_as_before(both: Both, request_: dict[str, Any]) -> None:
    await both.compare("POST", **request_)


async def test_a_body_strawberry_cannot_read_fails_alike(both: Both) -> None:
    # Strawberry expects an object or a list; a JSON string breaks it, on either path.
    for client in (both.lean, both.view):
        with pytest.raises(AttributeError):
            await client.post("/graphql", json="{ __typename }")


async def test_get_stays_with_strawberry(both: Both) -> None:
    assert (await both.compare("GET", params={"query": "{ __typename }"})).json() == {
        "data": {"__typename": "Query"}
    }
    refused = await both.compare("GET", params={"query": "mutation { __typename }"})
    assert refused.status_code == 400
    page = await both.compare("GET", headers={"accept": "text/html"})
    assert "LearnGraph" in page.text


async def test_the_common_case_skips_strawberry(both: Both, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the lean path went to Strawberry")

    monkeypatch.setattr(type(schema), "execute", no)
    response = await both.lean.post("/graphql", json={"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def test_a_sub_response_is_honoured(gateway: Gateway) -> None:
    class Marking(LearnGraphGraphQL):
        async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
            assert isinstance(response, Response)
            response.headers["x-learngraph"] = "1"
            response.status_code = 299
            return await super().get_context(request, response)

    both = await _both(gateway, Marking(schema))
    response = await both.compare("POST", json={"query": "{ __typename }"})
    assert (response.status_code, response.headers["x-learngraph"]) == (299, "1")


async def test_a_resolver_can_read_the_request_body(gateway: Gateway) -> None:
    seen: list[bytes] = []

    class Reading(LearnGraphGraphQL):
        async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
            assert isinstance(request, Request)
            seen.append(await request.body())
            return await super().get_context(request, response)

    both = await _both(gateway, Reading(schema))
    await both.compare(
        "POST", content=b'{"query": "{ __typename }"}', headers={"content-type": "application/json"}
    )
    assert seen == [b'{"query": "{ __typename }"}'] * 2
