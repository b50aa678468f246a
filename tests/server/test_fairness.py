"""Per-caller fairness: a caller's rate and operations in flight over HTTP (429, `Retry-After`,
`RATE_LIMITED`), and a WebSocket's operations (the rate again, and a cap per connection)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from gateway.data.callers import Caller, Role
from gateway.data.fairness import InProcessCallerCounters
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway
from tests.ids import damstra_user_id
from tests.tokens import fixture_issuer

TYPENAME = {"query": "{ __typename }"}
USER = {
    "query": "query($id: ID!) { user(id: $id) { fullName } }",
    "variables": {"id": damstra_user_id(10_000)},
}
ANA = Caller("ana", Role.ADMIN)
BEN = Caller("ben", Role.ADMIN)


@contextlib.asynccontextmanager
async def gateway_with(
    sandbox: Sandbox, transport: httpx.AsyncBaseTransport, tmp_path: Path, **env: str
) -> AsyncIterator[Gateway]:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = {f"LEARNGRAPH_{name.upper()}": value for name, value in env.items()}
    async for served in _serve_gateway(sandbox, IN_PROCESS, identity, transport, settings):
        yield served


# -- the counters ------------------------------------------------------------------------------


async def test_the_rate_is_a_minutes_moving_window_per_caller() -> None:
    counters = InProcessCallerCounters(rate_per_minute=3, concurrency=0)
    for _ in range(3):
        assert await counters.admit("ana") is None
        await counters.release("ana")
    refusal = await counters.admit("ana")
    assert refusal is not None and refusal.limit == "rate" and 1 <= refusal.retry_after <= 60
    assert counters.in_flight("ana") == 0  # a refusal holds nothing
    assert await counters.admit("ben") is None  # another caller has their own
    assert counters.refused["rate"] == 1


async def test_concurrency_counts_operations_in_flight() -> None:
    counters = InProcessCallerCounters(rate_per_minute=0, concurrency=2)
    assert await counters.admit("ana") is None and await counters.admit("ana") is None
    refusal = await counters.admit("ana")
    assert refusal is not None and (refusal.limit, refusal.retry_after) == ("concurrency", 1)
    assert counters.in_flight("ana") == 2
    assert await counters.admit("ana", hold=False) is None  # counted in the rate only
    await counters.release("ana")
    assert await counters.admit("ana") is None


async def test_no_limits_by_default(sandbox: Sandbox) -> None:
    settings = load_settings(sandbox.gateway_env(IN_PROCESS))
    assert (settings.caller_rate_limit, settings.caller_concurrency) == (0, 0)
    assert settings.max_subscriptions_per_connection == 20
    counters = InProcessCallerCounters(settings.caller_rate_limit, settings.caller_concurrency)
    assert all([await counters.admit("ana") is None for _ in range(1000)])


# -- over HTTP ---------------------------------------------------------------------------------


async def test_past_the_rate_a_caller_gets_429_on_every_path_and_others_do_not(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    async with (
        gateway_with(sandbox, sandbox_transport, tmp_path, caller_rate_limit="3") as gateway,
        gateway.as_caller(ANA) as ana,
        gateway.as_caller(BEN) as ben,
    ):
        answers = [
            await ana.http.post("/graphql", json=TYPENAME),  # the lean path
            await ana.http.get("/graphql", params=TYPENAME),  # Strawberry's view
            await ana.http.post("/graphql", json=TYPENAME),
        ]
        assert [a.status_code for a in answers] == [200, 200, 200]
        gateway.clear_logs()
        refused = await ana.http.post("/graphql", json=USER)
        for refused_too in (
            await ana.http.get("/graphql", params=TYPENAME),
            await ana.http.get("/certificates/1"),
        ):
            assert refused_too.status_code == 429
        assert (await ben.http.post("/graphql", json=TYPENAME)).status_code == 200
        assert (await gateway.http.get("/healthz")).status_code == 200  # no caller: not counted
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["limit"] == "rate"
    assert "data" not in refused.json()
    assert gateway.sandbox.controls[Source.DAMSTRA].log.entries == []  # nothing ran


async def test_past_its_concurrency_a_caller_gets_429_until_one_ends(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    async with gateway_with(sandbox, sandbox_transport, tmp_path, caller_concurrency="1") as gateway:
        gateway.sandbox.controls[Source.DAMSTRA].faults.latency_ms = 300
        async with gateway.as_caller(ANA) as ana, gateway.as_caller(BEN) as ben:
            slow = asyncio.ensure_future(ana.http.post("/graphql", json=USER))
            await asyncio.sleep(0.1)
            second = await ana.http.post("/graphql", json=TYPENAME)
            other = await ben.http.post("/graphql", json=TYPENAME)
            first = await slow
            after = await ana.http.post("/graphql", json=TYPENAME)
    assert (first.status_code, second.status_code, other.status_code, after.status_code) == (
        200,
        429,
        200,
        200,
    )
    assert second.headers["retry-after"] == "1"
    assert second.json()["errors"][0]["extensions"] == {
        "code": "RATE_LIMITED",
        "limit": "concurrency",
        "retryAfter": 1,
    }
    assert first.json()["data"]["user"]["fullName"]


async def test_both_paths_count_alike_with_the_fast_paths_off(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    async with (
        gateway_with(
            sandbox, sandbox_transport, tmp_path, caller_rate_limit="2", fast_paths="false"
        ) as gateway,
        gateway.as_caller(ANA) as ana,
    ):
        codes = [(await ana.http.post("/graphql", json=TYPENAME)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# -- over a WebSocket --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def socket(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path, **env: str
) -> AsyncIterator[ClientConnection]:
    from gateway.server.app import build_services, create_app

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    issuer = fixture_issuer()
    settings = load_settings(
        {
            **sandbox.gateway_env(sandbox_address, identity),
            **issuer.env,
            **{f"LEARNGRAPH_{name.upper()}": value for name, value in env.items()},
        }
    )
    services = build_services(settings)
    try:
        async with serve_on_loopback(create_app(settings, services=services)) as address:
            url = address.replace("http://", "ws://") + "/graphql"
            async with connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
                await ws.send(json.dumps({"type": "connection_init", "payload": issuer.headers(ANA)}))
                assert json.loads(await ws.recv())["type"] == "connection_ack"
                yield ws
    finally:
        await services.upstreams.aclose()


async def subscribe(ws: ClientConnection, operation_id: str) -> None:
    query = "subscription { trainingEvents { type } }"
    await ws.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": {"query": query}}))


async def message(ws: ClientConnection) -> dict[str, Any]:
    received: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return received


async def nothing_within(ws: ClientConnection, seconds: float) -> bool:
    try:
        await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return True
    return False


async def test_a_connection_runs_at_most_its_subscriptions(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path
) -> None:
    async with socket(sandbox, sandbox_address, tmp_path, max_subscriptions_per_connection="2") as ws:
        await subscribe(ws, "1")
        await subscribe(ws, "2")
        await subscribe(ws, "3")
        refused = await message(ws)
        assert (refused["type"], refused["id"]) == ("error", "3")
        extensions = refused["payload"][0]["extensions"]
        assert extensions == {"code": "LIMIT_EXCEEDED", "limit": "subscriptionsPerConnection", "maxValue": 2}
        # The connection stays; ending one makes room.
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        started = time.monotonic()
        while True:
            await subscribe(ws, "4")
            if await nothing_within(ws, 0.2):
                break  # running: no error came
            assert time.monotonic() - started < 5


async def test_a_websockets_operations_count_in_its_callers_rate(
    sandbox: Sandbox, sandbox_address: str, tmp_path: Path
) -> None:
    async with socket(sandbox, sandbox_address, tmp_path, caller_rate_limit="2") as ws:
        await subscribe(ws, "1")
        await subscribe(ws, "2")
        await subscribe(ws, "3")
        refused = await message(ws)
    assert (refused["type"], refused["id"]) == ("error", "3")
    extensions = refused["payload"][0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED" and extensions["limit"] == "rate"
    assert 1 <= extensions["retryAfter"] <= 60


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_a_subscription_cap_below_one_is_a_configuration_error(sandbox: Sandbox, limit: str) -> None:
    from gateway.settings import ConfigError

    with pytest.raises(ConfigError, match="MAX_SUBSCRIPTIONS_PER_CONNECTION"):
        load_settings(
            {**sandbox.gateway_env(IN_PROCESS), "LEARNGRAPH_MAX_SUBSCRIPTIONS_PER_CONNECTION": limit}
        )
