"""The upstream connections under `PoolTransport`, against scripted servers on loopback: how answers are
framed (length, chunks, the server's close, no body), when a connection is kept and when it is not, a
kept connection the server had closed, headers that would split a line, limits, TLS and uvloop."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.upstreams import transport as transport_module
from gateway.upstreams.transport import LeanClient, PoolTransport, Target, request_bytes

TIMEOUT = httpx.Timeout(5.0)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

# What a scripted server answers: given the request's head and its number on the connection (from 0),
# the bytes to write, or None to hang up without a word.
Script = Callable[[bytes, int], bytes | None]


class Scripted:
    """A loopback server answering each request by `script`; it records each connection's requests."""

    def __init__(
        self, script: Script, *, tls: ssl.SSLContext | None = None, close_after: bool = False
    ) -> None:
        self.script = script
        self.tls = tls
        self.close_after = close_after  # hang up after each answer
        self.connections: list[list[bytes]] = []
        self.address = ""
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[bytes] = []
        self.connections.append(seen)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length) if length else b""
                seen.append(head + body)
                answer = self.script(head, len(seen) - 1)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def always(answer: bytes) -> Script:
    return lambda head, n: answer


@pytest.fixture
async def pool() -> AsyncIterator[PoolTransport]:
    transport = PoolTransport(4)
    yield transport
    await transport.aclose()


async def _get(transport: PoolTransport, url: str, method: str = "GET", **kwargs: object) -> httpx.Response:
    return await LeanClient(transport, TIMEOUT).request(method, url, **kwargs)  # type: ignore[arg-type]


# -- framing ------------------------------------------------------------------------------------


async def test_a_chunked_answer_is_read_whole_and_its_connection_kept(pool: PoolTransport) -> None:
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"
    async with Scripted(always(chunked)) as server:
        for _ in range(3):
            assert (await _get(pool, f"{server.address}/x")).content == b"abcdefg"
    assert pool.opened == 1 and len(server.connections[0]) == 3


async def test_an_answer_without_length_ends_when_the_server_closes(pool: PoolTransport) -> None:
    async with Scripted(always(b"HTTP/1.1 200 OK\r\n\r\nto the end"), close_after=True) as server:
        assert (await _get(pool, f"{server.address}/x")).content == b"to the end"
        assert (await _get(pool, f"{server.address}/x")).content == b"to the end"
    assert pool.opened == 2  # nothing tells where such an answer ends but the close: never reused


async def test_connection_close_is_not_kept(pool: PoolTransport) -> None:
    async with Scripted(
        always(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    ) as server:
        for _ in range(2):
            assert (await _get(pool, f"{server.address}/x")).content == b"ok"
    assert pool.opened == 2


async def test_an_interim_answer_is_skipped(pool: PoolTransport) -> None:
    async with Scripted(always(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)) as server:
        answer = await _get(pool, f"{server.address}/x", "POST", content=b"{}")
    assert answer.status_code == 200 and answer.content == b"ok"


async def test_answers_without_a_body_end_at_their_head(pool: PoolTransport) -> None:
    def script(head: bytes, n: int) -> bytes:
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"  # the length a GET would get
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    async with Scripted(script) as server:
        head = await _get(pool, f"{server.address}/x", "HEAD")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == "1000"
        for _ in range(2):
            empty = await _get(pool, f"{server.address}/x", "DELETE")
            assert empty.status_code == 204 and empty.content == b""
    # After HEAD the parser would wait for a body that never comes: that connection is not kept.
    assert pool.opened == 2 and [len(c) for c in server.connections] == [1, 2]


async def test_a_body_that_keeps_arriving_is_not_cut_off_by_the_read_timeout() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        for byte in b"12345":
            await asyncio.sleep(0.06)
            writer.write(bytes([byte]))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(slow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = PoolTransport(1)
    client = LeanClient(transport, httpx.Timeout(5.0, read=0.15))
    async with server:
        # 0.3 s in all, never 0.15 s without a byte.
        assert (await client.request("GET", f"http://127.0.0.1:{port}/x")).content == b"12345"
    await transport.aclose()


# -- kept connections ---------------------------------------------------------------------------


async def test_a_kept_connection_the_server_closed_is_replaced_for_a_read_only(pool: PoolTransport) -> None:
    # The server answers the first request on each connection, then hangs up on the next one without a
    # word: what a client sees when the server closes an idle connection just as a request goes out.
    async with Scripted(lambda head, n: OK if n == 0 else None) as server:
        assert (await _get(pool, f"{server.address}/x")).content == b"ok"
        assert (await _get(pool, f"{server.address}/x")).content == b"ok"  # sent again, on a new one
        assert pool.opened == 2
        with pytest.raises(httpx.RemoteProtocolError):
            await _get(pool, f"{server.address}/x", "POST", content=b"{}")  # a write may have landed
    assert pool.in_flight == 0


async def test_an_idle_connection_is_given_up_before_the_server_gives_it_up(
    pool: PoolTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "_KEEPALIVE_SECONDS", 0.05)
    async with Scripted(always(OK)) as server:
        await _get(pool, f"{server.address}/x")
        await _get(pool, f"{server.address}/x")
        assert pool.opened == 1
        await asyncio.sleep(0.1)
        await _get(pool, f"{server.address}/x")
    assert pool.opened == 2


async def test_a_write_takes_only_a_connection_used_within_the_last_moment(
    pool: PoolTransport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport_module, "_WRITE_REUSE_SECONDS", 0.05)
    async with Scripted(always(OK)) as server:
        await _get(pool, f"{server.address}/x")
        await _get(pool, f"{server.address}/x", "POST", content=b"{}")  # just used: reused
        assert pool.opened == 1
        await asyncio.sleep(0.1)
        await _get(pool, f"{server.address}/x", "POST", content=b"{}")  # a write is not resent: a new one
        assert pool.opened == 2
        await asyncio.sleep(0.1)
        await _get(pool, f"{server.address}/x")  # a read still takes one idle that long
    assert pool.opened == 2 and pool.kept == 2


async def test_bytes_nobody_asked_for_close_the_connection(pool: PoolTransport) -> None:
    async with Scripted(always(OK + b"HTTP/1.1 200 OK\r\n")) as server:  # more than the answer
        assert (await _get(pool, f"{server.address}/x")).content == b"ok"
        await asyncio.sleep(0.05)
        assert (await _get(pool, f"{server.address}/x")).content == b"ok"
    assert pool.opened == 2


# -- refusals and limits -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\r\nX-Smuggled: 1", "a\nb", "a\rb"])
async def test_a_header_that_would_split_a_line_is_refused(pool: PoolTransport, value: str) -> None:
    async with Scripted(always(OK)) as server:
        with pytest.raises(httpx.LocalProtocolError):
            await _get(pool, f"{server.address}/x", headers={"X-Value": value})
    assert server.connections == [] and pool.in_flight == 0


async def test_a_head_past_the_limit_is_a_protocol_error(pool: PoolTransport) -> None:
    huge = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: %s\r\n" % (n, b"v" * 1000) for n in range(80)) + b"\r\n"
    async with Scripted(always(huge)) as server:
        with pytest.raises(httpx.RemoteProtocolError, match="too large"):
            await _get(pool, f"{server.address}/x")
    assert pool.in_flight == 0


async def test_a_reset_is_a_read_error(pool: PoolTransport) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        with pytest.raises(httpx.ReadError):
            await _get(pool, f"http://127.0.0.1:{port}/x", "POST", content=b"{}")
    assert pool.in_flight == 0


def test_a_request_is_written_as_http_1_1_with_its_host() -> None:
    target = Target.of(httpx.URL("https://[::1]:8443/api/v2/user?status=overdue&x=a%20b"))
    assert target.host == "::1" and target.port == 8443 and target.host_header == "[::1]:8443"
    written = request_bytes("POST", target, {"AccessKey": "k"}, b"{}")
    assert written == (
        b"POST /api/v2/user?status=overdue&x=a%20b HTTP/1.1\r\nHost: [::1]:8443\r\nAccessKey: k\r\n"
        b"Accept-Encoding: gzip, deflate\r\nUser-Agent: learngraph\r\nContent-Length: 2\r\n\r\n{}"
    )
    # The default port is not named; a caller's own Accept-Encoding is not doubled.
    plain = request_bytes("GET", Target.of(httpx.URL("http://up.test/x")), [("accept-encoding", "br")], None)
    assert (
        plain == b"GET /x HTTP/1.1\r\nHost: up.test\r\naccept-encoding: br\r\nUser-Agent: learngraph\r\n\r\n"
    )
    with pytest.raises(httpx.UnsupportedProtocol):
        Target.of(httpx.URL("ftp://up.test/x"))


# -- TLS and the gateway's event loop ---------------------------------------------------------------


def _self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1, and a client context that trusts it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loopback")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


async def test_https_checks_the_certificate(tmp_path: Path) -> None:
    server_context, trusting = _self_signed(tmp_path)
    async with Scripted(always(OK), tls=server_context) as server:
        trusted = PoolTransport(2, ssl_context=trusting)
        for _ in range(2):
            assert (await _get(trusted, f"{server.address}/x")).content == b"ok"
        assert trusted.opened == 1
        await trusted.aclose()
        default = PoolTransport(2)  # the system's CAs: a self-signed certificate is refused
        with pytest.raises(httpx.ConnectError):
            await _get(default, f"{server.address}/x")
        assert default.in_flight == 0
        await default.aclose()


def test_the_gateway_event_loop_uvloop_carries_the_same_exchanges() -> None:
    async def main() -> None:
        async with Scripted(lambda head, n: OK if n < 2 else None) as server:
            transport = PoolTransport(2)
            answers = [await _get(transport, f"{server.address}/x") for _ in range(4)]
            assert [a.content for a in answers] == [b"ok"] * 4
            assert transport.opened == 2  # the third found its kept connection closed: sent again
            await transport.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


async def test_a_connection_in_use_when_the_transport_closes_is_not_kept() -> None:
    async with Scripted(lambda head, n: OK) as server:
        transport = PoolTransport(2)
        client = LeanClient(transport, TIMEOUT)
        await client.request("GET", f"{server.address}/x")
        slow = asyncio.ensure_future(client.request("GET", f"{server.address}/x"))
        await asyncio.sleep(0)
        await transport.aclose()
        assert (await slow).content == b"ok"
        assert transport.kept == 0  # closed with its answer, not left open in the pool
        await client.request("GET", f"{server.address}/x")  # used again: a new connection, kept
        assert transport.opened == 2 and transport.kept == 1
        await transport.aclose()
