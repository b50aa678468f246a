"""The one way LearnGraph talks HTTP to an upstream.

    http = UpstreamHTTP(Source.DAMSTRA, "https://app.velpic.com/api/v2", HeaderAuth("AccessKey", key),
                        decode_error=decode_damstra_error, timeout_seconds=10)
    body = await http.get_json("/user", params={"maxResults": 5})

The core every connector sends through: the pooled client, same-origin redirects, mapping failures
onto the error tree (the vendor's own reading first, through its `ErrorDecoder`) and credential
redaction. The pieces around it have their own modules: `auth` (where the credential rides),
`transport` (the connection pool), `retries` (which reads are sent again), `dedup` (identical
reads in flight sent once), `allowance` (what the operation asking may still spend: each exchange
counts, and its deadline or its caller leaving cuts the exchanges in flight) and `pacing` (the
upstream's requests a second, and the pause a 429's Retry-After asks for).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import orjson

from gateway.errors import (
    UpstreamError,
    UpstreamMalformedResponse,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamRequestInvalid,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)
from gateway.sources import Source
from gateway.telemetry import metrics, tracing
from gateway.telemetry import operation as operations
from gateway.upstreams import allowance as allowances
from gateway.upstreams.auth import Auth
from gateway.upstreams.dedup import SharedReads, read_key
from gateway.upstreams.pacing import Pacer, retry_after_seconds
from gateway.upstreams.retries import with_retries
from gateway.upstreams.transport import upstream_client

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

log = logging.getLogger("gateway.upstreams")

ErrorDecoder = Callable[[Source, httpx.Response, Any], UpstreamError | None]
"""Reads a vendor's error bodies: answers the error a response carries, or None. Sees 2xx too,
because vendors report failures on 200 (iScout `ok: false`, LearningLogin's text answers)."""

_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
_URLS_KEPT = 4096  # joined URLs remembered per upstream
# Servers refuse longer request lines (414) or cut them; RFC 9110 §4.1 asks only for 8000 octets. A
# search text or a list of IDs that would make a longer URL is the caller's input error, sent nowhere.
MAX_URL_LENGTH = 8000


@dataclass(frozen=True, slots=True)
class _Target:
    url: httpx.URL  # without a query
    query: dict[str, Any] | None  # the one the path carried (an absolute next-page link's)
    same_origin: bool
    path_length: int  # of its raw path


@dataclass
class RequestStats:
    """Counts of what this process asked an upstream, for metrics and benchmarks."""

    requests: int = 0
    failures: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class UpstreamHTTP:
    """A pooled client for one upstream and the policies around it.

    Without a `transport`, requests go over the gateway's own wire, `max_connections` at most at once
    (`transport.upstream_client`); with one (the tests' `httpx.ASGITransport`), through httpx over it.
    Every exchange, retries and redirects included, is paced by `pacer`: `max_rps` a second at most
    (0: unlimited), and none while the upstream's Retry-After holds.
    """

    def __init__(
        self,
        source: Source,
        base_url: str,
        auth: Auth,
        *,
        decode_error: ErrorDecoder,
        timeout_seconds: float = 10.0,
        retry_attempts: int = 3,
        retry_wait_seconds: float = 0.05,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
        max_rps: float = 0.0,
    ) -> None:
        self.source = source
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.auth = auth
        self.decode_error = decode_error
        self.retry_attempts = retry_attempts
        self.retry_wait_seconds = retry_wait_seconds
        self.stats = RequestStats()
        self.pacer = Pacer(source.slug, max_rps)
        self._secret = auth.secret.get_secret_value()
        self._reads = SharedReads(source.slug)
        self._urls: dict[str, httpx.URL] = {}
        self._targets: dict[str, _Target] = {}  # a path -> what sending to it needs checked once
        self._templates: dict[str, str] = {}  # a URL's path -> its endpoint template, for telemetry
        self._templates_by_url: dict[int, tuple[httpx.URL, str]] = {}  # the same, by a cached URL
        self._client = upstream_client(httpx.Timeout(timeout_seconds), transport, max_connections)

    async def aclose(self) -> None:
        await self._client.aclose()

    def url_for(self, path: str) -> httpx.URL:
        """`path` relative to the base URL (which keeps its own path, e.g. `/api/v2`), or absolute."""
        url = self._urls.get(path)
        if url is None:
            if path.startswith(("http://", "https://")):
                url = httpx.URL(path)
            else:
                url = self.base_url.join(path.lstrip("/"))
            # Joining parses the URL anew; the same few thousand paths come back (one per person).
            if len(self._urls) >= _URLS_KEPT:
                self._urls.clear()
            self._urls[path] = url
        return url

    # -- requests -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> tuple[httpx.Response, Any]:
        """Send once (writes) or with retries (idempotent reads); answer the response and its JSON body
        (None when empty or not JSON). Failures raise the matching `UpstreamError`."""
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        if not idempotent:
            return await self._send(method, path, params, json)
        attempts = itertools.count()
        return await with_retries(
            lambda: self._send(method, path, params, json, next(attempts)),
            attempts=self.retry_attempts,
            wait_seconds=self.retry_wait_seconds,
        )

    async def read_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        """An idempotent read's JSON body. Identical reads in flight at once are sent once."""
        return await self._reads.share(
            read_key(method, path, params, json), lambda: self._read_json(method, path, params, json)
        )

    async def _read_json(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: dict[str, Any] | None
    ) -> Any:
        response, body = await self.request(method, path, params=params, json=json, idempotent=True)
        if body is None and response.content.strip():
            raise UpstreamMalformedResponse(
                self.source.slug, "the upstream answered something that is not JSON"
            )
        return body

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return await self.read_json("GET", path, params=params)

    async def write(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> tuple[httpx.Response, Any]:
        """A write: sent exactly once, never retried. A timeout means the outcome is unknown."""
        return await self.request(method, path, params=params, json=json, idempotent=False)

    # -- one exchange ---------------------------------------------------------------------------

    def _target(self, path: str) -> _Target:
        """`path`'s URL, without the query it may carry (an absolute next-page link's), checked once:
        the same few thousand paths come back, and httpx's URL reads them anew at every look."""
        target = self._targets.get(path)
        if target is None:
            url = self.url_for(path)
            query = dict(url.params) if url.query else None
            if query is not None:
                url = url.copy_with(query=None)
            target = _Target(url, query, _same_origin(self.base_url, url), len(url.raw_path))
            if len(self._targets) >= _URLS_KEPT:
                self._targets.clear()
            self._targets[path] = target
        return target

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: dict[str, Any] | None,
        retry: int = 0,
    ) -> tuple[httpx.Response, Any]:
        prepared = self._target(path)
        url, origin = prepared.url, self.base_url
        # An absolute next-page link carries its own query; httpx would replace it with `params`.
        query = dict(params) if params else {}
        if prepared.query is not None:
            query = {**prepared.query, **query}
        if not prepared.same_origin:
            raise UpstreamUnavailable(
                self.source.slug, f"refusing to send credentials to another origin ({url.host})"
            )
        if _too_long(url, query, prepared.path_length):
            raise UpstreamRequestInvalid(
                self.source.slug,
                f"the input makes a {self.source.name} URL longer than {MAX_URL_LENGTH} characters: "
                "shorten it (a search text, a list of IDs)",
            )
        body = dict(json) if json is not None else None
        for _ in range(_MAX_REDIRECTS + 1):
            headers: dict[str, str] = {"Accept": "application/json"}
            self.auth.apply(headers, query, body)
            response = await self._exchange(method, url, headers, query, body, retry)
            if response.status_code not in _REDIRECTS or "location" not in response.headers:
                return self._checked(response)
            target = url.join(response.headers["location"])
            if not _same_origin(origin, target):
                # Following would hand our credential to another host.
                raise UpstreamUnavailable(
                    self.source.slug,
                    f"the upstream redirected to another origin ({target.host}); not followed",
                )
            if response.status_code == 303 or (response.status_code in (301, 302) and method != "GET"):
                method, body = "GET", None
            url, query = target.copy_with(query=None), dict(target.params)
        raise UpstreamUnavailable(self.source.slug, "the upstream redirected too many times")

    async def _exchange(
        self,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        params: dict[str, Any],
        body: dict[str, Any] | None,
        retry: int = 0,
    ) -> httpx.Response:
        started = time.perf_counter()
        allowance = allowances.current()
        task = None
        first = False
        if allowance is not None:
            allowance.spend(self.source.slug)
            task = asyncio.current_task()
            assert task is not None
            first = allowance.began(task)
        if self.pacer.active:  # off (no MAX_RPS, no pause in force), this test is all pacing costs
            await self._paced(allowance, task)
            started = time.perf_counter()  # the upstream's own time, not the queue's
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        record = operations.current()
        if record is not None:
            record.upstream_requests += 1
        endpoint = self._template(url)
        if retry:
            metrics.UPSTREAM_RETRIES.labels(self.source.slug).inc()
        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        span = None
        if tracing.tracer is not None:
            span = self._span(tracing.tracer, method, endpoint, url, retry, headers)
        status = "cancelled"
        try:
            if first:
                await allowances.heard_from_caller()
            response = await self._client.request(
                method, url, params=params or None, headers=headers, content=content
            )
        except asyncio.CancelledError:
            # The operation's deadline, or its caller leaving, cut the exchange: an error, not a
            # cancellation, so the batch or listing waiting on it fails as any failed read does.
            error = allowance.stopped(task, self.source.slug) if allowance and task else None
            if error is None:
                raise
            self.stats.failures += 1
            raise error from None
        except httpx.TimeoutException:
            self.stats.failures += 1
            status = "timeout"
            raise UpstreamTimeout(self.source.slug, f"{self.source.name} did not answer in time") from None
        except httpx.InvalidURL:
            status = "invalid"
            # Past _too_long's estimate (a component httpx caps on its own): still the input's fault.
            raise UpstreamRequestInvalid(
                self.source.slug, f"the input makes a {self.source.name} URL that cannot be sent"
            ) from None
        except httpx.TransportError as exc:
            self.stats.failures += 1
            status = "unreachable"
            raise UpstreamUnavailable(
                self.source.slug, f"{self.source.name} could not be reached ({type(exc).__name__})"
            ) from None
        else:
            status = str(response.status_code)
        finally:
            if allowance is not None and task is not None:
                allowance.ended(task)
            metrics.upstream_done(self.source.slug, endpoint, method, status, time.perf_counter() - started)
            if span is not None:
                span.set_attribute("http.response.status_code" if status.isdigit() else "error.type", status)
                span.end()
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s %s -> %s in %.1f ms",
                self.source.name,
                method,
                url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        return response

    async def _paced(self, allowance: allowances.Allowance | None, task: asyncio.Task[Any] | None) -> None:
        """Wait for this exchange's turn in the upstream's pace. A wait that would pass the deadline
        is refused at once; one cut by the deadline or the caller leaving ends as a cut exchange does."""
        try:
            await self.pacer.wait(allowance)
        except BaseException as exc:
            error = None
            if allowance is not None and task is not None:
                if isinstance(exc, asyncio.CancelledError):
                    error = allowance.stopped(task, self.source.slug)
                allowance.ended(task)
            if error is None:
                raise
            raise error from None

    def _template(self, url: httpx.URL) -> str:
        cached = self._templates_by_url.get(id(url))
        if cached is not None and cached[0] is url:
            return cached[1]
        template = self._path_template(url.path)
        if len(self._templates_by_url) >= _URLS_KEPT:
            self._templates_by_url.clear()
        self._templates_by_url[id(url)] = (url, template)  # the URL kept: its id stays its own
        return template

    def _path_template(self, path: str) -> str:
        template = self._templates.get(path)
        if template is None:
            base = self.base_url.path.rstrip("/")
            relative = path[len(base) :] if base and path.startswith(base + "/") else path
            template = metrics.endpoint_template(relative)
            if len(self._templates) >= _URLS_KEPT:
                self._templates.clear()
            self._templates[path] = template
        return template

    def _span(
        self, tracer: Tracer, method: str, endpoint: str, url: httpx.URL, retry: int, headers: dict[str, str]
    ) -> Span:
        from opentelemetry.trace import SpanKind

        span = tracer.start_span(
            f"{method} {endpoint}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "url.template": endpoint,
                "server.address": url.host,
                "learngraph.source": self.source.slug,
                "learngraph.retry": retry,
            },
        )
        tracing.inject(span, headers)  # the upstream's own work joins the trace
        return span

    def _checked(self, response: httpx.Response) -> tuple[httpx.Response, Any]:
        body = _parse_json(response)
        error = self.decode_error(self.source, response, body)
        if error is None and response.status_code >= 400:
            error = error_for_status(
                self.source.slug,
                response.status_code,
                f"{self.source.name} answered HTTP {response.status_code}",
            )
        if error is None and 200 <= response.status_code < 300:
            return response, body
        if error is None:
            error = UpstreamRejected(
                self.source.slug, f"{self.source.name} answered HTTP {response.status_code}"
            )
        self.stats.failures += 1
        error = self._redacted(error, response)
        if response.status_code == 429 or isinstance(error, UpstreamRateLimited):
            self._rate_limited(error)
        raise error

    def _rate_limited(self, error: UpstreamError) -> None:
        """The upstream says we send too much: with a Retry-After, no request goes to it before then,
        from any operation (the one refused is retried after it, when it is a read)."""
        metrics.UPSTREAM_RATE_LIMITED.labels(self.source.slug).inc()
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None and self.pacer.pause(retry_after):
            log.warning(
                "%s is rate limiting: no request goes to it for %.3g s (its Retry-After)",
                self.source.name,
                retry_after,
            )

    def _redacted(self, error: UpstreamError, response: httpx.Response) -> UpstreamError:
        # Vendors echo credentials in error text (iScout: "The token `...` was not found.").
        if self._secret and self._secret in error.message:
            error.message = error.message.replace(self._secret, "[redacted]")
            error.args = (error.message,)
        if error.status_code is None:
            error.status_code = response.status_code
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if retry_after is not None:
            error.retry_after = retry_after  # type: ignore[attr-defined]
        return error


def _too_long(url: httpx.URL, params: Mapping[str, Any], path_length: int | None = None) -> bool:
    """Whether the URL with these parameters would pass MAX_URL_LENGTH. Percent-encoding makes a
    character at most 9 octets (3 UTF-8 bytes, 3 each): only a request that might pass is built to see."""
    rough = (len(url.raw_path) if path_length is None else path_length) + sum(
        len(str(key)) + len(str(value)) + 2 for key, value in params.items()
    )
    if rough * 9 <= MAX_URL_LENGTH:
        return False
    try:
        return len(url.copy_merge_params(params).raw_path) > MAX_URL_LENGTH
    except httpx.InvalidURL:  # a component past httpx's own cap (64 KB)
        return True


def _parse_json(response: httpx.Response) -> Any:
    content = response.content
    if not content or content.isspace():  # isspace: no copy of a large body, as strip() makes
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    if a.host != b.host or a.port != b.port:
        return False
    return a.scheme == b.scheme or (a.scheme, b.scheme) == ("http", "https")
