"""The one way LearnGraph talks HTTP to an upstream.

    http = UpstreamHTTP(Source.DAMSTRA, "https://app.velpic.com/api/v2", HeaderAuth("AccessKey", key),
                        decode_error=decode_damstra_error, timeout_seconds=10)
    body = await http.get_json("/user", params={"maxResults": 5})

Everything vendor-neutral lives here: the pooled client, auth, same-origin redirects, the
retry policy (idempotent reads only), in-flight de-duplication of identical reads, mapping
failures onto the error tree, credential redaction, and driving the paging styles (the pages
of a whole listing at once, where the style and the first page allow).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from gateway.errors import (
    UpstreamError,
    UpstreamMalformedResponse,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    error_for_status,
)
from gateway.sources import Source
from gateway.upstreams.paging import Listing, PageRequest, Paging, PositionalPaging

log = logging.getLogger("gateway.upstreams")

ErrorDecoder = Callable[[Source, httpx.Response, Any], UpstreamError | None]
"""Reads a vendor's error bodies: answers the error a response carries, or None. Sees 2xx too,
because vendors report failures on 200 (iScout `ok: false`, LearningLogin's text answers)."""

_REDIRECTS = {301, 302, 303, 307, 308}
_MAX_REDIRECTS = 5
_URLS_KEPT = 4096  # joined URLs remembered per upstream
# Pages of one listing in flight at once: a 100-page listing (10,000 records) in one wave after
# its first page. The transport's slots bound the upstream as a whole.
PAGES_AT_ONCE = 100


@dataclass(frozen=True)
class HeaderAuth:
    """The credential rides in a header (DAMSTRA `AccessKey`, TRAINING_RECORDS `Authorization`)."""

    header: str
    secret: SecretStr
    scheme: str = ""

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        value = self.secret.get_secret_value()
        headers[self.header] = f"{self.scheme} {value}" if self.scheme else value


@dataclass(frozen=True)
class QueryAuth:
    """The credential rides in the query string (LEARNINGLOGIN `token`)."""

    param: str
    secret: SecretStr

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        params[self.param] = self.secret.get_secret_value()


@dataclass(frozen=True)
class BodyAuth:
    """The credential rides inside the JSON body (ISCOUT `token`)."""

    field: str
    secret: SecretStr

    def apply(self, headers: dict[str, str], params: dict[str, Any], body: dict[str, Any] | None) -> None:
        if body is not None:
            body[self.field] = self.secret.get_secret_value()


Auth = HeaderAuth | QueryAuth | BodyAuth


@dataclass
class Page:
    items: list[Any]
    total: int | None
    request: PageRequest
    next: PageRequest | None


@dataclass
class RequestStats:
    """Counts of what this process asked an upstream, for metrics and benchmarks."""

    requests: int = 0
    failures: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class _ReleasedOnClose(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._release()


class SpreadTransport(httpx.AsyncBaseTransport):
    """At most `slots` requests in flight to one upstream, each on a connection pool of its own.

        client = httpx.AsyncClient(transport=SpreadTransport(slots=100))

    httpcore 1.0's pool scans every queued request against every connection each time a request
    starts or ends, and offers one idle connection to every request that arrives in the same tick:
    all but one of them then fail over and scan again. A wave of 100 reads to one upstream costs
    about 4 ms of CPU a request that way; pools of one connection serving one request at a time
    have nothing to scan or collide on (about 1 ms). Requests beyond `slots` wait here, first come
    first served, for at most the pool timeout. A slot is held until the response is closed.
    """

    def __init__(self, slots: int, make_pool: Callable[[], httpx.AsyncBaseTransport] | None = None) -> None:
        if slots < 1:
            raise ValueError("SpreadTransport needs at least one slot")
        self._make_pool = make_pool or _one_connection_pools()
        self._pools: list[httpx.AsyncBaseTransport | None] = [None] * slots  # built on first use
        # A stack: the pool used last, whose connection is warm, is handed out first.
        self._free = list(range(slots - 1, -1, -1))
        self._gate = asyncio.Semaphore(slots)
        self.in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._gate.locked():
            timeout = request.extensions.get("timeout", {}).get("pool")
            try:
                async with asyncio.timeout(timeout):
                    await self._gate.acquire()
            except TimeoutError:
                raise httpx.PoolTimeout(
                    "no connection to the upstream came free in time", request=request
                ) from None
        else:
            await self._gate.acquire()
        slot = self._free.pop()
        self.in_flight += 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.in_flight -= 1
                self._free.append(slot)
                self._gate.release()

        pool = self._pools[slot]
        if pool is None:
            pool = self._pools[slot] = self._make_pool()
        try:
            response = await pool.handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_ReleasedOnClose(response.stream, release),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        for pool in self._pools:
            if pool is not None:
                await pool.aclose()


def _one_connection_pools() -> Callable[[], httpx.AsyncBaseTransport]:
    # One TLS context for every pool: building one reads the CA bundle (about 50 ms).
    ssl_context = httpx.create_ssl_context()
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    return lambda: httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)


def _delay(exc: BaseException | None, attempt: int, initial: float, maximum: float) -> float:
    """How long to wait after failed attempt `attempt` (from 1): the upstream's Retry-After, else
    exponential."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after >= 0:
        return float(min(retry_after, maximum))
    return float(min(maximum, initial * 2 ** (attempt - 1)))


def _wait(initial: float, maximum: float, *, attempts_before: int) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return _delay(exc, attempts_before + state.attempt_number, initial, maximum)

    return wait


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


class UpstreamHTTP:
    """A pooled `httpx.AsyncClient` for one upstream and the policies around it.

    Without a `transport`, requests go through a `SpreadTransport` of `max_connections` slots.
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
        pages_at_once: int = PAGES_AT_ONCE,
    ) -> None:
        self.source = source
        self.base_url = httpx.URL(base_url.rstrip("/") + "/")
        self.auth = auth
        self.decode_error = decode_error
        self.retry_attempts = retry_attempts
        self.retry_wait_seconds = retry_wait_seconds
        self.pages_at_once = pages_at_once
        self.stats = RequestStats()
        self._secret = auth.secret.get_secret_value()
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._urls: dict[str, httpx.URL] = {}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_seconds),
            transport=transport or SpreadTransport(max_connections),
            follow_redirects=False,
        )

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
        # The first attempt goes without tenacity: setting it up costs more than a fast request's
        # own bookkeeping, and most requests succeed at once.
        initial, maximum = self.retry_wait_seconds, max(1.0, self.retry_wait_seconds)
        try:
            return await self._send(method, path, params, json)
        except Exception as exc:
            if self.retry_attempts < 2 or not _is_retryable(exc):
                raise
            await asyncio.sleep(_delay(exc, 1, initial, maximum))
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry_attempts - 1),
            wait=_wait(initial, maximum, attempts_before=1),
            retry=retry_if_exception(_is_retryable),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, params, json)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def read_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: dict[str, Any] | None = None,
    ) -> Any:
        """An idempotent read's JSON body. Identical reads in flight at once are sent once."""
        key = (method, path, _freeze(params), _freeze(json))
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response, body = await self.request(method, path, params=params, json=json, idempotent=True)
            if body is None and response.content.strip():
                raise UpstreamMalformedResponse(
                    self.source.slug, "the upstream answered something that is not JSON"
                )
            future.set_result(body)
            return body
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._inflight[key]

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

    async def paginate(
        self, paging: Paging, request: PageRequest, method: str = "GET"
    ) -> AsyncIterator[Page]:
        """Pages of a listing, fetched one after another as the caller asks for them."""
        current: PageRequest | None = paging.first(request)
        while current is not None:
            page = await self._page(paging, current, method)
            yield page
            current = page.next

    async def _page(self, paging: Paging, request: PageRequest, method: str) -> Page:
        response, body = await self.request(
            method, request.path, params=request.params or None, json=request.json, idempotent=True
        )
        if body is None:
            raise UpstreamMalformedResponse(self.source.slug, "a page of the listing was not JSON")
        following = paging.advance(request, response, body)
        if following is not None and self._same_request(following, request):
            # Following it would read the same page forever.
            raise UpstreamMalformedResponse(
                self.source.slug, "the upstream linked the page just read as the next one"
            )
        return Page(paging.items(body), paging.total(response, body), request, following)

    def _same_request(self, a: PageRequest, b: PageRequest) -> bool:
        url_a, url_b = self.url_for(a.path), self.url_for(b.path)
        return (
            url_a.copy_with(query=None) == url_b.copy_with(query=None)
            and {**dict(url_a.params), **a.params} == {**dict(url_b.params), **b.params}
            and a.json == b.json
        )

    async def fetch_window(
        self, paging: Paging, request: PageRequest, limit: int, method: str = "GET"
    ) -> Listing[Any]:
        """Up to `limit` items from where `paging` starts, following short pages; `total` from the first page."""
        items: list[Any] = []
        total: int | None = None
        async for page in self.paginate(paging, request, method):
            if total is None:
                total = page.total
            items.extend(page.items)
            if len(items) >= limit:
                break
        return Listing(items[:limit], total)

    async def collect(
        self, paging: Paging, request: PageRequest, method: str = "GET", limit: int | None = None
    ) -> list[Any]:
        """Every item of a listing (or the first `limit`), in order.

        Once the first page tells the total, a `PositionalPaging` style has the pages after it read
        at once (`pages_at_once` in flight), each as long as the first page was. A page that comes
        back short is followed one page after another up to where the next one starts, and the last
        page is followed for as long as the upstream says more remain: a short page never ends the
        listing early, and a listing that grew meanwhile is read to its end.
        """
        first = await self._page(paging, paging.first(request), method)
        items = list(first.items)
        following = first.next
        if (
            first.items
            and following is not None
            and first.total is not None
            and isinstance(paging, PositionalPaging)
        ):
            stride = len(first.items)
            end = first.total
            if limit is not None:
                end = min(end, paging.position(first.request) + limit)
            planned = [
                paging.at(following, p, stride) for p in range(paging.position(following), end, stride)
            ]
            pages = await self._pages_at_once(paging, planned, method)
            for n, page in enumerate(pages):
                items.extend(page.items)
                if n + 1 < len(pages) and page.next is not None:
                    items.extend(
                        await self._read_up_to(paging, page.next, paging.position(planned[n + 1]), method)
                    )
            if pages:
                following = pages[-1].next
        while following is not None and (limit is None or len(items) < limit):
            page = await self._page(paging, following, method)
            items.extend(page.items)
            following = page.next
        return items if limit is None else items[:limit]

    async def _pages_at_once(self, paging: Paging, requests: list[PageRequest], method: str) -> list[Page]:
        gate = asyncio.Semaphore(self.pages_at_once)

        async def read(request: PageRequest) -> Page:
            async with gate:
                return await self._page(paging, request, method)

        tasks = [asyncio.ensure_future(read(request)) for request in requests]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:  # after a failure the pages still to come are not worth reading
                task.cancel()

    async def _read_up_to(
        self, paging: PositionalPaging, request: PageRequest, end: int, method: str
    ) -> list[Any]:
        """The items from where `request` starts up to position `end`, a page after another."""
        items: list[Any] = []
        current: PageRequest | None = request
        while current is not None and paging.position(current) < end:
            page = await self._page(paging, current, method)
            items.extend(page.items[: end - paging.position(current)])
            current = page.next
        return items

    # -- one exchange ---------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: dict[str, Any] | None,
    ) -> tuple[httpx.Response, Any]:
        url = self.url_for(path)
        origin = self.base_url
        # An absolute next-page link carries its own query; httpx would replace it with `params`.
        query = dict(params or {})
        if url.query:
            query = {**dict(url.params), **query}
            url = url.copy_with(query=None)
        if not _same_origin(origin, url):
            raise UpstreamUnavailable(
                self.source.slug, f"refusing to send credentials to another origin ({url.host})"
            )
        body = dict(json) if json is not None else None
        for _ in range(_MAX_REDIRECTS + 1):
            headers: dict[str, str] = {"Accept": "application/json"}
            self.auth.apply(headers, query, body)
            response = await self._exchange(method, url, headers, query, body)
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
    ) -> httpx.Response:
        started = time.perf_counter()
        self.stats.requests += 1
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._client.request(
                method, url, params=params or None, headers=headers, content=content
            )
        except httpx.TimeoutException:
            self.stats.failures += 1
            raise UpstreamTimeout(self.source.slug, f"{self.source.name} did not answer in time") from None
        except httpx.TransportError as exc:
            self.stats.failures += 1
            raise UpstreamUnavailable(
                self.source.slug, f"{self.source.name} could not be reached ({type(exc).__name__})"
            ) from None
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
        raise self._redacted(error, response)

    def _redacted(self, error: UpstreamError, response: httpx.Response) -> UpstreamError:
        # Vendors echo credentials in error text (iScout: "The token `...` was not found.").
        if self._secret and self._secret in error.message:
            error.message = error.message.replace(self._secret, "[redacted]")
            error.args = (error.message,)
        if error.status_code is None:
            error.status_code = response.status_code
        retry_after = response.headers.get("Retry-After")
        if retry_after and retry_after.isdigit():
            error.retry_after = int(retry_after)  # type: ignore[attr-defined]
        return error


def _parse_json(response: httpx.Response) -> Any:
    content = response.content
    if not content.strip():
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return None


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    if a.host != b.host or a.port != b.port:
        return False
    return a.scheme == b.scheme or (a.scheme, b.scheme) == ("http", "https")


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value
