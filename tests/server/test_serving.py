"""`learngraph serve` as an operator runs it: several workers on one port (with Redis, never without),
and the graceful drain on SIGTERM (requests in flight finish, subscriptions are told to reconnect)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.redis_server import RedisServer
from tests.server.processes import (
    BASE_ENV,
    REPO,
    Process,
    reset_sandbox_stats,
    sandbox_writes,
    start_gateway,
    start_sandbox,
)
from tests.server.test_replicas import SCHEDULE, TAKEN, USER_ID

NAME_QUERY = '{ user(id: "VXNlcjpkYW1zdHJhOjEwMDAz") { firstName } }'


@pytest.mark.parametrize("how", [["--workers", "2"], []])
def test_several_workers_without_redis_refuse_to_start(how: list[str]) -> None:
    env = {**BASE_ENV, "LEARNGRAPH_ALLOW_ANONYMOUS": "true"}
    if not how:
        env["LEARNGRAPH_WORKERS"] = "3"
    ran = subprocess.run(
        [sys.executable, "-m", "gateway.server.cli", "serve", *how],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 2
    assert "workers need LEARNGRAPH_REDIS_URL" in ran.stderr
    assert "idempotencyKey could write twice" in ran.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    # Slow upstreams: a request is still in flight when the gateway is told to stop.
    started = start_sandbox(tmp_path_factory.mktemp("serving"), "--latency-ms", "400")
    yield started
    started.stop()


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return [int(child) for child in listing.read().split()]


def test_two_workers_share_the_port_and_one_redis(
    sandbox: Process, redis_server: RedisServer, tmp_path: Path
) -> None:
    if redis_server.process is None:
        redis_server.restart()
    gateway = start_gateway(
        tmp_path, "workers", sandbox, {"LEARNGRAPH_REDIS_URL": redis_server.url}, args=("--workers", "2")
    )
    try:
        # uvicorn's supervisor, and two workers under it (multiprocessing adds a resource tracker).
        workers = [
            pid
            for pid in children(gateway.process.pid)
            if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        assert len(workers) == 2
        data = gateway.post(TAKEN, {"id": USER_ID})
        taken = {e["node"]["lesson"]["id"] for e in data["user"]["schedules"]["edges"] if e["node"]["lesson"]}
        lesson = next(e["node"]["id"] for e in data["lessons"]["edges"] if e["node"]["id"] not in taken)
        input_value = {"userId": USER_ID, "lessonIds": [lesson], "idempotencyKey": "workers-1"}
        reset_sandbox_stats(sandbox)
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda _: gateway.post(SCHEDULE, {"input": input_value}), range(6)))
        assert all(answer == answers[0] for answer in answers)
        assert sandbox_writes(sandbox) == {"POST /user/{id}/lesson_schedule": 1}
        # Metrics in prometheus-client's multiprocess mode: one directory, every worker's values.
        dirs = {
            entry
            for pid in workers
            for entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if entry.startswith(b"PROMETHEUS_MULTIPROC_DIR=")
        }
        assert len(dirs) == 1
        metrics = httpx.get(f"{gateway.address}/metrics", timeout=10)
        assert metrics.status_code == 200 and "learngraph_requests_in_flight" in metrics.text
    finally:
        gateway.stop()
    assert gateway.process.returncode is not None


async def test_sigterm_finishes_what_is_in_flight_and_sends_subscribers_elsewhere(
    sandbox: Process, tmp_path: Path
) -> None:
    gateway = start_gateway(tmp_path, "draining", sandbox, {})
    try:
        url = gateway.address.replace("http://", "ws://") + "/graphql"
        async with (
            connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws,
            httpx.AsyncClient(base_url=gateway.address, timeout=30) as http,
        ):
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            subscribe = {"query": "subscription { trainingEvents { type } }"}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": subscribe}))
            in_flight = asyncio.ensure_future(http.post("/graphql", json={"query": NAME_QUERY}))
            await asyncio.sleep(0.2)  # the request reached the gateway and waits on the slow upstream
            started = time.monotonic()
            gateway.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            # 1012 Service Restart: a client reconnects, and the load balancer sends it to another replica.
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
            answer = await in_flight
            assert answer.status_code == 200 and answer.json()["data"]["user"]["firstName"]
        # No new connections meanwhile, and the process ends once its work is done.
        await asyncio.to_thread(gateway.process.wait, 20)
        assert time.monotonic() - started < 15
        async with httpx.AsyncClient() as late:
            with pytest.raises(httpx.TransportError):
                await late.get(f"{gateway.address}/healthz", timeout=2)
    finally:
        gateway.stop(signal.SIGKILL)
