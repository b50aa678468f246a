"""The lean POST path answers byte for byte what Strawberry's view answers, and leaves it the rest."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graphql
import httpx
import orjson
import pytest
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.websockets import WebSocket
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from gateway.data.context import Context
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint, Prepared
from gateway.sources import Source
from gateway.upstreams.allowance import Allowance
from resolvers.execution import LeanExecutionContext
from resolvers.lesson import Lesson
from resolvers.schema import schema
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.ids import gid, user_id
from tests.resolvers.test_execution import GATEWAY_QUERIES


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


JSON = {"content-type": "application/json"}
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
        logged.append([(r.name, r.levelno, r.getMessage(), bool(r.exc_info)) for r in caplog.records])
    # Once per fault, with its traceback: Strawberry's own line is replaced by ours.
    assert logged[0] == logged[1] and {(name, tb) for name, _, _, tb in logged[0]} == {
        ("gateway.graphql", True)
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


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("{ __typename }", "a string"),
        (None, "null"),
        (123, "a number"),
        (True, "a boolean"),
        ([], "a list"),
        ([{"query": "{ __typename }"}], "a list"),  # a batch: batching is off
    ],
)
async def test_json_that_is_no_request_is_a_400_with_a_graphql_error(
    both: Both, body: Any, kind: str
) -> None:
    # Until now a JSON string (or null, a number) broke Strawberry's parsing with an
    # AttributeError, a 500, and this test locked that in; now either path answers a 400.
    response = await both.compare(
        "POST", content=orjson.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    answer = response.json()
    assert "data" not in answer and [e["extensions"]["code"] for e in answer["errors"]] == ["BAD_REQUEST"]
    assert answer["errors"][0]["message"].endswith(f"the body is {kind}")


# GraphQL over HTTP's own media type: a request error (nothing ran) is a 400 without `data`; under
# application/json the same answer keeps its `"data": null` and its status.
GRAPHQL_RESPONSE = {"accept": "application/graphql-response+json"}
REQUEST_ERRORS: dict[str, tuple[dict[str, Any], int]] = {
    "syntax": ({"query": "{"}, 200),
    "validation": ({"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}, 200),
    "coercion": (
        {"query": "query($n: Int) { users(first: $n) { totalCount } }", "variables": {"n": "x"}},
        200,
    ),
    "a missing variable": ({"query": "query($n: Int!) { users(first: $n) { totalCount } }"}, 200),
    "an unused variable": ({"query": "query C($id: ID!) { __typename }", "variables": {"id": None}}, 200),
    "a refusal": ({"query": "{ " + " ".join(f"a{n}: __typename" for n in range(31)) + " }"}, 400),
    "a subscription": ({"query": "subscription { trainingEvents { type } }"}, 400),
}


@pytest.mark.parametrize("name", list(REQUEST_ERRORS))
async def test_a_request_error_answers_in_the_media_type_accepted(both: Both, name: str) -> None:
    body, json_status = REQUEST_ERRORS[name]
    for accept in ({}, {"accept": "application/json"}, {"accept": "*/*"}):
        plain = await both.compare("POST", json=body, headers=accept)
        assert (plain.status_code, plain.headers["content-type"]) == (json_status, "application/json")
        assert plain.json()["data"] is None and plain.json()["errors"]
    for accept in (
        GRAPHQL_RESPONSE,
        {"accept": "application/graphql-response+json, application/json;q=0.9"},
        {"accept": "application/json, application/graphql-response+json"},
    ):
        strict = await both.compare("POST", json=body, headers=accept)
        assert (strict.status_code, strict.headers["content-type"]) == (
            400,
            "application/graphql-response+json",
        )
        answer = strict.json()
        assert "data" not in answer and answer["errors"] == plain.json()["errors"]
    if name != "a subscription":  # GET runs no subscription either way (a 400 without data alike)
        params = {
            key: value if key == "query" else orjson.dumps(value).decode() for key, value in body.items()
        }
        got = await both.compare("GET", params=params, headers=GRAPHQL_RESPONSE)
        assert got.status_code == 400 and "data" not in got.json()


async def test_an_answer_that_ran_keeps_200_and_its_data_in_either_media_type(
    both: Both, gateway: Gateway
) -> None:
    for headers in (GRAPHQL_RESPONSE, {"accept": "application/json"}):
        media_type = headers["accept"]
        ok = await both.compare("POST", json={"query": LESSONS}, headers=headers)
        assert (ok.status_code, ok.headers["content-type"]) == (200, media_type)
        assert ok.json()["data"]["lessons"]["totalCount"] > 3
        # A field's error: the operation ran, its data stands (a null where the error is).
        bad_id = await both.compare("POST", json={"query": '{ user(id: "nope") { id } }'}, headers=headers)
        answer = bad_id.json()
        assert (bad_id.status_code, answer["data"]) == (200, {"user": None})
        assert answer["errors"][0]["path"] == ["user"]
    gateway.sandbox.controls[Source.ISCOUT].faults.error_rate = 1.0
    partial = await both.compare(
        "POST", json={"query": "{ lessons(first: 1000) { totalCount } }"}, headers=GRAPHQL_RESPONSE
    )
    assert partial.status_code == 200 and partial.json()["data"]["lessons"] is not None


@pytest.mark.parametrize("accept", ["application/json", "application/graphql-response+json"])
async def test_json_that_is_no_request_answers_in_the_media_type_accepted(both: Both, accept: str) -> None:
    response = await both.compare(
        "POST", content=b"[]", headers={"content-type": "application/json", "accept": accept}
    )
    assert (response.status_code, response.headers["content-type"]) == (400, accept)


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


def test_the_gateway_view_takes_the_lean_path() -> None:
    assert GraphQLEndpoint(LearnGraphGraphQL(schema)).steps_aside_for == []


class Marked(LearnGraphGraphQL):
    """A view whose answers the lean path would not give: its process_result adds to each."""

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        answer = await super().process_result(request, result)
        answer["extensions"] = {"marked": True}
        return answer


class Hooked(LearnGraphGraphQL):
    """A view with a hook of its own, which the lean path cannot know whether Strawberry calls."""

    async def on_request(self, request: Request) -> None:
        raise AssertionError("not a hook Strawberry calls, only one the lean path cannot know")


async def test_a_view_with_hooks_of_its_own_gets_every_request(gateway: Gateway) -> None:
    marked = await _both(gateway, Marked(schema))
    assert marked.endpoint.steps_aside_for == ["hook process_result"] and not marked.endpoint.enabled
    answer = await marked.post({"query": LESSONS})
    assert answer["extensions"] == {"marked": True} and answer["data"]["lessons"]["totalCount"] > 3

    assert GraphQLEndpoint(Hooked(schema)).steps_aside_for == ["hook on_request"]
    patched = LearnGraphGraphQL(schema)
    patched.encode_json = orjson.dumps  # type: ignore[method-assign,assignment]
    assert GraphQLEndpoint(patched).steps_aside_for == ["hook encode_json (set on the view)"]
    # Hooks the lean path calls itself (the context, root value and sub-response getters) are fine.
    assert GraphQLEndpoint(_Refusing(schema)).steps_aside_for == []


class _Refusing(LearnGraphGraphQL):
    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        if isinstance(request, Request) and "x-let-me-in" not in request.headers:
            raise HTTPException(401, "who are you?")
        return await super().get_context(request, response)


async def test_a_refusal_from_the_context_getter_answers_alike(gateway: Gateway) -> None:
    both = await _both(gateway, _Refusing(schema))
    refused = await both.compare("POST", json={"query": "{ __typename }"})
    assert (refused.status_code, refused.text) == (401, "who are you?")
    assert await both.post({"query": "{ __typename }"}, headers={"x-let-me-in": "1"}) == {
        "data": {"__typename": "Query"}
    }


async def test_introspection_is_left_to_the_view(both: Both) -> None:
    query = "{ __schema { queryType { name } } }"
    refused = await both.compare("POST", json={"query": query})  # LEARNGRAPH_INTROSPECTION is off
    assert refused.status_code == 400
    prepared = both.endpoint.documents.get(query)
    assert isinstance(prepared, Prepared) and prepared.introspects
    typename = both.endpoint.documents.get("{ __typename }")
    assert isinstance(typename, Prepared) and not typename.introspects


FAST_AND_NOT = [
    *(({"query": query}, 200) for query in GATEWAY_QUERIES),
    ({"query": LESSONS}, 200),
    ({"query": "query($id: ID!) { user(id: $id) { id } }", "variables": {"id": "nope"}}, 200),
    ({"query": "{ lessons(source: NOPE) { totalCount } }"}, 200),
    ({"query": "{ __schema { queryType { name } } }"}, 400),
    ("{ __typename }", 400),
]


async def test_the_same_queries_answer_alike_with_fast_paths_on_and_off(
    gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = gateway.sandbox.write_identity_file(tmp_path / "slow-identity.yaml")
    transport = httpx.ASGITransport(app=gateway.sandbox.asgi_app())
    slow_gateways = _serve_gateway(
        gateway.sandbox, IN_PROCESS, identity, transport, {"LEARNGRAPH_FAST_PATHS": "false"}
    )
    slow = await anext(slow_gateways)
    answers: dict[str, list[tuple[int, Any]]] = {"fast": [], "slow": []}
    for name, client in (("fast", gateway.http), ("slow", slow.http)):
        if name == "slow":
            # Off, nothing takes a shortcut: no lean POST, no plan in the executor.
            async def no(*args: Any, **kwargs: Any) -> None:
                raise AssertionError("a fast path ran with LEARNGRAPH_FAST_PATHS=false")

            monkeypatch.setattr(GraphQLEndpoint, "_run", no)
            monkeypatch.setattr(LeanExecutionContext, "_execute_plan", no)
        for body, status in FAST_AND_NOT:
            response = await client.post("/graphql", content=orjson.dumps(body), headers=JSON)
            assert response.status_code == status, (name, body, response.text)
            answers[name].append((response.status_code, response.json()))
    assert answers["fast"] == answers["slow"]
    await anext(slow_gateways, None)


async def test_an_answered_operation_leaves_nothing_for_the_garbage_collector(gateway: Gateway) -> None:
    """Its executor, context, request and allowance are freed when it ends (reference counting), not
    kept by cycles until a collection walks them: on `{ __typename }` that walk was a fifth of the CPU."""
    await gateway.data("{ lessons(first: 2) { edges { node { id } } } }")  # its caches warm
    gc.collect()
    gc.disable()
    try:
        await gateway.data("{ __typename }")
        await gateway.data("{ lessons(first: 2) { edges { node { id name } } } }")  # one upstream wait
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        watched = (Allowance, Context, LeanExecutionContext, Request)
        left = sorted({type(o).__name__ for o in gc.garbage if isinstance(o, watched)})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []


SCHEMA_ONLY = [
    ({"query": "{ __typename }"}, None),
    ({"query": "{ a: __typename b: __typename }"}, None),
    ({"query": "query Probe { __typename }", "operationName": "Probe"}, "Probe"),
    ({"query": "query Probe { __typename }"}, "Probe"),  # the one operation, named or not in the body
    ({"query": "query A { __typename } query B { b: __typename }", "operationName": "B"}, "B"),
    ({"query": "{ __typename }", "variables": {"unused": 1}, "extensions": {"x": 1}}, None),
]


@pytest.mark.parametrize(("body", "key"), SCHEMA_ONLY)
async def test_a_schema_only_answer_is_kept_from_its_first_run_and_equals_the_view(
    both: Both, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any], key: str | None
) -> None:
    first = await both.compare("POST", json=body)
    prepared = both.endpoint.documents.get(body["query"])
    assert isinstance(prepared, Prepared) and key in prepared.schema_only
    assert prepared.answers[key] == first.content  # kept as the real run answered it

    ran: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        ran.append(args)
        return graphql.execute(*args, **kwargs)

    monkeypatch.setattr("gateway.server.graphql_http.execute", counting)
    for headers in ({}, GRAPHQL_RESPONSE, {"accept": "application/json"}):
        again = await both.compare("POST", json=body, headers=headers)
        assert again.content == first.content and again.status_code == 200
    assert ran == []  # every later answer was the kept one (the view's ran on its own way)


@pytest.mark.parametrize(
    "query",
    [
        "{ __typename lessons(first: 1) { totalCount } }",  # a field that reads data
        "{ __typename @include(if: true) }",  # a directive
        "query Q($skip: Boolean!) { __typename @skip(if: $skip) }",  # variables decide it
        "{ ...F } fragment F on Query { __typename }",
        "{ ... on Query { __typename } }",
        "mutation { __typename }",
    ],
)
async def test_an_operation_the_schema_alone_does_not_decide_runs_each_time(both: Both, query: str) -> None:
    for _ in range(2):
        await both.compare("POST", json={"query": query, "variables": {"skip": False}})
    prepared = both.endpoint.documents.get(query)
    assert isinstance(prepared, Prepared)
    assert prepared.schema_only == frozenset() and prepared.answers == {}


async def test_a_schema_only_answer_is_not_kept_for_a_view_with_getters_of_its_own(gateway: Gateway) -> None:
    class Marking(LearnGraphGraphQL):
        async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
            assert isinstance(response, Response)
            response.headers["x-learngraph"] = "1"
            return await super().get_context(request, response)

    both = await _both(gateway, Marking(schema))
    assert not both.endpoint.keeps_answers
    for _ in range(2):
        response = await both.compare("POST", json={"query": "{ __typename }"})
        assert response.headers["x-learngraph"] == "1"
