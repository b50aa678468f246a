"""The wire under every upstream client: a pool of keep-alive HTTP/1.1 connections, behind httpx's models.

    client = upstream_client(httpx.Timeout(10), max_connections=100)       # what UpstreamHTTP sends through
    response = await client.request("GET", url, params={"maxResults": 5}, headers=headers)  # an httpx.Response

    httpx.AsyncClient(transport=PoolTransport(max_connections=10))         # the same wire under any httpx client

A dashboard of 100 people sends 170 reads, so what one read costs the gateway's CPU decides how many
dashboards a core serves. httpx's own pool (httpcore, pure Python) costs about 4 ms of CPU per read
once a wave of 100 goes to one upstream; aiohttp about 0.15 ms; an asyncio protocol over httptools'
parser (`connection.py`) about 0.03 ms (`python -m bench.upstream_client`). So the bytes go through
`PoolTransport`, while what the gateway reads stays httpx's: `httpx.Response`, `httpx.URL` and httpx's
exceptions, so the error mapping and retries in `http.py` are unchanged:

    waiting for a free connection past the pool timeout  ->  PoolTimeout
    connecting (DNS, TCP, TLS) past the connect timeout  ->  ConnectTimeout
    no bytes of the answer for the read timeout          ->  ReadTimeout
    refused, unreachable, unknown host, TLS refused      ->  ConnectError
    closed without an answer, cut short, not HTTP        ->  RemoteProtocolError
    reset by the peer                                    ->  ReadError
    a scheme other than http and https                   ->  UnsupportedProtocol

Two ways in. `LeanClient.request` is `httpx.AsyncClient.request` for the arguments `UpstreamHTTP`
passes, sent straight to the transport: httpx's request building (merging the query into the URL
alone is ~50 µs) is skipped, the body is read whole, and the `httpx.Request` a response names is
made only if someone asks for it. `PoolTransport` is also an `httpx.AsyncBaseTransport`, so an
`httpx.AsyncClient` over it serves any other caller, streamed bodies included. A transport given
explicitly (the tests' `httpx.ASGITransport` over the in-process sandboxes) goes through a plain
`httpx.AsyncClient` as before.

Not carried over from httpx's pool: a write timeout (requests here are small: the socket takes them
whole), HTTP/2, proxies, and cookies (none of the vendors uses them, and a cookie one caller's
request brought back must not ride on another's). Redirects are never followed here: `http.py`
follows same-origin ones itself.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus

import httpx
from httpx._client import UseClientDefault  # the type of httpx.USE_CLIENT_DEFAULT

from gateway.upstreams.connection import Answer, Connection, open_connection
from gateway.upstreams.gate import Gate

# uvicorn, like many servers, closes an idle connection after 5 s: ours is given up a second sooner,
# so a request is not written to a connection the server is closing.
_KEEPALIVE_SECONDS = 4.0
# A write is not sent again when its connection turns out closed (it may have landed), so it only
# goes on a connection used within the last second: less likely to be one the server is closing.
_WRITE_REUSE_SECONDS = 1.0
_MAX_URL = 65536  # httpx refuses a longer URL component (InvalidURL): so does this path
_URLS_KEPT = 4096
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
# What httpx.Response can decode with the standard library alone.
_DEFAULT_HEADERS = (
    ("accept-encoding", "Accept-Encoding: gzip, deflate\r\n"),
    ("user-agent", "User-Agent: learngraph\r\n"),
)

Timeouts = tuple[float | None, float | None, float | None]
"""(connect, read, pool) in seconds; None waits for ever."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a request goes, worked out once per URL: the connection's origin, the request line's
    target and the Host header."""

    scheme: str
    host: str
    port: int
    host_header: str
    path: str  # path and query, as sent

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @classmethod
    def of(cls, url: httpx.URL) -> Target:
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol("not an http or https URL")
        if not url.raw_host:
            raise httpx.UnsupportedProtocol("a URL without a host")
        host = url.raw_host.decode("ascii")
        default = 443 if scheme == "https" else 80
        port = url.port or default
        named = f"[{host}]" if ":" in host else host
        return cls(
            scheme, host, port, named if port == default else f"{named}:{port}", url.raw_path.decode("ascii")
        )


class PoolTransport(httpx.AsyncBaseTransport):
    """At most `max_connections` requests in flight to one upstream, over keep-alive connections.

        transport = PoolTransport(max_connections=100)
        status, headers, body = await transport.fetch("GET", Target.of(url), headers, None, (5, 10, 10))

    Requests beyond `max_connections` wait, first come first served, for at most the pool timeout.
    An idle connection is reused, the most recently used first, until it has been idle 4 s. A read
    written to a kept connection the server had already closed is sent once more on a new one; a
    write, which is never sent twice, takes a kept connection only if it was used within the last
    second.
    Connections belong to the event loop that opened them: in another loop (a test suite's come and
    go) the pool starts afresh.
    """

    def __init__(self, max_connections: int = 100, *, ssl_context: ssl.SSLContext | None = None) -> None:
        if max_connections < 1:
            raise ValueError("PoolTransport needs at least one connection")
        self.max_connections = max_connections
        self._ssl = ssl_context
        self._gate: Gate | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        self.in_flight = 0
        self.opened = 0  # connections opened: how well they are reused
        self._closed = False

    @property
    def kept(self) -> int:
        """Idle connections kept for reuse."""
        return sum(len(connections) for connections in self._idle.values())

    def _gate_here(self) -> Gate:
        self._closed = False  # used again after `aclose`: kept connections are kept again
        loop = asyncio.get_running_loop()
        if self._gate is None or self._loop is not loop:
            self._close_idle()
            self._gate = Gate(self.max_connections)
            self._loop = loop
        return self._gate

    async def _acquire(self, gate: Gate, pool: float | None, target: Target) -> None:
        if gate.try_acquire():
            return
        try:
            await gate.acquire(pool)
        except TimeoutError:
            raise httpx.PoolTimeout(f"no connection to {target.host} came free in time") from None

    def _kept(self, target: Target, method: str) -> Connection | None:
        idle = self._idle.get(target.origin)
        if not idle:
            return None
        assert self._loop is not None
        now = self._loop.time()
        fresh_within = _KEEPALIVE_SECONDS if method in _IDEMPOTENT else _WRITE_REUSE_SECONDS
        while idle:
            connection = idle.pop()
            if connection.is_open and now - connection.idle_since < fresh_within:
                return connection
            if connection.is_open and now - connection.idle_since < _KEEPALIVE_SECONDS:
                idle.append(connection)  # too long idle for a write (the rest more so), fine for a read
                break
            connection.close()
        return None

    async def _new(self, target: Target, connect: float | None) -> Connection:
        if target.scheme == "https" and self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # made once: reading the CA bundle takes ~50 ms
        connection = await open_connection(target.scheme, target.host, target.port, self._ssl, connect)
        self.opened += 1
        return connection

    def _give_back(self, target: Target, connection: Connection) -> None:
        if connection.reusable and self._loop is not None and not self._closed:
            connection.idle_since = self._loop.time()
            self._idle.setdefault(target.origin, []).append(connection)
        else:
            connection.close()

    async def _exchanged(
        self,
        target: Target,
        method: str,
        connect: float | None,
        start: Callable[[Connection], Any],
    ) -> tuple[Connection, Any]:
        """`start(connection)` awaited on a kept connection, or a new one; once more on a new one when
        the kept one turns out closed before any answer (an idempotent request only)."""
        connection = self._kept(target, method)
        if connection is not None:
            try:
                return connection, await start(connection)
            except httpx.RemoteProtocolError:
                connection.close()
                if connection.received or method not in _IDEMPOTENT:
                    raise
            except BaseException:
                connection.close()  # cancelled or failed mid-answer: it cannot serve another request
                raise
        connection = await self._new(target, connect)
        try:
            return connection, await start(connection)
        except BaseException:
            connection.close()
            raise

    async def fetch(
        self,
        method: str,
        target: Target,
        headers: Mapping[str, str] | Sequence[tuple[str, str]],
        content: bytes | None,
        timeouts: Timeouts,
    ) -> Answer:
        """One exchange, the body read whole: (status, raw headers, body)."""
        connect, read, pool = timeouts
        gate = self._gate_here()
        request = request_bytes(method, target, headers, content)
        await self._acquire(gate, pool, target)
        self.in_flight += 1
        try:
            head_only = method == "HEAD"
            connection, answer = await self._exchanged(
                target, method, connect, lambda c: c.exchange(request, read, head_only=head_only)
            )
            self._give_back(target, connection)
            return answer  # type: ignore[no-any-return]
        finally:
            self.in_flight -= 1
            gate.release()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        connect, read, pool = timeout.get("connect"), timeout.get("read"), timeout.get("pool")
        content = await request.aread()
        target = Target.of(request.url)
        # The connection frames the body and names the host itself; the rest of httpx's headers go as they are.
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name.lower() not in ("content-length", "transfer-encoding", "host")
        ]
        data = request_bytes(request.method, target, headers, content or None)
        gate = self._gate_here()
        await self._acquire(gate, pool, target)
        self.in_flight += 1
        released = False

        def release(connection: Connection | None) -> None:
            nonlocal released
            if not released:
                released = True
                if connection is not None:
                    self._give_back(target, connection)
                self.in_flight -= 1
                gate.release()

        try:
            connection, head = await self._exchanged(
                target, request.method, connect, lambda c: c.send(data, read)
            )
        except BaseException:
            release(None)
            raise
        status, raw_headers = head
        return httpx.Response(
            status,
            headers=raw_headers,
            stream=_Streamed(connection, release),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _close_idle(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    async def aclose(self) -> None:
        """Closes the kept connections; one still in use is closed once its answer has been read
        (unless the transport is used again meanwhile)."""
        self._closed = True
        self._close_idle()


class _Streamed(httpx.AsyncByteStream):
    """A response body read as it arrives; its connection given back once closed (kept only when
    read to its end)."""

    def __init__(self, connection: Connection, release: Callable[[Connection | None], None]) -> None:
        self._connection = connection
        self._release = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._connection.stream_body():
            yield chunk

    async def aclose(self) -> None:
        self._release(self._connection)  # kept if read to its end, else closed (`_give_back`)


def request_bytes(
    method: str,
    target: Target,
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    content: bytes | None,
) -> bytes:
    """The request's head and body as written to the connection. A header that would break a line
    (CR or LF in a name or value) is refused: it would let a value smuggle a header of its own."""
    parts = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    given = set()
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        parts.append(f"{name}: {value}\r\n")
        given.add(name.lower())
    for name, line in _DEFAULT_HEADERS:
        if name not in given:
            parts.append(line)
    if content is not None or method in ("POST", "PUT", "PATCH"):
        parts.append(f"Content-Length: {len(content) if content else 0}\r\n")
    parts.append("\r\n")
    head = "".join(parts)
    lines = len(parts) + 1  # the first part holds the request line and Host
    if head.count("\n") != lines or head.count("\r") != lines:
        raise httpx.LocalProtocolError("a header name or value holds a line break")
    data = head.encode("utf-8")
    return data + content if content else data


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
    """A `LeanClient` over a `PoolTransport` of `max_connections`; with a `transport` of another
    kind (the tests' in-process sandboxes), an `httpx.AsyncClient` over it."""
    if transport is None:
        transport = PoolTransport(max_connections)
    if isinstance(transport, PoolTransport):
        return LeanClient(transport, timeout)
    return httpx.AsyncClient(timeout=timeout, transport=transport, follow_redirects=False)


class LeanClient:
    """`httpx.AsyncClient.request` without httpx's request building, over a `PoolTransport`.

        client = LeanClient(PoolTransport(100), httpx.Timeout(10))
        response = await client.request("GET", httpx.URL("https://up.example/api/user"), params={"n": 5})

    The query is encoded as httpx encodes it (`True` as `true`, `None` as empty, a list as repeated
    keys); the answer is an `httpx.Response` with its body read.
    """

    def __init__(self, transport: PoolTransport, timeout: httpx.Timeout) -> None:
        self.transport = transport
        self.timeout = timeout
        self._default: Timeouts = (timeout.connect, timeout.read, timeout.pool)
        self._targets: dict[str, Target] = {}
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
        text = self._text(url)
        if params and "?" in text:  # rare: httpx merges the two queries as it would
            text = str(url.copy_merge_params(params))
        elif params:
            text = f"{text}?{encode_query(params)}"
        target = self._targets.get(text)
        if target is None:
            if len(text) > _MAX_URL:
                raise httpx.InvalidURL("URL too long")
            target = Target.of(httpx.URL(text))
            # Worked out once: the same few thousand URLs come back (one per person and listing).
            if len(self._targets) >= _URLS_KEPT:
                self._targets.clear()
            self._targets[text] = target
        status, raw_headers, body = await self.transport.fetch(
            method.upper(), target, headers or {}, content, self._timeouts_of(timeout)
        )
        return _Answer(status, raw_headers, body, lambda: _request_of(method, text, headers, content))

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
