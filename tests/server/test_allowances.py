"""Each GraphQL request within its allowance, end to end: the upstream budget, the deadline (a hanging
upstream answered by it), and the work that stops when the client disconnects, on the lean POST path
and on Strawberry's own view alike."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from gateway.errors import CallerGone
from gateway.server.allowances import PerRequestAllowance
from gateway.settings import Settings
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.ids import damstra_user_id, gid
from tests.upstreams.inline_upstream import Upstream
from tests.upstreams.inline_upstream import client as upstream_client

FAST_PATHS = pytest.mark.parametrize("fast_paths", ["true", "false"], ids=["lean", "strawberry"])

EVERYTHING = """{
  lessons(first: 1000) { edges { node { source name } } }
  completions(first: 1000) { edges { node { source } } }
  groups(first: 1000) { totalCount } }"""
NESTED = """{ groups(first: 20) { edges { node { name members(first: 20) { edges { node { fullName
    schedules(first: 5) { edges { node { status lesson { name } } } } } } } } } } }"""
SCHEDULE = """mutation($input: ScheduleLessonsInput!) { scheduleLessons(input: $input) {
    results { lessonId userErrors { code } } } }"""


@contextlib.asynccontextmanager
async def gateway_with(
    sandbox: Sandbox, address: str, tmp_path: Path, env: dict[str, str], transport: Any = None
) -> AsyncIterator[Gateway]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    served = _serve_gateway(sandbox, address, identity, transport, env)
    gateway = await anext(served)
    try:
        yield gateway
    finally:
        with contextlib.suppress(StopAsyncIteration):
            await anext(served)


def errors_of(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(e["extensions"]["code"], e["extensions"].get("source", "")) for e in body.get("errors", [])}


def sandbox_requests(sandbox: Sandbox) -> int:
    return sum(len(controls.log.entries) for controls in sandbox.controls.values())


# -- the budget ---------------------------------------------------------------------------------


@FAST_PATHS
async def test_past_the_budget_upstream_work_fails_and_what_was_read_stays(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, fast_paths: str
) -> None:
    env = {"LEARNGRAPH_FAST_PATHS": fast_paths}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, sandbox_transport) as unlimited:
        whole = await unlimited.data(EVERYTHING)
        needed = sandbox_requests(sandbox)
    assert needed > 6
    for controls in sandbox.controls.values():
        controls.log.clear()
    env["LEARNGRAPH_MAX_UPSTREAM_REQUESTS"] = "5"
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, sandbox_transport) as limited:
        body = await limited.query(EVERYTHING)
    assert sandbox_requests(sandbox) == 5
    assert "UPSTREAM_BUDGET_EXCEEDED" in {code for code, _ in errors_of(body)}
    assert errors_of(body) <= {("UPSTREAM_BUDGET_EXCEEDED", s.name) for s in Source}
    # What was read before the budget ran out is in the answer.
    lessons = body["data"]["lessons"]["edges"]
    assert lessons and all(edge in whole["lessons"]["edges"] for edge in lessons)


async def test_the_budget_is_per_operation_and_a_cached_read_costs_nothing(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    query = """query($id: ID!) { user(id: $id) { firstName groups { name } } }"""
    person = next(p for p in sandbox.world.people if p.damstra_user_id)
    variables = {"id": damstra_user_id(person.damstra_user_id)}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, {}, sandbox_transport) as unlimited:
        await unlimited.data(query, variables)
        needed = sandbox_requests(sandbox)
    for controls in sandbox.controls.values():
        controls.log.clear()
    env = {"LEARNGRAPH_MAX_UPSTREAM_REQUESTS": str(needed)}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, sandbox_transport) as gateway:
        first = await gateway.data(query, variables)
        # The user and their groups now come from the cross-request cache: within budget again.
        assert await gateway.data(query, variables) == first
        assert await gateway.data(query, variables) == first
    assert sandbox_requests(sandbox) == needed


# -- the deadline -------------------------------------------------------------------------------


@pytest.fixture
def hang_seconds() -> float:
    """Longer than any deadline here; the sandbox's shutdown waits for its hanging answers."""
    return 2.6


@FAST_PATHS
async def test_a_hanging_upstream_is_answered_by_the_deadline_with_the_rest_kept(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, fast_paths: str, hang_seconds: float
) -> None:
    # The defaults otherwise: a 10 s timeout per source and 3 attempts per read.
    env = {"LEARNGRAPH_REQUEST_DEADLINE_SECONDS": "1.5", "LEARNGRAPH_FAST_PATHS": fast_paths}
    iscout = sandbox.controls[Source.ISCOUT].faults
    iscout.timeout_rate, iscout.hang_seconds = 1.0, hang_seconds
    async with gateway_with(sandbox, sandbox_address, tmp_path, env) as gateway:
        started = time.monotonic()
        body = await gateway.query(EVERYTHING)
        elapsed = time.monotonic() - started
    assert 1.4 < elapsed < 2.5  # by the deadline + 1 s
    assert errors_of(body) == {("UPSTREAM_TIMEOUT", "ISCOUT")}
    sources = {edge["node"]["source"] for edge in body["data"]["lessons"]["edges"]}
    assert sources == {"DAMSTRA", "LEARNINGLOGIN", "TRAINING_RECORDS"}
    assert body["data"]["groups"]["totalCount"] == len(sandbox.world.damstra.groups)
    # Not retried past the deadline: each of its reads sent once, and cut.
    sent = sandbox.controls[Source.ISCOUT].log.entries
    assert sent and len(set(sent)) == len(sent)


async def test_upstreams_hanging_at_random_are_answered_by_the_deadline(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, hang_seconds: float
) -> None:
    env = {"LEARNGRAPH_REQUEST_DEADLINE_SECONDS": "1.0"}
    async with gateway_with(sandbox, sandbox_address, tmp_path, env) as gateway:
        for controls in sandbox.controls.values():
            controls.faults.timeout_rate, controls.faults.hang_seconds = 0.1, hang_seconds
        for _ in range(3):
            started = time.monotonic()
            body = await gateway.query(NESTED)
            assert time.monotonic() - started < 2.0
            assert errors_of(body) <= {("UPSTREAM_TIMEOUT", s.name) for s in Source}


# -- the caller leaving -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def served_over_loopback(
    sandbox: Sandbox, transport: httpx.ASGITransport, tmp_path: Path, fast_paths: str = "true"
) -> AsyncIterator[tuple[str, Gateway]]:
    """The gateway under uvicorn (a closed connection reaches it as `http.disconnect`) over the
    in-process sandbox, every upstream answering after 100 ms."""
    env = {"LEARNGRAPH_FAST_PATHS": fast_paths}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, transport) as gateway:
        for controls in sandbox.controls.values():
            controls.faults.latency_ms = 100
        async with serve_on_loopback(gateway.app) as address:
            yield address, gateway


async def post_and_leave(address: str, payload: dict[str, Any], when: Callable[[], bool]) -> None:
    """POSTs `payload` to /graphql and closes the connection, unanswered, once `when()` holds."""
    host, port = address.removeprefix("http://").split(":")
    body = json.dumps(payload).encode()
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    async with asyncio.timeout(5):
        while not when():  # noqa: ASYNC110 (the sandbox's log fills from another task; no event to wait on)
            await asyncio.sleep(0.005)
    assert not reader.at_eof()  # still unanswered
    writer.close()
    await writer.wait_closed()


async def quiet(sandbox: Sandbox, seconds: float = 0.6) -> int:
    """The sandbox's request count once nothing more arrives for `seconds` (at most 5 s)."""
    count = sandbox_requests(sandbox)
    async with asyncio.timeout(5):
        while True:
            await asyncio.sleep(seconds)
            if sandbox_requests(sandbox) == count:
                return count
            count = sandbox_requests(sandbox)


@FAST_PATHS
async def test_a_client_that_disconnects_mid_query_leaves_no_further_upstream_requests(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, fast_paths: str
) -> None:
    async with served_over_loopback(sandbox, sandbox_transport, tmp_path, fast_paths) as (address, _):
        damstra = sandbox.controls[Source.DAMSTRA].log
        await post_and_leave(address, {"query": NESTED}, lambda: damstra.count("GET", "/group") >= 1)
        await asyncio.sleep(0.05)  # the gateway hears of it
        left_at = sandbox_requests(sandbox)
        assert await quiet(sandbox) == left_at
        # The whole answer reads far more than what went before the client left.
        for controls in sandbox.controls.values():
            controls.faults.latency_ms = 0
        async with httpx.AsyncClient(base_url=address) as client:
            assert (await client.post("/graphql", json={"query": NESTED})).status_code == 200
        assert sandbox_requests(sandbox) - left_at > 5 * left_at


async def test_a_mutation_whose_client_leaves_after_its_first_write_completes_its_writes(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    world = sandbox.world
    person = next(p for p in world.people if p.damstra_user_id and p.training_records_person_api_id)
    held = {
        r.package_api_id
        for r in world.training_records.records.values()
        if r.person_api_id == person.training_records_person_api_id
    }
    package = next(p for p in world.training_records.packages if p not in held)
    busy = {s.lesson_id for s in world.damstra.schedules.values() if s.user_id == person.damstra_user_id}
    lesson = next(
        x.lesson_id
        for x in world.damstra.lessons.values()
        if x.status == "active" and x.lesson_id not in busy
    )
    damstra_write = f"/user/{person.damstra_user_id}/lesson_schedule"
    records = sandbox.controls[Source.TRAINING_RECORDS].log
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        # DAMSTRA's schedule is written first; the TRAINING_RECORDS record only after the person's
        # records are read (which they must be, to not make it twice).
        "lessonIds": [gid(f"Lesson:damstra:{lesson}"), gid(f"Lesson:training_records:{package}")],
    }
    async with served_over_loopback(sandbox, sandbox_transport, tmp_path) as (address, _):
        damstra = sandbox.controls[Source.DAMSTRA].log
        await post_and_leave(
            address,
            {"query": SCHEDULE, "variables": {"input": input_value}},
            lambda: damstra.count("POST", damstra_write) == 1,
        )
        assert records.count("POST") == 0  # not sent yet when the client left
        await quiet(sandbox)
    assert records.count("POST") == 1
    made = [
        r
        for r in world.training_records.records.values()
        if r.person_api_id == person.training_records_person_api_id and r.package_api_id == package
    ]
    assert len(made) == 1
    assert [
        s
        for s in world.damstra.schedules.values()
        if s.user_id == person.damstra_user_id and s.lesson_id == lesson
    ]


async def test_a_mutation_whose_client_leaves_before_any_write_writes_nothing(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    person = next(p for p in sandbox.world.people if p.damstra_user_id)
    lesson = next(iter(sandbox.world.damstra.lessons))
    input_value = {
        "userId": damstra_user_id(person.damstra_user_id),
        "lessonIds": [gid(f"Lesson:damstra:{lesson}")],
    }
    async with served_over_loopback(sandbox, sandbox_transport, tmp_path) as (address, _):
        damstra = sandbox.controls[Source.DAMSTRA].log
        await post_and_leave(
            address,
            {"query": SCHEDULE, "variables": {"input": input_value}},
            lambda: damstra.count("GET", "/lesson") >= 1,
        )
        await quiet(sandbox)
        assert damstra.count("POST") == 0


def _bare_scope(settings: Settings) -> dict[str, Any]:
    services = SimpleNamespace(settings=settings)
    return {"type": "http", "app": SimpleNamespace(state=SimpleNamespace(services=services))}


async def _nothing_sent(message: Any) -> None:
    pass


async def test_a_client_already_gone_at_the_first_upstream_request_gets_none_sent() -> None:
    upstream = Upstream()
    http = upstream_client(upstream)
    outcome: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()  # the body
        try:
            await http.get_json("/items")
        except CallerGone:
            outcome.append("gone")

    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    await PerRequestAllowance(app)(_bare_scope(Settings()), receive, _nothing_sent)
    assert outcome == ["gone"]
    assert upstream.seen == []


async def test_an_answer_that_needs_no_upstream_does_not_watch_the_connection() -> None:
    received: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()

    async def receive() -> dict[str, Any]:
        received.append("message")
        return {"type": "http.request", "body": b"{}", "more_body": False}

    await PerRequestAllowance(app)(_bare_scope(Settings()), receive, _nothing_sent)
    assert received == ["message"]  # the body only: no watcher started
