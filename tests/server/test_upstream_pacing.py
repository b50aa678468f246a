"""A source's pace (LEARNGRAPH_<SOURCE>_MAX_RPS) end to end through GraphQL: a dashboard over the sandbox
is slowed to the pace and answered whole, and when the pace would take it past the request's deadline,
what could not be read in time is UPSTREAM_TIMEOUT while what was read stays in the answer."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway.sources import Source
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS
from tests.server.test_allowances import NESTED, errors_of, gateway_with


async def damstra_requests_for_the_dashboard(
    sandbox: Sandbox, transport: httpx.ASGITransport, tmp_path: Path
) -> tuple[dict[str, object], int]:
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, {}, transport) as unpaced:
        whole = await unpaced.data(NESTED)
    needed = len(sandbox.controls[Source.DAMSTRA].log.entries)
    sandbox.controls[Source.DAMSTRA].log.clear()
    return whole, needed


async def test_a_paced_dashboard_is_answered_whole_at_the_pace(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    whole, needed = await damstra_requests_for_the_dashboard(sandbox, sandbox_transport, tmp_path)
    assert needed >= 10
    rps = 4 * needed  # the dashboard's requests spread over about a quarter of a second
    env = {"LEARNGRAPH_DAMSTRA_MAX_RPS": str(rps)}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, sandbox_transport) as paced:
        started = time.monotonic()
        assert await paced.data(NESTED) == whole  # none of its requests failed for the pace
        elapsed = time.monotonic() - started
    # Answers spread out batch a little differently (a lesson asked for in a wave of its own), so the
    # count may differ from the unpaced run's; each of them waited its turn.
    sent = len(sandbox.controls[Source.DAMSTRA].log.entries)
    assert elapsed >= (sent - 1) / rps - 0.05


async def test_a_pace_past_the_deadline_answers_upstream_timeout_and_keeps_what_was_read(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> None:
    whole, needed = await damstra_requests_for_the_dashboard(sandbox, sandbox_transport, tmp_path)
    # Five requests a second and a one-second deadline: about five of the dashboard's go, the rest
    # would wait past the deadline and are refused at once.
    env = {"LEARNGRAPH_DAMSTRA_MAX_RPS": "5", "LEARNGRAPH_REQUEST_DEADLINE_SECONDS": "1"}
    async with gateway_with(sandbox, IN_PROCESS, tmp_path, env, sandbox_transport) as paced:
        started = time.monotonic()
        body = await paced.query(NESTED)
        elapsed = time.monotonic() - started
    assert errors_of(body) == {("UPSTREAM_TIMEOUT", "DAMSTRA")}
    sent = len(sandbox.controls[Source.DAMSTRA].log.entries)
    assert 1 <= sent <= 6 < needed
    assert elapsed < 2.5  # not held past the deadline (and its loaded-machine slack)
    # The groups were read before the pace ran out: they are in the answer as the unpaced one has them.
    groups = body["data"]["groups"]["edges"]
    assert [edge["node"]["name"] for edge in groups] == [
        edge["node"]["name"]
        for edge in whole["groups"]["edges"]  # type: ignore[index]
    ]
