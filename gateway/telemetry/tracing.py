"""OpenTelemetry traces, configured by the standard `OTEL_*` variables only, and off without them.

    tracing.configure()            # the app's lifespan: on when OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT is set
    if tracing.tracer is not None: ...          # the hot path's one test while tracing is off

On, LearnGraph exports over OTLP/HTTP (protobuf) with a batch processor: the endpoint, headers,
timeout, `OTEL_SERVICE_NAME` (default `learngraph`), `OTEL_RESOURCE_ATTRIBUTES`, the sampler
(`OTEL_TRACES_SAMPLER`, parent-based by default) and the propagators (`OTEL_PROPAGATORS`, W3C
`traceparent` by default) are the SDK's own readings of the environment. `OTEL_SDK_DISABLED=true` or
`OTEL_TRACES_EXPORTER=none` keep it off. Off, nothing of the SDK is imported, no tracer provider is
set up and no span object is made: `tracer` stays None.

Spans: one per operation (`gateway.server.telemetry`, a SERVER span continuing the caller's
`traceparent`) and one per upstream HTTP request (`gateway.upstreams.http`, a CLIENT span whose
`traceparent` the upstream receives).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger(__name__)

tracer: Tracer | None = None
_provider: TracerProvider | None = None


def wanted(env: Mapping[str, str]) -> bool:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return False
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure() -> bool:
    """Set tracing up from the environment when it asks for it; whether tracing is on."""
    global tracer, _provider
    if _provider is not None:
        return True
    if not wanted(os.environ):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "learngraph"}))
    _provider = TracerProvider(resource=resource)
    _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    tracer = _provider.get_tracer("learngraph")
    log.info("traces are exported over OTLP/HTTP as %s", resource.attributes.get(SERVICE_NAME))
    return True


def shutdown() -> None:
    """Export the spans still held, and turn tracing off."""
    global tracer, _provider
    provider, _provider, tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def continued(headers: list[tuple[bytes, bytes]]) -> Context:
    """The caller's trace context (its `traceparent`), to start the operation's span in."""
    from opentelemetry import propagate

    carrier = {key.decode("latin-1"): value.decode("latin-1") for key, value in headers}
    return propagate.extract(carrier)


def activate(span: Span) -> object:
    """Make `span` the parent of the spans started in this context (and the tasks it starts)."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def deactivate(token: object) -> None:
    from opentelemetry import context

    context.detach(token)  # type: ignore[arg-type]


def inject(span: Span, headers: MutableMapping[str, str]) -> None:
    """The headers (`traceparent`, ...) that make an upstream's work part of `span`'s trace."""
    from opentelemetry import propagate, trace

    propagate.inject(headers, context=trace.set_span_in_context(span))


def set_attributes(span: Span, attributes: Mapping[str, Any]) -> None:
    span.set_attributes({key: value for key, value in attributes.items() if value is not None})
