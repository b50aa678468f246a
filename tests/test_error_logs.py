"""What the log says of an answer's errors: a caller's mistake is one INFO line, no traceback, its text
shortened and escaped; an upstream's failure a WARNING; only a server fault is an ERROR, with its traceback."""

from __future__ import annotations

import io
import logging
from typing import Any

import httpx
import orjson
import pytest
from graphql import GraphQLError

from gateway.data.callers import Caller, PersonRef, Role
from gateway.errors import UpstreamUnavailable
from gateway.log_redaction import OneLine, escape_controls, loggable
from gateway.sources import Source
from resolvers.errors import log_errors
from tests.conftest import Gateway
from tests.ids import damstra_user_id, gid, group_id

HUGE = "A" * 100_000  # a 100 kB ID
FORGED = "VXNlcjpkYW1zdHJhOjE=\r\n2026-12-06 ERROR gateway.graphql: forged"
TRAINEE = Caller("trainee-token", Role.TRAINEE, PersonRef.parse("Bea.Walker27@Example.com"))

USER = "query($id: ID!) { user(id: $id) { id fullName } }"
# (query, variables): each a caller's mistake of one kind.
BAD_INPUTS: list[tuple[str, dict[str, Any]]] = [
    (USER, {"id": HUGE}),
    (USER, {"id": FORGED}),
    (USER, {"id": gid(HUGE)}),
    (USER, {"id": gid("User:damstra:12\r\n34")}),
    (USER, {"id": gid(f"User:damstra:{HUGE}")}),
    (USER, {"id": gid("User:nowhere:1")}),
    (USER, {"id": damstra_user_id(999_999)}),  # NOT_FOUND, from DAMSTRA's 404
    (USER, {"id": group_id(201)}),  # a Group's ID where a User's is wanted
    (USER, {"id": 5}),
    (USER, {}),  # a required variable missing
    ("query($f: Int) { users(first: $f) { totalCount } }", {"f": "many\r\nlines"}),
    ("{ users(first: -1) { totalCount } }", {}),
    ("{ users(first: 100000000000) { totalCount } }", {}),
    ('{ completions(first: 1, after: "not-a-cursor\\r\\n") { totalCount } }', {}),
    ("{ lessons(status: [NOPE]) { totalCount } }", {}),
    ("{ " + "x" * 100_000 + " }", {}),  # an unknown field, named at length
    ("{ user(id: 5 }", {}),  # does not parse
    ('{ group(id: "\\r\\nforged") { name } }', {}),
    ("{ node(id: " + '"' + gid("Lesson:damstra:0") + '"' + ") { id } }", {}),
    ("fragment F on Nothing { id } { users { totalCount } }", {}),
    (
        'mutation($u: ID!) { scheduleLessons(input: {userId: $u, lessonIds: ["x\\r\\ny"]}) { userErrors { code } } }',
        {"u": damstra_user_id(10_000)},
    ),
    ("mutation { createGroup(input: {name: 5}) { userErrors { code } } }", {}),
]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_calm(records: list[logging.LogRecord]) -> None:
    faults = [r for r in records if r.levelno >= logging.ERROR or r.exc_info or r.exc_text]
    assert not faults, [r.getMessage()[:300] for r in faults]
    for record in records:
        message = record.getMessage()
        assert "\r" not in message and "\n" not in message, message[:300]
        assert len(message) < 2_000, message[:300]
        assert HUGE not in message


async def ask(http: httpx.AsyncClient, query: str, variables: dict[str, Any], *, get: bool) -> httpx.Response:
    if get:
        params = {"query": query, "variables": orjson.dumps(variables).decode()}
        return await http.get("/graphql", params=params, headers={"accept": "application/json"})
    return await http.post("/graphql", json={"query": query, "variables": variables})


@pytest.mark.parametrize("get", [False, True], ids=["post", "get"])
async def test_bad_input_logs_no_error_and_no_traceback(
    gateway: Gateway, logs: pytest.LogCaptureFixture, get: bool
) -> None:
    for query, variables in BAD_INPUTS:
        if get and query.startswith("mutation"):
            continue  # a GET may not mutate
        if get and len(query) + len(orjson.dumps(variables)) > 10_000:
            continue  # no URL carries it
        response = await ask(gateway.http, query, variables, get=get)
        assert response.status_code < 500, (query[:80], response.text[:300])
        assert HUGE not in response.text
    assert_calm(logs.records)
    said = [r for r in logs.records if r.name == "gateway.graphql"]
    assert said and all(r.levelno == logging.INFO for r in said)
    codes = {r.getMessage().split(" ", 1)[0] for r in said}
    assert {"NOT_FOUND", "INVALID_ID", "BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"} <= codes


async def test_a_forbidden_read_is_a_callers_mistake(
    gateway: Gateway, logs: pytest.LogCaptureFixture
) -> None:
    async with gateway.as_caller(TRAINEE) as trainee:
        body = (
            await trainee.http.post(
                "/graphql", json={"query": USER, "variables": {"id": damstra_user_id(10_000)}}
            )
        ).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert_calm(logs.records)
    assert any(r.levelno == logging.INFO and r.getMessage().startswith("FORBIDDEN") for r in logs.records)


async def test_an_upstream_failure_is_a_warning_without_a_traceback(
    gateway: Gateway, logs: pytest.LogCaptureFixture
) -> None:
    gateway.sandbox.controls[Source.DAMSTRA].faults.error_rate = 1.0
    body = await gateway.query(USER, {"id": damstra_user_id(10_000)})
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert_calm(logs.records)
    assert any(
        r.levelno == logging.WARNING and "UPSTREAM_UNAVAILABLE" in r.getMessage() for r in logs.records
    )


def test_a_server_fault_is_an_error_with_its_traceback(logs: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("a bug")
    except RuntimeError as exc:
        fault = exc
    log_errors(
        [
            GraphQLError("a bug", path=["user"], original_error=fault),
            GraphQLError("down", path=["user"], original_error=UpstreamUnavailable("damstra", "down")),
            GraphQLError("Cannot query field 'x'"),
        ]
    )
    levels = [(r.levelno, bool(r.exc_info)) for r in logs.records if r.name == "gateway.graphql"]
    assert levels == [(logging.ERROR, True), (logging.WARNING, False), (logging.INFO, False)]


def test_a_value_is_shortened_and_its_controls_escaped() -> None:
    assert loggable("a\r\nb\x1b[31m\u2028") == "a\\r\\nb\\x1b[31m\\u2028"
    assert loggable("x" * 1000) == "x" * 200 + "... (1000 characters)"
    assert escape_controls("tab\tstays") == "tab\tstays"


def test_no_record_writes_two_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OneLine())
    logger = logging.getLogger("test.one_line")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("id %s refused", "1\r\n2026-12-06 ERROR forged")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("with a traceback")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "id 1\\r\\n2026-12-06 ERROR forged refused"
    assert lines[1] == "with a traceback" and lines[2].startswith("Traceback")
