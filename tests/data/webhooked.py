"""A gateway with DAMSTRA's webhooks configured (its schedule lists and member pages kept 300 s), for
the cross-request cache tests: `served(...)` with settings of a test's own, or the `hooked` fixture
(`tests/data/conftest.py`) with the defaults."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

SECRET = "schedule-cache-test-secret"


@contextlib.asynccontextmanager
async def served(
    sandbox: Sandbox, transport: httpx.ASGITransport, tmp_path: Path, **env: str
) -> AsyncIterator[Gateway]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = {"LEARNGRAPH_WEBHOOK_SECRET": SECRET, **{f"LEARNGRAPH_{k.upper()}": v for k, v in env.items()}}
    async with contextlib.asynccontextmanager(_serve_gateway)(
        sandbox, IN_PROCESS, identity, transport, settings
    ) as gateway:
        yield gateway
