"""Fixtures of the data layer's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sandbox.server import Sandbox
from tests.conftest import Gateway
from tests.data.webhooked import served


@pytest.fixture
async def hooked(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Gateway]:
    """The gateway with DAMSTRA's webhooks configured (so its schedule lists are kept 300 s)."""
    async with served(sandbox, sandbox_transport, tmp_path) as gateway:
        yield gateway
