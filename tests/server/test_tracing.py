"""Traces: off without the OTEL_* variables; on, spans reach a real OTLP/HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.telemetry import tracing
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS, _serve_gateway
from tests.ids import damstra_user_id

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
QUERY = {
    "query": "query Traced($id: ID!) { user(id: $id) { fullName } }",
    "variables": {"id": damstra_user_id(10_000)},
    "operationName": "Traced",
}


class Receiver:
    """An OTLP/HTTP collector's traces endpoint: POST /v1/traces, protobuf."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict[str, str], Span]] = []
        self.app = Starlette(routes=[Route("/v1/traces", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        assert request.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                self.spans += [(resource, span) for span in scope_spans.spans]
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.headers: list[httpx.Headers] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_on_loopback(receiver.app) as address:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", address)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "learngraph-under-test")
        yield receiver


def attributes(span: Span) -> dict[str, object]:
    values: dict[str, object] = {}
    for attribute in span.attributes:
        value = attribute.value
        values[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return values


async def test_tracing_is_off_without_the_otel_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert tracing.configure() is False
    assert tracing.tracer is None
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://x/v1/traces"})


async def test_spans_of_an_operation_and_its_upstream_requests_reach_the_collector(
    receiver: Receiver, sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    transport = RecordingTransport(sandbox_transport)
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    assert tracing.configure() is True
    try:
        async for served in _serve_gateway(sandbox, IN_PROCESS, identity, transport):
            traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
            response = await served.http.post("/graphql", json=QUERY, headers={"traceparent": traceparent})
            assert response.status_code == 200 and "errors" not in response.json()
    finally:
        await asyncio.to_thread(tracing.shutdown)  # exports what the batch holds, synchronously
    assert tracing.tracer is None

    operation = next(span for _, span in receiver.spans if span.kind == Span.SPAN_KIND_SERVER)
    assert operation.name == "query Traced"
    assert operation.trace_id.hex() == TRACE_ID and operation.parent_span_id.hex() == PARENT_ID
    assert attributes(operation) | {"learngraph.request_id": None} == attributes(operation) | {
        "graphql.operation.name": "Traced",
        "graphql.operation.type": "query",
        "http.response.status_code": 200,
        "learngraph.outcome": "ok",
        "learngraph.request_id": None,
    }
    upstream = [span for _, span in receiver.spans if span.kind == Span.SPAN_KIND_CLIENT]
    assert upstream
    for span in upstream:
        assert span.trace_id.hex() == TRACE_ID and span.parent_span_id == operation.span_id
        values = attributes(span)
        assert values["learngraph.source"] in ("damstra", "learninglogin", "training_records", "iscout")
        assert values["http.response.status_code"] == "200" and values["learngraph.retry"] == 0
        assert "{id}" in str(values["url.template"]) or not any(
            c.isdigit() for c in str(values["url.template"])
        )
        assert span.name == f"{values['http.request.method']} {values['url.template']}"
    assert attributes(operation)["learngraph.upstream_requests"] == len(upstream)
    assert {resource["service.name"] for resource, _ in receiver.spans} == {"learngraph-under-test"}
    # Each upstream received the trace context of its own span.
    sent = [headers["traceparent"] for headers in transport.headers]
    assert len(sent) == len(upstream)
    assert {value.split("-")[2] for value in sent} == {span.span_id.hex() for span in upstream}
    assert all(value.split("-")[1] == TRACE_ID for value in sent)


async def test_without_tracing_no_traceparent_is_sent(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    transport = RecordingTransport(sandbox_transport)
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, transport):
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        assert (await served.http.post("/graphql", json=QUERY, headers=headers)).status_code == 200
    assert transport.headers and all("traceparent" not in headers for headers in transport.headers)


async def test_a_kept_schema_only_answer_has_its_span(
    receiver: Receiver, sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    # `{ __typename }` runs once, then its answer is kept (gateway.server.graphql_http): both have a span.
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    probe = {"query": "query Probe { __typename }"}
    assert tracing.configure() is True
    try:
        async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport):
            for request_id in ("probe-1", "probe-2"):
                response = await served.http.post(
                    "/graphql", json=probe, headers={"x-request-id": request_id}
                )
                assert response.json() == {"data": {"__typename": "Query"}}
    finally:
        await asyncio.to_thread(tracing.shutdown)
    spans = {
        attributes(span)["learngraph.request_id"]: span
        for _, span in receiver.spans
        if span.kind == Span.SPAN_KIND_SERVER
    }
    assert set(spans) == {"probe-1", "probe-2"}
    for span in spans.values():
        assert span.name == "query Probe"
        assert attributes(span)["learngraph.outcome"] == "ok"
        assert attributes(span)["learngraph.upstream_requests"] == 0
