"""The gateway's metrics (`/metrics`, `gateway.telemetry.metrics`), request ids and JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from gateway.log_redaction import configure_logging
from gateway.server.telemetry import serve_metrics
from gateway.telemetry import metrics
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.ids import damstra_user_id

USER_QUERY = "query OneUser($id: ID!) { user(id: $id) { fullName groups { name } } }"
USER_VARIABLES = {"id": damstra_user_id(10_000)}
USER: dict[str, object] = {"query": USER_QUERY, "variables": USER_VARIABLES}
DEEP = '{ user(id: "x") ' + "{ groups { members { edges { node " * 4 + "{ id }" + " } } } }" * 4 + " }"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def guarded(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """A gateway that wants a credential, a small body and one operation a minute per caller."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {
        "LEARNGRAPH_ALLOW_ANONYMOUS": "false",
        "LEARNGRAPH_MAX_BODY_BYTES": "2000",
    }
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        yield served


async def test_an_operation_is_counted_by_name_type_and_outcome(gateway: Gateway) -> None:
    labels = {"operation_name": "OneUser", "operation_type": "query"}
    before = value("learngraph_operations_total", **labels, outcome="ok")
    timed = value("learngraph_operation_duration_seconds_count", **labels)
    upstream = value(
        "learngraph_upstream_requests_total",
        source="damstra",
        endpoint="/user/{id}",
        method="GET",
        status="200",
    )
    response = await gateway.http.post("/graphql", json=USER)
    assert response.status_code == 200 and "errors" not in response.json()
    assert value("learngraph_operations_total", **labels, outcome="ok") == before + 1
    assert value("learngraph_operation_duration_seconds_count", **labels) == timed + 1
    assert (
        value(
            "learngraph_upstream_requests_total",
            source="damstra",
            endpoint="/user/{id}",
            method="GET",
            status="200",
        )
        > upstream
    )
    assert value("learngraph_requests_in_flight") == 0


async def test_both_paths_name_the_operation(gateway: Gateway) -> None:
    # GET takes Strawberry's view; the POST above the lean path.
    labels = {"operation_name": "Typename", "operation_type": "query", "outcome": "ok"}
    before = value("learngraph_operations_total", **labels)
    response = await gateway.http.get("/graphql", params={"query": "query Typename { __typename }"})
    assert response.status_code == 200
    assert value("learngraph_operations_total", **labels) == before + 1


async def test_an_answer_with_errors_is_an_error(gateway: Gateway) -> None:
    labels = {"operation_name": "Missing", "operation_type": "query", "outcome": "error"}
    before = value("learngraph_operations_total", **labels)
    response = await gateway.http.post(
        "/graphql", json={"query": 'query Missing { user(id: "nope") { id } }'}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_ID"
    assert value("learngraph_operations_total", **labels) == before + 1


def test_upstream_endpoints_are_templates() -> None:
    assert metrics.endpoint_template("/user/10001/lesson_schedule") == "/user/{id}/lesson_schedule"
    assert metrics.endpoint_template("/api/v2/records/rec-00042") == "/api/v2/records/{id}"
    assert metrics.endpoint_template("/people/ana@example.com") == "/people/{id}"
    assert metrics.endpoint_template("/group") == "/group"


def test_operation_names_are_capped() -> None:
    names = [f"Name{n}" for n in range(metrics.MAX_OPERATION_NAMES + 5)]
    labels = [metrics.operation_label(name) for name in names]
    assert labels[-1] == metrics.OTHER
    assert len(set(labels)) <= metrics.MAX_OPERATION_NAMES + 1
    assert metrics.operation_label(None) == metrics.ANONYMOUS
    kept = next(label for label in labels if label != metrics.OTHER)
    assert metrics.operation_label(kept) == kept  # a name once kept stays


async def test_refusals_are_counted_by_reason(guarded: Gateway) -> None:
    headers = {"Authorization": "Bearer nonsense"}
    large = value("learngraph_refused_requests_total", reason="REQUEST_TOO_LARGE")
    response = await guarded.http.post("/graphql", content=b"x" * 3000, headers=headers)
    assert response.status_code == 413
    assert value("learngraph_refused_requests_total", reason="REQUEST_TOO_LARGE") == large + 1
    assert (
        value(
            "learngraph_operations_total",
            operation_name="(anonymous)",
            operation_type="unknown",
            outcome="refused",
        )
        >= 1
    )


async def test_a_limit_refusal_is_counted_on_either_path(gateway: Gateway) -> None:
    before = value("learngraph_refused_requests_total", reason="LIMIT_EXCEEDED")
    assert (await gateway.http.post("/graphql", json={"query": DEEP})).status_code == 400
    assert (await gateway.http.get("/graphql", params={"query": DEEP})).status_code == 400
    assert value("learngraph_refused_requests_total", reason="LIMIT_EXCEEDED") == before + 2


async def test_cache_lookups_are_counted_per_cache(gateway: Gateway) -> None:
    misses = value("learngraph_cache_lookups_total", cache="user", result="miss")
    hits = value("learngraph_cache_lookups_total", cache="user", result="hit")
    for _ in range(2):
        await gateway.data(USER_QUERY, USER_VARIABLES)
    assert value("learngraph_cache_lookups_total", cache="user", result="miss") > misses
    assert value("learngraph_cache_lookups_total", cache="user", result="hit") > hits


async def test_metrics_need_no_credential(guarded: Gateway) -> None:
    await guarded.http.post("/graphql", json=USER)  # refused: no credential
    response = await guarded.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        "learngraph_operations_total",
        "learngraph_operation_duration_seconds_bucket",
        "learngraph_requests_in_flight",
        "learngraph_upstream_requests_total",
        "learngraph_upstream_request_duration_seconds_bucket",
        "learngraph_cache_lookups_total",
        "learngraph_subscriptions_open",
    ):
        assert name in response.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_metrics_on_a_port_of_their_own(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    port = _free_port()
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_METRICS_PORT": str(port)}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        assert (await served.http.get("/metrics")).status_code == 404  # not on the main port
    server = serve_metrics("127.0.0.1", port)
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
            assert response.status_code == 200 and "learngraph_operations_total" in response.text
            assert (await client.get(f"http://127.0.0.1:{port}/other")).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


INCREMENT = """
from gateway.telemetry import metrics
metrics.operation_done("Shared", "query", "ok", 0.01)
metrics.IN_FLIGHT.inc()
"""
EXPOSE = "import sys; from gateway.telemetry import metrics; sys.stdout.write(metrics.exposition().decode())"


def test_several_worker_processes_are_summed(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", INCREMENT], env=env, check=True)
    text = subprocess.run(
        [sys.executable, "-c", EXPOSE], env=env, check=True, capture_output=True, text=True
    ).stdout
    line = 'learngraph_operations_total{operation_name="Shared",operation_type="query",outcome="ok"} 2.0'
    assert line in text
    # The in-flight gauge counts live processes only: both have ended.
    assert "learngraph_requests_in_flight 0.0" in text or "learngraph_requests_in_flight{" not in text


# -- request ids and log lines -----------------------------------------------------------------


async def test_a_request_id_is_taken_or_made_and_returned(gateway: Gateway) -> None:
    given = await gateway.http.post("/graphql", json=USER, headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await gateway.http.post("/graphql", json=USER)
    assert len(made.headers["x-request-id"]) == 32
    hostile = await gateway.http.get("/healthz", headers={"X-Request-Id": "a b\x01" + "x" * 200})
    assert hostile.headers["x-request-id"] != "a b"
    assert len(hostile.headers["x-request-id"]) == 32


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", ["sandbox-secret-never-logged"], "json")
    written = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(written)
    try:
        yield written
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_json_logs_carry_the_request_id_and_one_line_per_operation(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    json_logs: io.StringIO,
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_LOG_FORMAT": "json"}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        json_logs.truncate(0)
        json_logs.seek(0)
        response = await served.http.post("/graphql", json=USER, headers={"X-Request-Id": "req-1"})
        assert response.status_code == 200
        # A caller's mistake is logged at INFO, within the request: it carries the request id too.
        await served.http.post(
            "/graphql", json={"query": '{ user(id: "not-an-id") { id } }'}, headers={"X-Request-Id": "req-2"}
        )
    err = json_logs.getvalue()
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    access = [line for line in lines if line["logger"] == "gateway.access"]
    first = next(line for line in access if line["request_id"] == "req-1")
    assert first["operation_name"] == "OneUser" and first["operation_type"] == "query"
    assert first["outcome"] == "ok" and first["status"] == 200
    assert first["upstream_requests"] >= 1 and first["duration_ms"] > 0
    assert first["caller"] == "anonymous"
    assert {"time", "level", "message"} <= first.keys()
    others = [
        line for line in lines if line["logger"] != "gateway.access" and line.get("request_id") == "req-2"
    ]
    assert others, lines


def test_the_grafana_dashboard_reads_metrics_the_gateway_exports() -> None:
    dashboard = json.loads((Path(__file__).parents[2] / "deploy/grafana/learngraph.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"learngraph_[a-z_]+", target["expr"])
    }
    exported = set(re.findall(r"^# TYPE (learngraph_[a-z_]+) (\w+)", metrics.exposition().decode(), re.M))
    names = {name for name, _ in exported}
    names |= {f"{name}_total" for name, kind in exported if kind == "counter"}
    names |= {f"{name}_bucket" for name, kind in exported if kind == "histogram"}
    assert used and used <= names, used - names
