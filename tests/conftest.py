"""Fixtures shared by every test: a fresh seeded sandbox per test, reached in-process or over loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from gateway.data.callers import Caller
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.controls import RequestLog
from sandbox.server import CREDENTIALS, MOUNTS, Sandbox, serve_on_loopback
from tests.redis_server import RedisServer
from tests.tokens import fixture_issuer

# A fixed "now" for the seeded data, so tests never depend on the day they run.
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
IN_PROCESS = "http://sandbox.test"
# The fixtures' gateways take requests without a credential as ADMIN's (development's switch): tests of
# what a caller may do say who calls; tests of authentication (tests/server/auth) build their own.
AS_ADMIN = {"LEARNGRAPH_ALLOW_ANONYMOUS": "true"}

C = TypeVar("C")


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox.build(people=50, seed=7, anchor=ANCHOR)


@pytest.fixture
def sandbox_transport(sandbox: Sandbox) -> httpx.ASGITransport:
    """The four sandbox apps, in-process."""
    return httpx.ASGITransport(app=sandbox.asgi_app())


@pytest.fixture
async def sandbox_address(sandbox: Sandbox) -> AsyncIterator[str]:
    """The four sandbox apps on a real loopback socket (for timeouts and the server itself)."""
    async with serve_on_loopback(sandbox.asgi_app()) as address:
        yield address


@pytest.fixture
def connect(sandbox_transport: httpx.ASGITransport) -> Callable[..., Any]:
    """`connect(DamstraClient, Source.DAMSTRA)`: a connector wired to the in-process sandbox.
    Keyword arguments go to the client's `connect` (e.g. `secret=...`, `retry_attempts=1`)."""

    def make(client_cls: type[C], source: Source, **kwargs: Any) -> C:
        kwargs.setdefault("secret", SecretStr(CREDENTIALS[source]))
        kwargs.setdefault("transport", sandbox_transport)
        kwargs.setdefault("retry_wait_seconds", 0.0)
        client: C = client_cls.connect(IN_PROCESS + MOUNTS[source], **kwargs)  # type: ignore[attr-defined]
        return client

    return make


@dataclass
class Gateway:
    """The whole gateway over the in-process sandbox, as a GraphQL client sees it."""

    http: httpx.AsyncClient
    sandbox: Sandbox
    services: Any  # gateway.data.context.Services
    app: Any = None  # the gateway's ASGI app

    @contextlib.asynccontextmanager
    async def as_caller(self, caller: Caller) -> AsyncIterator[Gateway]:
        """The same gateway, every request of it made as `caller`: with a real token signed for them."""
        transport = httpx.ASGITransport(app=self.app)
        headers = fixture_issuer().headers(caller)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://gateway.test", headers=headers
        ) as http:
            yield Gateway(http, self.sandbox, self.services, self.app)

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of an answer that must have no errors."""
        body = await self.query(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def log(self, source: Source) -> RequestLog:
        return self.sandbox.controls[source].log

    def writes(self, source: Source) -> list[str]:
        """Every request but a GET the source received, as "POST /path"."""
        return [f"{e.method} {e.path}" for e in self.log(source).entries if e.method != "GET"]

    def clear_logs(self) -> None:
        for controls in self.sandbox.controls.values():
            controls.log.clear()


async def _serve_gateway(
    sandbox: Sandbox,
    address: str,
    identity: Path,
    transport: httpx.AsyncBaseTransport | None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[Gateway]:
    from gateway.server.app import build_services, create_app

    base = {**sandbox.gateway_env(address, identity), **AS_ADMIN, **fixture_issuer().env}
    settings = load_settings({**base, **(env or {})})
    transports = {source: transport for source in Source} if transport is not None else None
    services = build_services(settings, transports=transports)
    app = create_app(settings, services=services)
    if services.shared is not None:  # the lifespan would start it; the app is not run through one here
        await services.shared.start()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway.test"
    ) as http:
        yield Gateway(http, sandbox, services, app)
    await services.upstreams.aclose()
    if services.shared is not None:
        await services.shared.aclose()


@pytest.fixture
async def gateway(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport):
        yield served


# Short enough to keep timeout tests quick, long enough for a loaded CI machine's normal answers.
LOOPBACK_TIMEOUT_SECONDS = 1.0
# For a module whose timeout tests read an upstream a few times at most before the write that times
# out: a shorter wait, and a sandbox that holds its late answer back (and its shutdown) for less.
QUICK_LOOPBACK_TIMEOUT_SECONDS = 0.2


@pytest.fixture
def loopback_timeout_seconds() -> float:
    """The upstream timeout `loopback_gateway` sets; a module overrides this fixture to change it."""
    return LOOPBACK_TIMEOUT_SECONDS


@pytest.fixture
async def loopback_gateway(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, loopback_timeout_seconds: float
) -> AsyncIterator[Gateway]:
    """The gateway over the sandbox on a real socket, with short upstream timeouts: for
    `faults.hang_next` and `faults.slow_next_write` tests (an in-process transport cannot time out)."""
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {f"LEARNGRAPH_{s.slug.upper()}_TIMEOUT_SECONDS": str(loopback_timeout_seconds) for s in Source}
    env["LEARNGRAPH_READ_RETRY_ATTEMPTS"] = "1"
    for controls in sandbox.controls.values():
        controls.faults.hang_seconds = loopback_timeout_seconds * 3
    async for served in _serve_gateway(sandbox, sandbox_address, identity, None, env):
        yield served


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; skips without one (fails in CI)."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, running and empty (a test that stopped it has it started again)."""
    if redis_server.process is None:
        redis_server.restart()
    redis_server.flush()
    return redis_server.url
