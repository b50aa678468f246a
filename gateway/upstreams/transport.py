"""The wire under every upstream client: aiohttp, behind httpx's models.

    client = upstream_client(httpx.Timeout(10), max_connections=100)       # what UpstreamHTTP sends through
    response = await client.request("GET", url, params={"maxResults": 5}, headers=headers)  # an httpx.Response

    httpx.AsyncClient(transport=AiohttpTransport(max_connections=10))      # aiohttp under any httpx client

httpx's own pool (httpcore, pure Python) costs about 4 ms of CPU per request once a wave of 100 reads
goes to one upstream, and still about 0.9 ms with one pool per request in flight; aiohttp's C parser
and connector about 0.2 ms (`python -m bench.upstream_client`). So the bytes go through one
`aiohttp.ClientSession` per upstream, while what the gateway reads stays httpx's: `httpx.Response`,
`httpx.URL` and httpx's exceptions, so the error mapping and retries in `http.py` are unchanged:

    aiohttp                                                  httpx
    waiting for a free connection past the pool timeout  ->  PoolTimeout (our own gate, not aiohttp's)
    ConnectionTimeoutError (sock_connect)                ->  ConnectTimeout
    ServerTimeoutError (sock_read: head or body)         ->  ReadTimeout
    ClientConnectorError (refused, DNS, TLS)             ->  ConnectError
    ServerDisconnectedError, ClientPayloadError,
    ClientResponseError (a malformed answer)             ->  RemoteProtocolError
    ClientOSError and any other ClientError              ->  ReadError / NetworkError

Two ways in. `LeanClient.request` is `httpx.AsyncClient.request` for the arguments `UpstreamHTTP`
passes, sent straight to the transport: httpx's request building (merging the query into the URL
alone is ~50 µs) is skipped, the body is read whole, and the `httpx.Request` a response names is
made only if someone asks for it. `AiohttpTransport` is also an `httpx.AsyncBaseTransport`, so an
`httpx.AsyncClient` over it serves any other caller, streamed bodies included. A transport given
explicitly (the tests' `httpx.ASGITransport` over the in-process sandboxes) goes through a plain
`httpx.AsyncClient` as before.

Not carried over from httpx's pool: a write timeout (aiohttp has none; requests here are small) and
cookies (none of the vendors uses them, and a cookie one caller's request brought back must not ride
on another's). Redirects are never followed here: `http.py` follows same-origin ones itself.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote_plus

import aiohttp
import httpx
import yarl
from httpx._client import UseClientDefault  # the type of httpx.USE_CLIENT_DEFAULT

# h11 (httpx's parser) allows a head of 16 KiB; aiohttp's default is 8 KiB a line.
_MAX_HEAD_LINE = 16 * 1024
# httpx's pool kept an idle connection 5 s; many servers (uvicorn among them) close theirs after 5 s.
_KEEPALIVE_SECONDS = 5.0
_MAX_URL = 65536  # httpx refuses a longer URL component (InvalidURL): so does this path
_URLS_KEPT = 4096

Timeouts = tuple[float | None, float | None, float | None]
"""(connect, read, pool) in seconds; None waits for ever."""


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` requests in flight to one upstream, over one `aiohttp.ClientSession`.

        transport = AiohttpTransport(max_connections=100)
        status, headers, body = await transport.fetch("GET", yarl_url, headers, None, (5, 10, 10))

    The session is made on first use, in the running event loop (one made in another loop, as a
    test suite's loops come and go, is closed and a new one made). Requests beyond
    `max_connections` wait here, first come first served, for at most the pool timeout: the
    connector's own limit is the same number, so it never makes them wait a second time.
    """

    def __init__(self, max_connections: int = 100, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if max_connections < 1:
            raise ValueError("AiohttpTransport needs at least one connection")
        self.max_connections = max_connections
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._gate: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        self.in_flight = 0

    def _session_here(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._session is None or self._gate is None or self._loop is not loop:
            if self._session is not None:
                _abandon(self._session)
            if self._ssl is None:
                # Made once: reading the CA bundle takes about 50 ms.
                self._ssl = httpx.create_ssl_context()
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                ssl=self._ssl,
                keepalive_timeout=_KEEPALIVE_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx.Response decodes, as it did over httpcore
                timeout=aiohttp.ClientTimeout(total=None),
                # What httpx.Response can decode with the standard library alone.
                headers={"Accept-Encoding": "gzip, deflate"},
                max_line_size=_MAX_HEAD_LINE,
                max_field_size=_MAX_HEAD_LINE,
            )
            self._gate = asyncio.Semaphore(self.max_connections)
            self._loop = loop
        return self._session, self._gate

    def _timeout(self, connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get((connect, read))
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=connect, sock_read=read)
            if len(self._timeouts) < 16:  # the configured few, not every deadline's remainder
                self._timeouts[(connect, read)] = timeout
        return timeout

    async def _acquire(self, gate: asyncio.Semaphore, pool: float | None, url: yarl.URL) -> None:
        if not gate.locked():
            await gate.acquire()
            return
        try:
            async with asyncio.timeout(pool):
                await gate.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(f"no connection to {url.host} came free in time") from None

    async def _open(
        self,
        method: str,
        url: yarl.URL,
        headers: Mapping[str, str] | list[tuple[str, str]],
        content: bytes | None,
        timeouts: Timeouts,
    ) -> tuple[aiohttp.ClientResponse, Callable[[], None]]:
        """A response whose head has arrived, and the function that gives its connection back
        (after reading the body, or to abandon it)."""
        session, gate = self._session_here()
        connect, read, pool = timeouts
        await self._acquire(gate, pool, url)
        self.in_flight += 1
        response: aiohttp.ClientResponse | None = None
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                if response is not None:
                    response.release()  # back to the pool when read to its end, else closed
                self.in_flight -= 1
                gate.release()

        try:
            with _MAPPED_ERRORS:
                response = await session.request(
                    method,
                    url,
                    headers=headers,
                    data=content,
                    allow_redirects=False,
                    timeout=self._timeout(connect, read),
                )
        except BaseException:
            release()
            raise
        return response, release

    async def fetch(
        self,
        method: str,
        url: yarl.URL,
        headers: Mapping[str, str],
        content: bytes | None,
        timeouts: Timeouts,
    ) -> tuple[int, Sequence[tuple[bytes, bytes]], bytes]:
        """One exchange, the body read whole: (status, raw headers, body)."""
        response, release = await self._open(method, url, headers, content, timeouts)
        try:
            with _MAPPED_ERRORS:
                body = await response.read()
            return response.status, response.raw_headers, body
        except BaseException:
            response.close()  # a half-read connection cannot serve another request
            raise
        finally:
            release()  # back to the pool, read to its end (else closed above)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        timeouts = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        content = await request.aread()
        # aiohttp frames the body itself; the rest of httpx's headers go as they are.
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name not in ("content-length", "transfer-encoding")
        ]
        url = yarl.URL(str(request.url), encoded=True)
        response, release = await self._open(request.method, url, headers, content or None, timeouts)
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_AiohttpStream(response, release),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode()},
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


def _abandon(session: aiohttp.ClientSession) -> None:
    """Forget a session made in another event loop (a test suite's loops come and go): nothing of it
    can be awaited from here, so its connector is closed the way aiohttp closes one that is collected."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


class _AiohttpStream(httpx.AsyncByteStream):
    """A response body read from aiohttp as it arrives; its connection given back once closed."""

    def __init__(self, response: aiohttp.ClientResponse, release: Callable[[], None]) -> None:
        self._response = response
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _MAPPED_ERRORS:
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        if not self._response.content.is_eof():
            self._response.close()  # abandoned half-read: the connection cannot be reused
        self._release()


class _MappedErrors:
    """aiohttp's failures as the httpx exceptions `http.py` maps onto the error tree: `with _MAPPED_ERRORS:`."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None or not isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | OSError):
            return
        mapped = _httpx_error(exc)
        if mapped is not None:
            raise mapped from exc


_MAPPED_ERRORS = _MappedErrors()


def _httpx_error(exc: BaseException) -> httpx.TransportError | None:
    # aiohttp names the URL in some messages, and LEARNINGLOGIN's token rides in the query: the
    # messages here never quote one.
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout("connecting timed out")
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return httpx.ReadTimeout("reading the answer timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(
            f"could not connect: {exc.os_error.strerror or type(exc.os_error).__name__}"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("the server closed the connection without answering")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError("the answer's body was cut short or malformed")
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer was not HTTP aiohttp could read
        return httpx.RemoteProtocolError(f"a malformed answer: {exc.message}")
    if isinstance(exc, aiohttp.NonHttpUrlClientError | aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol("not an http or https URL")
    if isinstance(exc, OSError):  # aiohttp.ClientOSError among them
        return httpx.ReadError(f"the connection failed: {exc.strerror or type(exc).__name__}")
    if isinstance(exc, aiohttp.ClientError):
        return httpx.NetworkError(type(exc).__name__)
    return None


# -- the lean client ------------------------------------------------------------------------------


class UpstreamClient(Protocol):
    """What `UpstreamHTTP` sends through: `httpx.AsyncClient`'s `request`, for the arguments it uses."""

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: httpx.Timeout | float | None | UseClientDefault = ...,  # noqa: ASYNC109 (httpx's)
    ) -> httpx.Response: ...

    async def aclose(self) -> None: ...


def upstream_client(
    timeout: httpx.Timeout,
    transport: httpx.AsyncBaseTransport | None = None,
    max_connections: int = 100,
) -> UpstreamClient:
    """A `LeanClient` over an `AiohttpTransport` of `max_connections`; with a `transport` of another
    kind (the tests' in-process sandboxes), an `httpx.AsyncClient` over it."""
    if transport is None:
        transport = AiohttpTransport(max_connections)
    if isinstance(transport, AiohttpTransport):
        return LeanClient(transport, timeout)
    return httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)


class LeanClient:
    """`httpx.AsyncClient.request` without httpx's request building, over an `AiohttpTransport`.

        client = LeanClient(AiohttpTransport(100), httpx.Timeout(10))
        response = await client.request("GET", httpx.URL("https://up.example/api/user"), params={"n": 5})

    The query is encoded as httpx encodes it (`True` as `true`, `None` as empty, a list as repeated
    keys); the answer is an `httpx.Response` with its body read.
    """

    def __init__(self, transport: AiohttpTransport, timeout: httpx.Timeout) -> None:
        self.transport = transport
        self.timeout = timeout
        self._default: Timeouts = (timeout.connect, timeout.read, timeout.pool)
        self._wire_urls: dict[str, yarl.URL] = {}
        self._texts: dict[int, tuple[httpx.URL, str]] = {}  # str(url) of the URLs sent to, by identity

    async def request(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: httpx.Timeout | float | None | UseClientDefault = httpx.USE_CLIENT_DEFAULT,  # noqa: ASYNC109
    ) -> httpx.Response:
        if isinstance(url, str):
            url = httpx.URL(url)
        target = self._text(url)
        if params and "?" in target:  # rare: httpx merges the two queries as it would
            target = str(url.copy_merge_params(params))
        elif params:
            target = f"{target}?{encode_query(params)}"
        wire_url = self._wire_urls.get(target)
        if wire_url is None:
            if len(target) > _MAX_URL:
                raise httpx.InvalidURL("URL too long")
            wire_url = yarl.URL(target, encoded=True)
            # Parsed once: the same few thousand URLs come back (one per person and listing).
            if len(self._wire_urls) >= _URLS_KEPT:
                self._wire_urls.clear()
            self._wire_urls[target] = wire_url
        status, raw_headers, body = await self.transport.fetch(
            method.upper(), wire_url, headers or {}, content, self._timeouts_of(timeout)
        )
        return _Answer(status, raw_headers, body, lambda: _request_of(method, target, headers, content))

    def _text(self, url: httpx.URL) -> str:
        """`str(url)`, which httpx builds anew each time, once per URL object (`UpstreamHTTP` sends
        the same few thousand); the URL is kept with it, so its id stays its own."""
        cached = self._texts.get(id(url))
        if cached is not None and cached[0] is url:
            return cached[1]
        text = str(url)
        if len(self._texts) >= _URLS_KEPT:
            self._texts.clear()
        self._texts[id(url)] = (url, text)
        return text

    def _timeouts_of(self, timeout: httpx.Timeout | float | None | UseClientDefault) -> Timeouts:
        if isinstance(timeout, UseClientDefault):
            return self._default
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout)
        return (timeout.connect, timeout.read, timeout.pool)

    async def aclose(self) -> None:
        await self.transport.aclose()


def encode_query(params: Mapping[str, Any]) -> str:
    """`params` as httpx puts them in a URL (`str(httpx.QueryParams(params))`): `urlencode`'s
    `quote_plus` of each key and value, skipped for text it leaves as it is (most: ids, dates, words)."""
    parts: list[str] = []
    for key, value in params.items():
        name = _quoted(str(key))
        if isinstance(value, list | tuple):
            parts.extend(f"{name}={_quoted(_text(item))}" for item in value)
        else:
            parts.append(f"{name}={_quoted(_text(value))}")
    return "&".join(parts)


_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves alone


def _quoted(text: str) -> str:
    return text if _UNQUOTED.fullmatch(text) else quote_plus(text)


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)


def _request_of(
    method: str, url: str, headers: Mapping[str, str] | None, content: bytes | None
) -> httpx.Request:
    return httpx.Request(method, url, headers=headers, content=content)


class _Answer(httpx.Response):
    """An `httpx.Response` read whole, made cheaply: a body that needs no decoding is taken as it is
    (httpx would pass it through its decoders chunk by chunk: most of the cost of a small response),
    and the `request` is made when first asked for (parsing the URL again costs more still, and only a
    few readers want it)."""

    def __init__(
        self,
        status: int,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        make_request: Callable[[], httpx.Request],
    ) -> None:
        self._make_request = make_request
        super().__init__(status, headers=headers, stream=httpx.ByteStream(body))
        if "content-encoding" in self.headers:
            self.read()  # gzip, deflate: httpx decodes as ever
        else:
            self._content = body
            self.is_stream_consumed = self.is_closed = True

    @property
    def request(self) -> httpx.Request:
        if self._request is None:
            self._request = self._make_request()
        return self._request

    @request.setter
    def request(self, value: httpx.Request) -> None:
        self._request = value
