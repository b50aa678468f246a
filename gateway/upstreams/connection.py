"""One keep-alive HTTP/1.1 connection to an upstream: a request written in one go, its answer parsed
by httptools (llhttp, the parser uvicorn serves with).

    connection = await open_connection("https", "api.example", 443, ssl_context, connect_timeout=5)
    status, headers, body = await connection.exchange(request_bytes, read_timeout=10)

An asyncio protocol, so an answer costs one callback per arrival of bytes and one future: about a
sixth of aiohttp's CPU per request (`python -m bench.upstream_client`), which is most of what a
dashboard of 100 people's reads costs the gateway. Failures are httpx's exceptions, the ones
`http.py` maps onto the error tree; their messages never quote a URL (a vendor's token can ride in
the query).

An answer is framed by its Content-Length, by chunks, or (neither given) by the server closing the
connection; the last, an answer to HEAD, or `Connection: close` leave the connection unfit for reuse.
`read_timeout` is the longest wait for the next bytes, not for the whole answer: a large body that
keeps arriving is not cut off.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from typing import cast

import aiohappyeyeballs
import httptools
import httpx

Head = tuple[int, list[tuple[bytes, bytes]]]
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]

# h11, httpx's parser, refuses a head over 64 KiB; llhttp has no limit of its own.
MAX_HEAD_BYTES = 64 * 1024
# Bytes of a streamed body held unread before reading from the socket pauses.
_STREAM_HIGH_WATER = 1024 * 1024


async def open_connection(
    scheme: str,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    connect_timeout: float | None,
) -> Connection:
    """A new connection, TLS set up for https: DNS, connecting and the handshake within the timeout.
    A host with several addresses (IPv6 and IPv4) is tried on them side by side, a quarter second
    apart (happy eyeballs, RFC 8305), as aiohttp did: one unreachable family does not stall it."""
    loop = asyncio.get_running_loop()
    tls = ssl_context if scheme == "https" else None
    try:
        async with asyncio.timeout(connect_timeout):
            addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            sock = await aiohappyeyeballs.start_connection(addresses, happy_eyeballs_delay=0.25, interleave=1)
            try:
                _, connection = await loop.create_connection(
                    lambda: Connection(loop), sock=sock, ssl=tls, server_hostname=host if tls else None
                )
            except BaseException:
                sock.close()
                raise
    except TimeoutError:
        raise httpx.ConnectTimeout("connecting timed out") from None
    except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
        raise httpx.ConnectError(f"could not connect: {exc.strerror or type(exc).__name__}") from None
    return connection


class Connection(asyncio.Protocol):
    """One connection, one request at a time. `exchange` for an answer read whole; `send` then
    `stream_body` for one read as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[Answer] | asyncio.Future[Head] | None = None
        self._streaming = False
        self._head_only = False
        self._status = 0
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._framed = False  # Content-Length or chunked: the answer's end is known without a close
        self._body: list[bytes] = []
        self._buffered = 0
        self._chunk_waiter: asyncio.Future[None] | None = None
        self._received = False
        self._in_exchange = False
        self._complete = False
        self._reusable = False
        self._failure: httpx.TransportError | None = None
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.idle_since = 0.0

    # -- the caller's side ----------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    @property
    def received(self) -> bool:
        """Some bytes of the current answer have arrived."""
        return self._received

    @property
    def reusable(self) -> bool:
        """The last answer was read to its end and the connection may carry another request."""
        return self._reusable and self.is_open

    async def exchange(
        self, request: bytes, read_timeout: float | None, *, head_only: bool = False
    ) -> Answer:
        """Writes `request` and returns the answer read whole: (status, raw headers, body)."""
        waiter: asyncio.Future[Answer] = self._loop.create_future()
        self._start(request, waiter, read_timeout, streaming=False, head_only=head_only)
        return await waiter

    async def send(self, request: bytes, read_timeout: float | None) -> Head:
        """Writes `request` and returns the answer's head; its body comes from `stream_body`."""
        waiter: asyncio.Future[Head] = self._loop.create_future()
        self._start(request, waiter, read_timeout, streaming=True, head_only=False)
        return await waiter

    async def stream_body(self) -> AsyncIterator[bytes]:
        """The body after `send`, chunk by chunk as it arrives, each wait at most the read timeout."""
        while True:
            if self._body:
                chunks, self._body, self._buffered = self._body, [], 0
                if self._transport is not None and not self._complete:
                    self._transport.resume_reading()
                for chunk in chunks:
                    yield chunk
                continue
            if self._failure is not None:
                raise self._failure
            if self._complete:
                return
            self._chunk_waiter = self._loop.create_future()
            try:
                async with asyncio.timeout(self._read_timeout):
                    await self._chunk_waiter
            except TimeoutError:
                self.close()
                raise httpx.ReadTimeout("reading the answer timed out") from None
            finally:
                self._chunk_waiter = None

    def close(self) -> None:
        """Closes the connection (an answer left half-read, a cancelled request)."""
        self._reusable = False
        if self._transport is not None:
            self._transport.abort()

    def _start(
        self,
        request: bytes,
        waiter: asyncio.Future[Answer] | asyncio.Future[Head],
        read_timeout: float | None,
        *,
        streaming: bool,
        head_only: bool,
    ) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise httpx.RemoteProtocolError("the server closed the connection without answering")
        self._waiter = waiter
        self._streaming = streaming
        self._head_only = head_only
        self._status = 0
        self._headers = []
        self._head_bytes = 0
        self._framed = False
        self._body = []
        self._buffered = 0
        self._received = self._complete = self._reusable = False
        self._failure = None
        self._in_exchange = True
        transport.write(request)
        self._read_timeout = read_timeout
        if read_timeout is not None:  # until the head has come, when streaming (then each wait's own)
            self._last_read = self._loop.time()
            self._timer = self._loop.call_at(self._last_read + read_timeout, self._check_read)

    def _check_read(self) -> None:
        """The read timeout: no bytes for `read_timeout` seconds fails the answer."""
        self._timer = None
        if self._complete or self._failure is not None or self._read_timeout is None:
            return
        due = self._last_read + self._read_timeout
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_read)
            return
        self._fail(httpx.ReadTimeout("reading the answer timed out"))
        self.close()

    # -- asyncio's side ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not asyncio's class

    def data_received(self, data: bytes) -> None:
        if not self._in_exchange:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        self._received = True
        if self._timer is not None:
            self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError("a malformed answer: an upgrade was not asked for"))
            self.close()
        except httptools.HttpParserError as exc:
            reason = exc.__context__ if isinstance(exc.__context__, httpx.TransportError) else None
            self._fail(reason or httpx.RemoteProtocolError(f"a malformed answer: {type(exc).__name__}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._reusable = False
        if self._complete or self._failure is not None:
            return
        if self._status and not self._framed:
            self._finish()  # an answer without Content-Length or chunks ends when the server closes
        elif isinstance(exc, OSError) and exc.strerror:
            self._fail(httpx.ReadError(f"the connection failed: {exc.strerror}"))
        elif not self._received:
            self._fail(httpx.RemoteProtocolError("the server closed the connection without answering"))
        else:
            self._fail(httpx.RemoteProtocolError("the answer's body was cut short or malformed"))

    # -- httptools' callbacks -------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # more bytes after the answer, in the same read: not to be trusted again
            self._reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value) + 4
        if self._head_bytes > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError("a malformed answer: its head is too large")
        lowered = name.lower()
        if lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self._framed = True
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            self._headers = []
            self._head_bytes = 0
            self._framed = False
            return
        self._status = status
        if self._head_only:
            # No body follows, whatever the head says, but llhttp would wait for one: not reused.
            self._framed = True
            self._finish(reusable=False)
            return
        if self._streaming:
            self._stop_timer()  # from here each wait of the reader's is timed
            waiter, self._waiter = self._waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((status, self._headers))  # type: ignore[arg-type]

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        if self._streaming:
            self._buffered += len(body)
            if self._buffered > _STREAM_HIGH_WATER and self._transport is not None:
                self._transport.pause_reading()
            self._wake_reader()

    def on_message_complete(self) -> None:
        if self._status:  # not an interim answer
            self._finish(reusable=self._parser.should_keep_alive())

    # -- ends -----------------------------------------------------------------------------------------

    def _finish(self, reusable: bool = False) -> None:
        if self._complete:
            return
        self._complete = True
        self._in_exchange = False
        self._reusable = reusable
        self._stop_timer()
        if self._streaming:
            self._wake_reader()
            return
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
            self._body = []
            waiter.set_result((self._status, self._headers, body))  # type: ignore[arg-type]

    def _fail(self, failure: httpx.TransportError) -> None:
        if self._complete or self._failure is not None:
            return
        self._failure = failure
        self._in_exchange = False
        self._reusable = False
        self._stop_timer()
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(failure)
        self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._chunk_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
