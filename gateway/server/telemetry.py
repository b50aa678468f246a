"""What the gateway tells an operator about each HTTP request: its request id, the operation's
metrics, span and access line. The metrics themselves at `/metrics`.

    Middleware(Observe, access_log=True)          # outermost: sees every answer, 413s and 429s too
    Route("/metrics", metrics)                    # or serve_metrics(host, port) on a port of its own

Every HTTP request gets a request id: the caller's `X-Request-Id` when it is a plain token (at most
128 letters, digits and `-_.:`), else a new one; the answer carries it back in `X-Request-Id`, and
every log line written while it runs carries it (`gateway.telemetry.logs`). A request to `/graphql`
is an operation: counted by name, type and outcome, timed, in a span when tracing is on, and with
`access_log` one line when it ends. The path that runs it names it (`gateway.telemetry.operation`).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.server.auth.middleware import caller_of
from gateway.telemetry import metrics, tracing
from gateway.telemetry.operation import Operation, bind, unbind

access = logging.getLogger("gateway.access")
log = logging.getLogger(__name__)

GRAPHQL_PATH = "/graphql"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_REFUSALS = {413: "REQUEST_TOO_LARGE", 429: "RATE_LIMITED"}


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()


def outcome_of(status: int, record: Operation) -> str:
    """ok, error (an answer with errors), refused (a limit), rate_limited, rejected (another 4xx),
    failed (5xx)."""
    if status == 429:
        return "rate_limited"
    if status == 413 or record.refusal is not None:
        return "refused"
    if status >= 500:
        return "failed"
    if status >= 400:
        return "rejected"
    return record.outcome or "ok"


class Observe:
    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = Operation(request_id_of(scope["headers"]))
        token = bind(record)
        header = (b"x-request-id", record.request_id.encode("ascii"))
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        if scope["path"] != GRAPHQL_PATH:
            try:
                await self.app(scope, receive, sending)
            finally:
                unbind(token)
                if status in _REFUSALS:
                    metrics.refused(_REFUSALS[status])
            return

        started = time.perf_counter()
        metrics.in_flight.inc()
        tracer = tracing.tracer
        span = span_token = None
        if tracer is not None:
            from opentelemetry.trace import SpanKind

            span = tracer.start_span(
                "graphql", context=tracing.continued(scope["headers"]), kind=SpanKind.SERVER
            )
            span_token = tracing.activate(span)
        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            metrics.in_flight.dec()
            unbind(token)
            outcome = outcome_of(status, record)
            type_ = record.type or "unknown"
            metrics.operation_done(record.name, type_, outcome, seconds)
            reason = _REFUSALS.get(status) or record.refusal
            if reason is not None:
                metrics.refused(reason)
            if span is not None:
                self._end_span(span, span_token, record, status, outcome)
            if self.access_log:
                self._log(scope, record, status, outcome, seconds)

    @staticmethod
    def _end_span(span: object, token: object, record: Operation, status: int, outcome: str) -> None:
        from opentelemetry.trace import Span, Status, StatusCode

        assert isinstance(span, Span)
        if record.type is not None:
            span.update_name(f"{record.type} {record.name}" if record.name else record.type)
        tracing.set_attributes(
            span,
            {
                "graphql.operation.name": record.name,
                "graphql.operation.type": record.type,
                "http.response.status_code": status,
                "learngraph.outcome": outcome,
                "learngraph.request_id": record.request_id,
                "learngraph.upstream_requests": record.upstream_requests,
            },
        )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        tracing.deactivate(token)
        span.end()

    @staticmethod
    def _log(scope: Scope, record: Operation, status: int, outcome: str, seconds: float) -> None:
        caller = caller_of(scope)
        fields = {
            "request_id": record.request_id,
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "operation_name": record.name,
            "operation_type": record.type,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
            "upstream_requests": record.upstream_requests,
            "caller": caller.name if caller is not None else None,
        }
        access.info(
            "%s %s %s %s %s in %.1f ms, %d upstream requests, by %s",
            scope["method"],
            scope["path"],
            status,
            f"{record.type or 'operation'} {record.name or ''}".rstrip(),
            outcome,
            seconds * 1000,
            record.upstream_requests,
            fields["caller"] or "nobody",
            extra={"fields": fields},
        )


async def metrics_endpoint(request: Request) -> Response:
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


def serve_metrics(host: str, port: int) -> ThreadingHTTPServer:
    """`/metrics` on a port of its own, from a thread of this process (with several workers, their
    parent's: under multiprocess mode it reads every worker's values)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self.send_error(404)
                return
            body = metrics.exposition()
            self.send_response(200)
            self.send_header("Content-Type", metrics.CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # a scrape every few seconds says nothing

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="learngraph-metrics", daemon=True).start()
    log.info("metrics are served at http://%s:%d/metrics", host, port)
    return server  # server.shutdown() stops it
