"""Schemathesis over /graphql: queries and mutations generated from schema.graphql (its GraphQL support,
through hypothesis-graphql), sent to a gateway on a loopback socket over the seeded sandbox. No answer
may be a 5xx, and every error must carry an `extensions.code`. Bounded: a fixed number of examples and
a deadline each, so the run takes well under a minute."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import ANCHOR, AS_ADMIN

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = 200

schemathesis.graphql.scalar("Date", st.dates().map(lambda d: nodes.String(d.isoformat())))
schemathesis.graphql.scalar(
    "DateTime", st.datetimes(timezones=st.just(ANCHOR.tzinfo)).map(lambda d: nodes.String(d.isoformat()))
)
SCHEMA = schemathesis.graphql.from_path(ROOT / "schema.graphql")


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox and the gateway under uvicorn on loopback, in a thread of their own: schemathesis
    sends with `requests`, which would block a loop shared with the server."""
    started = threading.Event()
    stop = threading.Event()
    found: dict[str, Any] = {}

    async def serve() -> None:
        from gateway.server.app import create_app

        sandbox = Sandbox.build(people=50, seed=7, anchor=ANCHOR)
        identity = sandbox.write_identity_file(tmp_path_factory.mktemp("fuzz") / "identity.yaml")
        async with serve_on_loopback(sandbox.asgi_app()) as upstreams:
            env = {**sandbox.gateway_env(upstreams, identity), **AS_ADMIN}
            for source in Source:
                env[f"LEARNGRAPH_{source.slug.upper()}_TIMEOUT_SECONDS"] = "2"
            async with serve_on_loopback(create_app(load_settings(env))) as gateway:
                found["url"] = gateway
                started.set()
                while not stop.is_set():  # noqa: ASYNC110 (the test thread sets it; no loop of its own to await)
                    await asyncio.sleep(0.05)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced by the fixture below
            found["error"] = exc
            started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30), "the gateway did not start"
    if "error" in found:
        raise found["error"]
    yield found["url"]
    stop.set()
    thread.join(10)


@settings(
    max_examples=EXAMPLES,
    deadline=5_000,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    database=None,
)
@given(case=SCHEMA.as_strategy())
def test_no_generated_operation_gets_a_server_error(gateway_url: str, case: Any) -> None:
    response = case.call(base_url=f"{gateway_url}/graphql", timeout=10)
    assert response.status_code < 500, (case.body, response.text[:500])
    assert response.status_code in (200, 400), (case.body, response.status_code)  # a GraphQL answer
    with contextlib.suppress(ValueError):
        for error in response.json().get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            assert code and code != "INTERNAL_SERVER_ERROR", (case.body, error)


def test_the_fuzzed_gateway_still_answers(gateway_url: str) -> None:
    answer = httpx.post(
        f"{gateway_url}/graphql", json={"query": "{ groups(first: 1) { totalCount } }"}, timeout=10
    )
    assert answer.status_code == 200 and answer.json()["data"]["groups"]["totalCount"] > 0
