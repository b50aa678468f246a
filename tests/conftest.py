"""Fixtures shared by every test: a fresh seeded sandbox per test, reached in-process or over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import SecretStr

from gateway.sandbox.server import CREDENTIALS, MOUNTS, Sandbox, serve_on_loopback
from gateway.sources import Source

# A fixed "now" for the seeded data, so tests never depend on the day they run.
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
IN_PROCESS = "http://sandbox.test"

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
