"""Issue 13's attacks, bounded: each is refused in under 50 ms of gateway time, before any upstream
request (counted from the sandbox's request logs), and the gateway answers normally right after."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import AS_ADMIN, IN_PROCESS

REFUSED_WITHIN_SECONDS = 0.050
USER = "VXNlcjpkYW1zdHJhOjEwMDAw"


def nested(levels: int) -> str:
    inner = "{ groups { members(first: 20) { edges { node " * levels + "{ fullName }" + " } } } }" * levels
    return f'{{ user(id: "{USER}") {inner} }}'


def body(query: str) -> bytes:
    return orjson.dumps({"query": query})


# (the attack, its body, the status and code it is refused with)
ATTACKS = {
    "5,000 aliases of completions(first: 1000)": (
        body(
            "{ "
            + " ".join(f"a{n}: completions(first: 1000) {{ edges {{ node {{ id }} }} }}" for n in range(5000))
            + " }"
        ),
        400,
        "LIMIT_EXCEEDED",
    ),
    "30 aliases of a company's completions": (
        body(
            "{ "
            + " ".join(f"a{n}: completions(first: 1000) {{ edges {{ cursor }} }}" for n in range(30))
            + " }"
        ),
        400,
        "LIMIT_EXCEEDED",
    ),
    "user → groups → members nested 4 deep": (body(nested(4)), 400, "LIMIT_EXCEEDED"),
    "user → groups → members nested 12 deep": (body(nested(12)), 400, "LIMIT_EXCEEDED"),
    "user → groups → members nested 3 deep": (body(nested(3)), 400, "COST_LIMIT_EXCEEDED"),
    "fan-out: 1,000 people's schedules and their lessons": (
        body(
            "{ users(first: 1000) { edges { node { schedules { edges { node { lesson { name } } } } } } } }"
        ),
        400,
        "COST_LIMIT_EXCEEDED",
    ),
    "fan-out: 100 groups × 100 members × their completions": (
        body(
            "{ groups(first: 100) { edges { node { members(first: 100) { edges { node { "
            "completions(first: 100) { edges { node { lesson { name } } } } } } } } } } }"
        ),
        400,
        "COST_LIMIT_EXCEEDED",
    ),
    "50k __typename aliases in 0.9 MB": (
        body("{ " + " ".join(f"a{n}: __typename" for n in range(50_000)) + " }"),
        400,
        "LIMIT_EXCEEDED",
    ),
    "402k __typename aliases in 5 MB": (
        body("{ " + " ".join(f"t{n:06}: __typename" for n in range(402_000)) + " }")[: 5 * 1024 * 1024],
        413,
        "REQUEST_TOO_LARGE",
    ),
    "a 20 MB body": (
        b'{"query": "{ __typename }", "x": "' + b"x" * (20 * 1024 * 1024) + b'"}',
        413,
        "REQUEST_TOO_LARGE",
    ),
}


@dataclass
class Timed:
    """The gateway's ASGI app, each request's time inside it recorded."""

    app: ASGIApp
    seconds: list[float] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.seconds.append(time.perf_counter() - started)


@dataclass
class Target:
    http: httpx.AsyncClient
    timed: Timed
    sandbox: Sandbox

    def upstream_requests(self) -> int:
        return sum(len(self.sandbox.controls[s].log.entries) for s in Source)


@pytest.fixture
async def target(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Target]:
    from gateway.server.app import build_services, create_app
    from gateway.settings import load_settings

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {**sandbox.gateway_env(IN_PROCESS, identity), **AS_ADMIN, **getattr(request, "param", {})}
    settings = load_settings(env)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    timed = Timed(create_app(settings, services=services))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=timed), base_url="http://gateway.test"
    ) as http:
        yield Target(http, timed, sandbox)
    await services.upstreams.aclose()


@pytest.mark.parametrize(
    "target", [{}, {"LEARNGRAPH_FAST_PATHS": "false"}], ids=["fast-paths", "strawberry-only"], indirect=True
)
@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_the_attack_is_refused_quickly_before_any_upstream_request(target: Target, attack: str) -> None:
    content, status, code = ATTACKS[attack]
    warm = await target.http.post(
        "/graphql", json={"query": "{ __typename }"}
    )  # imports, caches: once a process
    assert warm.status_code == 200
    target.timed.seconds.clear()
    for _ in range(2):  # the first sight of a text and the cached one
        response = await target.http.post(
            "/graphql", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == status, response.text[:300]
        assert response.json()["errors"][0]["extensions"]["code"] == code
    assert max(target.timed.seconds) < REFUSED_WITHIN_SECONDS, target.timed.seconds
    assert target.upstream_requests() == 0
    after = await target.http.post("/graphql", json={"query": "{ groups(first: 1) { totalCount } }"})
    assert after.status_code == 200 and after.json()["data"]["groups"]["totalCount"] > 0


async def test_over_a_socket_a_declared_20_mb_body_is_refused_before_it_is_sent(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    # The 20 MB body stalled the event loop for 6 s; the answer must come before the body.
    from gateway.server.app import build_services, create_app
    from gateway.settings import load_settings

    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    settings = load_settings({**sandbox.gateway_env(IN_PROCESS, identity), **AS_ADMIN})
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    async with serve_on_loopback(create_app(settings, services=services)) as address:
        host, port = address.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        started = time.perf_counter()
        writer.write(
            b"POST /graphql HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
            + f"content-length: {20 * 1024 * 1024}\r\n\r\n".encode()
            + b'{"query": "{ __typename }", "x": "'
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        elapsed = time.perf_counter() - started
        writer.close()
    await services.upstreams.aclose()
    assert status.startswith(b"HTTP/1.1 413"), status
    assert elapsed < 1.0
    assert sum(len(sandbox.controls[s].log.entries) for s in Source) == 0
