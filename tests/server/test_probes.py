"""`/readyz`: 503 only when this process cannot serve (starting, draining, misconfigured); the upstreams'
and Redis's state in the body of a 200. And SIGTERM turns the process draining before uvicorn's own drain."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType

import httpx
import pytest

from gateway.server.app import create_app
from gateway.server.lifecycle import Lifecycle, Phase
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox
from tests.conftest import AS_ADMIN, IN_PROCESS, Gateway


async def test_an_upstream_outage_is_told_in_a_200_not_a_503(gateway: Gateway) -> None:
    ready = await gateway.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "upstreams": {source.name: {"status": "ok"} for source in Source},
        "redis": {"status": "not configured"},
        # No training index: no source is synced.
        "sync": {source.name: {"state": "DISABLED", "lastSyncedAt": None, "rows": 0} for source in Source},
    }
    gateway.sandbox.controls[Source.ISCOUT].faults.error_rate = 1.0
    degraded = await gateway.http.get("/readyz")
    # One vendor's outage would otherwise take every replica out of the load balancer at once.
    assert degraded.status_code == 200
    body = degraded.json()
    assert body["status"] == "degraded"
    assert body["upstreams"]["ISCOUT"]["status"] == "unavailable"
    assert body["upstreams"]["DAMSTRA"] == {"status": "ok"}


async def test_a_draining_process_is_not_ready(gateway: Gateway) -> None:
    gateway.app.state.lifecycle.drain()
    answer = await gateway.http.get("/readyz")
    assert (answer.status_code, answer.json()) == (503, {"status": "draining"})
    assert (await gateway.http.get("/healthz")).status_code == 200  # alive all the same


async def test_a_process_whose_lifespan_has_not_run_is_starting(sandbox: Sandbox, tmp_path: Path) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    app = create_app(load_settings({**AS_ADMIN, **sandbox.gateway_env(IN_PROCESS, identity)}))
    assert app.state.lifecycle.phase is Phase.STARTING
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as http:
        answer = await http.get("/readyz")
    assert (answer.status_code, answer.json()) == (503, {"status": "starting"})


async def test_a_process_with_no_upstream_is_misconfigured() -> None:
    app = create_app(load_settings(AS_ADMIN))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://g.test") as http,
    ):
        answer = await http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["status"] == "misconfigured"


def phase_of(lifecycle: Lifecycle) -> Phase:
    return lifecycle.phase  # read anew: a signal handler changed it under the caller


async def test_sigterm_marks_the_process_draining_then_reaches_uvicorn(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    app = create_app(load_settings({**AS_ADMIN, **sandbox.gateway_env(IN_PROCESS, identity)}))
    received: list[int] = []

    def uvicorn_s(sig: int, frame: FrameType | None) -> None:  # what uvicorn installs before the lifespan
        received.append(sig)

    before = signal.signal(signal.SIGTERM, uvicorn_s)
    try:
        async with app.router.lifespan_context(app):
            lifecycle: Lifecycle = app.state.lifecycle
            assert lifecycle.phase is Phase.SERVING
            os.kill(os.getpid(), signal.SIGTERM)
            assert phase_of(lifecycle) is Phase.DRAINING
            assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is uvicorn_s
    finally:
        signal.signal(signal.SIGTERM, before)


@pytest.mark.parametrize("value", ["http://redis:6379", "redis.example:6379"])
def test_a_redis_url_must_be_one(value: str) -> None:
    from gateway.settings import ConfigError

    with pytest.raises(ConfigError, match="LEARNGRAPH_REDIS_URL: must start with redis://") as refused:
        load_settings({"LEARNGRAPH_REDIS_URL": value})
    assert value not in str(refused.value)  # it may carry a password
