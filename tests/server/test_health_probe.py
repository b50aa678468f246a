"""`{ __typename }`, the health probe load balancers send, is answered from the bytes its first run
gave (`gateway.server.graphql_http`), and still passes every layer of the door: body limit, caller,
fairness, request id, metrics and access line."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.data.callers import Caller, Role
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

PROBE = {"query": "{ __typename }"}
NAMED = {"query": "query HealthProbe { __typename }"}
ANSWER = {"data": {"__typename": "Query"}}
ANA = Caller("ana", Role.ADMIN)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@contextlib.asynccontextmanager
async def guarded(
    sandbox: Sandbox, transport: httpx.AsyncBaseTransport, tmp_path: Path, **env: str
) -> AsyncIterator[Gateway]:
    """A gateway that wants a credential, with a small body limit and JSON access lines."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = {
        "LEARNGRAPH_ALLOW_ANONYMOUS": "false",
        "LEARNGRAPH_MAX_BODY_BYTES": "2000",
        "LEARNGRAPH_LOG_FORMAT": "json",
        **{f"LEARNGRAPH_{name.upper()}": value for name, value in env.items()},
    }
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, transport, settings):
        yield served


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every operation graphql-core executes on the lean path from now on."""
    ran: list[object] = []

    def counting(*args: Any, **kwargs: Any) -> Any:
        ran.append(kwargs.get("operation_name"))
        return graphql.execute(*args, **kwargs)

    monkeypatch.setattr("gateway.server.graphql_http.execute", counting)
    return ran


async def test_a_kept_answer_still_needs_a_credential(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, executions: list[object]
) -> None:
    async with guarded(sandbox, sandbox_transport, tmp_path) as gateway, gateway.as_caller(ANA) as ana:
        for _ in range(2):
            answer = await ana.http.post("/graphql", json=PROBE)
            assert (answer.status_code, answer.json()) == (200, ANSWER)
        assert len(executions) == 1  # the second answer was the kept one
        nobody = await gateway.http.post("/graphql", json=PROBE)
        forged = await gateway.http.post("/graphql", json=PROBE, headers={"Authorization": "Bearer forged"})
        unknown = await gateway.http.post("/graphql", json=PROBE, headers={"X-API-Key": "guessed"})
    for refused in (nobody, forged, unknown):
        assert refused.status_code == 401
        assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "data" not in refused.json()


async def test_a_kept_answer_is_counted_timed_logged_and_carries_its_request_id(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    executions: list[object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    labels = {"operation_name": "HealthProbe", "operation_type": "query"}
    async with guarded(sandbox, sandbox_transport, tmp_path) as gateway, gateway.as_caller(ANA) as ana:
        await ana.http.post("/graphql", json=NAMED)  # runs, and its answer is kept
        counted = value("learngraph_operations_total", **labels, outcome="ok")
        timed = value("learngraph_operation_duration_seconds_count", **labels)
        with caplog.at_level(logging.INFO, logger="gateway.access"):
            given = await ana.http.post("/graphql", json=NAMED, headers={"X-Request-Id": "probe-1"})
            made = await ana.http.post("/graphql", json=NAMED)
    assert len(executions) == 1  # its first run only
    assert given.json() == made.json() == ANSWER
    assert given.headers["x-request-id"] == "probe-1"
    assert len(made.headers["x-request-id"]) == 32 and made.headers["x-request-id"] != "probe-1"
    assert value("learngraph_operations_total", **labels, outcome="ok") == counted + 2
    assert value("learngraph_operation_duration_seconds_count", **labels) == timed + 2
    assert value("learngraph_requests_in_flight") == 0
    lines = [getattr(r, "fields", {}) for r in caplog.records if r.name == "gateway.access"]
    line = next(fields for fields in lines if fields.get("request_id") == "probe-1")
    assert (line["operation_name"], line["operation_type"], line["outcome"]) == ("HealthProbe", "query", "ok")
    assert (line["status"], line["caller"], line["upstream_requests"]) == (200, "ana", 0)


async def test_a_kept_answer_counts_in_its_callers_rate_and_keeps_the_body_limit(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, executions: list[object]
) -> None:
    async with (
        guarded(sandbox, sandbox_transport, tmp_path, caller_rate_limit="3") as gateway,
        gateway.as_caller(ANA) as ana,
    ):
        answers = [await ana.http.post("/graphql", json=PROBE) for _ in range(4)]
        large = await ana.http.post(
            "/graphql", content=b'{"query": "{ __typename }", "x": "' + b"x" * 3000 + b'"}'
        )
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert len(executions) == 1
    assert large.status_code == 413
    assert large.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
