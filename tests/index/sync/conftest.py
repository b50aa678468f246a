"""The training index's sync over the in-process sandbox: the index of tests/index/conftest.py (SQLite,
and a real PostgreSQL), and the gateway with its syncer wired in as the lifespan wires it
(`services.sync`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import pytest

from gateway.index.rows import Kind
from gateway.index.store import TrainingIndex
from gateway.index.syncer import IndexSyncer
from gateway.server.index_sync import learninglogin_logins
from gateway.sources import Source
from sandbox.server import Sandbox
from sandbox.world import TrainSessionRow
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

WEBHOOK_SECRET = "an-index-sync-webhook-secret"


def completed_today(session_id: int, login_id: int, course: str, score: int) -> TrainSessionRow:
    """A LearningLogin train session completed today, for the sandbox's world (a change made upstream)."""
    today = datetime.now(UTC).date()
    return TrainSessionRow(
        id=session_id,
        login_id=login_id,
        course_code=course,
        course_name=f"Course {course}",
        status="Completed",
        score=score,
        percent_complete=100,
        failed_attempts=0,
        cert_expiry=None,
        completion_date=today,
        complete_by=None,
        last_attempt=today,
        time_spent=1.0,
    )


@dataclass
class Synced:
    gateway: Gateway
    syncer: IndexSyncer
    index: TrainingIndex
    transport: httpx.ASGITransport  # the sandbox, in-process

    @property
    def sandbox(self) -> Sandbox:
        return self.gateway.sandbox

    async def count(self, kind: Kind, source: Source) -> int:
        return await self.index.count(kind, source)

    async def webhook(self, body: dict[str, str]) -> None:
        response = await self.gateway.http.post(
            "/webhooks/damstra", json=body, headers={"X-LearnGraph-Webhook-Secret": WEBHOOK_SECRET}
        )
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "accepted", response.text

    def requests(self, source: Source) -> int:
        return len(self.gateway.log(source).entries)


@pytest.fixture
async def synced(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, index: TrainingIndex
) -> AsyncIterator[Synced]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {"LEARNGRAPH_WEBHOOK_SECRET": WEBHOOK_SECRET, "LEARNGRAPH_WEBHOOK_MAX_AGE_SECONDS": "1e9"}
    async for gateway in _serve_gateway(sandbox, IN_PROCESS, identity, sandbox_transport, env):
        services = gateway.services
        syncer = IndexSyncer.for_index(
            index, services.upstreams, services.settings, partial(learninglogin_logins, services.directory)
        )
        gateway.services.sync = syncer
        try:
            yield Synced(gateway, syncer, index, sandbox_transport)
        finally:
            await syncer.stop()
