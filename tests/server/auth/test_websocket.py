"""WebSockets: the credential rides in `connection_init`; none (or a bad one) is closed with 4403, a good one
names the connection's caller, and a subscription ends with its token."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from gateway.data.callers import Caller, PersonRef, Role
from gateway.data.context import Context, Services
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS
from tests.server.auth.conftest import ADMIN_KEY, KEYS_YAML, KIOSK_KEY, Issuer

BOUND_SECONDS = 5.0
TRANSPORT_WS = Subprotocol("graphql-transport-ws")


@dataclass
class Live:
    url: str
    contexts: list[Context]

    def connect(self, protocol: Subprotocol = TRANSPORT_WS) -> Any:
        return connect(self.url, subprotocols=[protocol], open_timeout=BOUND_SECONDS)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), BOUND_SECONDS))
    return message


async def closed_with(ws: ClientConnection) -> int:
    with pytest.raises(ConnectionClosed) as raised:
        while True:
            await asyncio.wait_for(ws.recv(), BOUND_SECONDS)
    assert raised.value.rcvd is not None
    return raised.value.rcvd.code


async def initialised(ws: ClientConnection, payload: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "connection_init"}
    if payload is not None:
        message["payload"] = payload
    await ws.send(json.dumps(message))
    return await receive(ws)


async def live_gateway(
    sandbox: Sandbox,
    transport: httpx.AsyncBaseTransport,
    tmp_path: Path,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Live]:
    from gateway.server.app import build_services, create_app

    contexts: list[Context] = []
    build = Context.build.__func__  # type: ignore[attr-defined]

    def keeping(cls: type[Context], services: Services, *args: Any, **kwargs: Any) -> Context:
        context: Context = build(cls, services, *args, **kwargs)
        contexts.append(context)
        return context

    monkeypatch.setattr(Context, "build", classmethod(keeping))
    keys = tmp_path / "keys.yaml"
    keys.write_text(KEYS_YAML)
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = load_settings(
        {**sandbox.gateway_env(IN_PROCESS, identity), "LEARNGRAPH_API_KEYS_FILE": str(keys), **env}
    )
    services = build_services(settings, transports={source: transport for source in Source})
    async with serve_on_loopback(create_app(settings, services=services)) as address:
        yield Live(address.replace("http://", "ws://") + "/graphql", contexts)
    await services.upstreams.aclose()


@pytest.fixture
async def live(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    issuer: Issuer,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Live]:
    async for served in live_gateway(sandbox, sandbox_transport, tmp_path, issuer.env(), monkeypatch):
        yield served


async def test_without_a_credential_the_connection_is_closed_4403(live: Live) -> None:
    payloads: list[dict[str, Any] | None] = [None, {}, {"headers": {}}, {"Authorization": ""}]
    for payload in payloads:
        async with live.connect() as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", **({"payload": payload} if payload is not None else {})}
                )
            )
            assert await closed_with(ws) == 4403


async def test_a_bad_credential_is_closed_4403(live: Live, issuer: Issuer) -> None:
    for payload in (
        {"Authorization": f"Bearer {issuer.mint(exp=int(time.time()) - 120)}"},
        {"headers": {"authorization": f"Bearer {issuer.mint(aud='other')}"}},
        {"X-API-Key": "guessed"},
        {"Authorization": "Basic YTpi"},
    ):
        async with live.connect() as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
            assert await closed_with(ws) == 4403


async def test_no_operation_runs_before_the_credential(live: Live) -> None:
    async with live.connect() as ws:
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}}))
        assert await closed_with(ws) == 4401


@pytest.mark.parametrize("where", ["top", "headers"])
async def test_a_good_credential_names_the_connections_caller(live: Live, issuer: Issuer, where: str) -> None:
    credentials = {"Authorization": f"Bearer {issuer.mint(roles=['ADMIN'])}", "x-api-key": KIOSK_KEY}
    for name, value in credentials.items():
        payload = {name: value} if where == "top" else {"headers": {name: value}}
        async with live.connect() as ws:
            assert (await initialised(ws, payload))["type"] == "connection_ack"
            await ws.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }"}})
            )
            assert await receive(ws) == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"__typename": "Query"}},
            }
            assert (await receive(ws))["type"] == "complete"
        caller = live.contexts[-1].caller
        if name == "x-api-key":
            assert caller == Caller("site-kiosk", Role.TRAINEE, PersonRef.parse("ava.smith0@example.com"))
        else:
            assert (caller.role, caller.name) == (Role.ADMIN, "f3a1-trainee")


async def test_a_subscription_ends_when_its_token_expires(live: Live, issuer: Issuer) -> None:
    expires = int(time.time()) + 2
    async with live.connect() as ws:
        ack = await initialised(ws, {"Authorization": f"Bearer {issuer.mint(exp=expires)}"})
        assert ack["type"] == "connection_ack"
        query = "subscription { trainingEvents { type } }"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        assert await closed_with(ws) == 4403
    assert expires - 0.5 <= time.time() < expires + 3


async def test_an_api_key_connection_does_not_expire(live: Live) -> None:
    async with live.connect() as ws:
        assert (await initialised(ws, {"X-API-Key": ADMIN_KEY}))["type"] == "connection_ack"
        await ws.send(json.dumps({"type": "ping"}))
        assert await receive(ws) == {"type": "pong"}
    assert live.contexts[-1].caller.expires_at is None


async def test_the_older_protocol_is_refused_and_expires_too(live: Live, issuer: Issuer) -> None:
    legacy = Subprotocol("graphql-ws")
    async with live.connect(legacy) as ws:
        assert (await initialised(ws, {}))["type"] == "connection_error"
        assert await closed_with(ws) != 1000
    async with live.connect(legacy) as ws:
        token = issuer.mint(exp=int(time.time()) + 1)
        assert (await initialised(ws, {"Authorization": f"Bearer {token}"}))["type"] == "connection_ack"
        assert await closed_with(ws) == 4403


async def test_anonymous_connections_where_allowed(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    issuer: Issuer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**issuer.env(), "LEARNGRAPH_ALLOW_ANONYMOUS": "true"}
    async for live in live_gateway(sandbox, sandbox_transport, tmp_path, env, monkeypatch):
        async with live.connect() as ws:
            assert (await initialised(ws, None))["type"] == "connection_ack"
        assert live.contexts[-1].caller == Caller.anonymous_admin()
        async with live.connect() as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"X-API-Key": "guessed"}}))
            assert await closed_with(ws) == 4403
