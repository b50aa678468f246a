"""LearnGraph's Prometheus metrics, one registry per process (prometheus-client's default).

    metrics.operation_done("Dashboard", "query", "ok", 0.012)    # gateway.server.telemetry
    metrics.upstream_done("damstra", "/user/{id}", "GET", "200", 0.004)
    metrics.CACHE_HITS["lesson"].inc()

With several worker processes, prometheus-client's multiprocess mode keeps each process's values in
files under `PROMETHEUS_MULTIPROC_DIR` (read when prometheus-client is first imported, so set before
the workers start); `exposition()` then sums every process's files. The gauges count live processes
only (`livesum`).

Label values are bounded: operation names are the caller's choice, so the first
`MAX_OPERATION_NAMES` seen by a process are kept and the rest counted as `(other)`; upstream endpoints
are path templates (`/user/{id}`), never a path with its IDs. Each label combination's child is
looked up once and kept: the hot path costs a dict look-up and the increment.
"""

from __future__ import annotations

import os
import re
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MAX_OPERATION_NAMES: Final = 100
ANONYMOUS: Final = "(anonymous)"  # not a GraphQL name, so no operation can be called that
OTHER: Final = "(other)"
CACHE_KINDS: Final = (
    "lesson",
    "group",
    "user",
    "training_records",
    "access",
    "damstra_schedules",
    "learninglogin_schedules",
    "group_members",
)

OPERATIONS = Counter(
    "learngraph_operations",
    "GraphQL operations answered over HTTP, by operation name, type and outcome",
    ["operation_name", "operation_type", "outcome"],
)
OPERATION_SECONDS = Histogram(
    "learngraph_operation_duration_seconds",
    "Time to answer a GraphQL operation over HTTP",
    ["operation_name", "operation_type"],
)
IN_FLIGHT = Gauge(
    "learngraph_requests_in_flight", "HTTP GraphQL requests being answered", multiprocess_mode="livesum"
)
REFUSED = Counter(
    "learngraph_refused_requests",
    "Requests refused by a limit: REQUEST_TOO_LARGE (413), LIMIT_EXCEEDED and COST_LIMIT_EXCEEDED (400), "
    "RATE_LIMITED (429)",
    ["reason"],
)
UPSTREAM_REQUESTS = Counter(
    "learngraph_upstream_requests",
    "HTTP requests sent to the upstreams, by source, endpoint template, method and status "
    "(a status code, or timeout, unreachable, cancelled)",
    ["source", "endpoint", "method", "status"],
)
UPSTREAM_SECONDS = Histogram(
    "learngraph_upstream_request_duration_seconds",
    "Time an upstream took to answer one HTTP request",
    ["source", "endpoint"],
)
UPSTREAM_RETRIES = Counter(
    "learngraph_upstream_retries", "Upstream reads sent again after a retryable failure", ["source"]
)
UPSTREAM_PACING_SECONDS = Histogram(
    "learngraph_upstream_pacing_wait_seconds",
    "Time an upstream request waited before it was sent, for its source's pace (LEARNGRAPH_<SOURCE>_MAX_RPS) "
    "or a pause the upstream asked for (429 Retry-After); observed only while pacing is on or a pause holds",
    ["source"],
    buckets=(0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
UPSTREAM_RATE_LIMITED = Counter(
    "learngraph_upstream_rate_limited",
    "Answers from an upstream saying it is rate limiting us (HTTP 429, or the vendor's own rate-limit error)",
    ["source"],
)
CACHE_LOOKUPS = Counter(
    "learngraph_cache_lookups",
    "Cross-request cache look-ups by cache and result (hit, miss)",
    ["cache", "result"],
)
CACHE_HITS = {kind: CACHE_LOOKUPS.labels(kind, "hit") for kind in CACHE_KINDS}
CACHE_MISSES = {kind: CACHE_LOOKUPS.labels(kind, "miss") for kind in CACHE_KINDS}
SUBSCRIPTIONS_OPEN = Gauge(
    "learngraph_subscriptions_open", "Subscriptions running over WebSockets", multiprocess_mode="livesum"
)
WEBHOOK_EVENTS = Counter(
    "learngraph_webhook_events",
    "DAMSTRA webhook deliveries accepted (received), and of those not published again: duplicate, stale",
    ["result"],
)
WEBHOOKS_RECEIVED = WEBHOOK_EVENTS.labels("received")
WEBHOOKS_DUPLICATE = WEBHOOK_EVENTS.labels("duplicate")
WEBHOOKS_STALE = WEBHOOK_EVENTS.labels("stale")

_names: set[str] = set()
_operation_children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
_upstream_children: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
_refused_children: dict[str, Counter] = {}


class InFlight:
    """The in-flight gauge: a plain count read at each scrape, in one process (a gauge's `inc` and
    `dec` take a lock each, a microsecond and a half per request); the gauge's own values in
    multiprocess mode, where each process's count must be in its file."""

    def __init__(self, gauge: Gauge) -> None:
        self.count = 0
        self.gauge = gauge
        self.shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if not self.shared:
            gauge.set_function(lambda: self.count)

    def inc(self) -> None:
        if self.shared:
            self.gauge.inc()
        else:
            self.count += 1

    def dec(self) -> None:
        if self.shared:
            self.gauge.dec()
        else:
            self.count -= 1


in_flight = InFlight(IN_FLIGHT)


def operation_label(name: str | None) -> str:
    if name is None:
        return ANONYMOUS
    if name in _names:
        return name
    if len(_names) < MAX_OPERATION_NAMES:
        _names.add(name)
        return name
    return OTHER


def operation_done(name: str | None, type_: str, outcome: str, seconds: float) -> None:
    key = (operation_label(name), type_, outcome)
    children = _operation_children.get(key)
    if children is None:
        children = _operation_children[key] = (OPERATIONS.labels(*key), OPERATION_SECONDS.labels(*key[:2]))
    children[0].inc()
    children[1].observe(seconds)


def upstream_done(source: str, endpoint: str, method: str, status: str, seconds: float) -> None:
    key = (source, endpoint, method, status)
    children = _upstream_children.get(key)
    if children is None:
        children = _upstream_children[key] = (
            UPSTREAM_REQUESTS.labels(*key),
            UPSTREAM_SECONDS.labels(source, endpoint),
        )
    children[0].inc()
    children[1].observe(seconds)


def pacing_wait(source: str) -> Histogram:
    """The pacing-wait histogram's child for `source` (a `Pacer` keeps it)."""
    return UPSTREAM_PACING_SECONDS.labels(source)


def refused(reason: str) -> None:
    child = _refused_children.get(reason)
    if child is None:
        child = _refused_children[reason] = REFUSED.labels(reason)
    child.inc()


# A path segment that holds a digit is an ID (10001, rec-00042, 5804f0...), or one with an `@` (an
# email); route words hold neither. A version segment (`v2`) is a route word.
_ID_SEGMENT = re.compile(r"\d|@")
_VERSION = re.compile(r"v\d{1,2}")


def endpoint_template(path: str) -> str:
    """`/user/10001/lesson_schedule` -> `/user/{id}/lesson_schedule`."""
    return "/".join(
        "{id}" if _ID_SEGMENT.search(part) and not _VERSION.fullmatch(part) else part
        for part in path.split("/")
    )


CONTENT_TYPE: Final = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The text format of every metric: this process's, or every worker's under multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)
