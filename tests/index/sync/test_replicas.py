"""Several replicas over one index: exactly one syncs (a lock in Redis, or PostgreSQL's advisory lock
when there is no Redis); the others serve; when the holder stops or dies, another takes over."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.index.lock import PostgresAdvisoryLock, RedisSyncLock
from gateway.index.store import TrainingIndex
from gateway.server.index_sync import RunningSync, start_index_sync
from sandbox.server import Sandbox
from tests.conftest import IN_PROCESS, Gateway, _serve_gateway

TTL = "1"


def index_env(index_url: str) -> dict[str, str]:
    if index_url.startswith("sqlite"):
        return {"LEARNGRAPH_INDEX_PATH": index_url.split(":///", 1)[1]}
    return {"LEARNGRAPH_INDEX_URL": index_url}


async def until(check: Callable[[], bool], seconds: float = 10.0) -> float:
    started = time.perf_counter()
    while not check():
        assert time.perf_counter() - started < seconds, "not in time"
        await asyncio.sleep(0.02)
    return time.perf_counter() - started


@contextlib.asynccontextmanager
async def replica(
    sandbox: Sandbox, transport: httpx.ASGITransport, identity: Path, env: dict[str, str]
) -> AsyncIterator[tuple[Gateway, RunningSync]]:
    async for gateway in _serve_gateway(sandbox, IN_PROCESS, identity, transport, env):
        # As the lifespan does: the index opened, then its sync started.
        gateway.services.index = await TrainingIndex.from_settings(gateway.services.settings)
        running = await start_index_sync(gateway.services)
        assert running is not None
        try:
            yield gateway, running
        finally:
            await running.aclose()
            await running.index.close()


async def run_two_replicas(
    sandbox: Sandbox, transport: httpx.ASGITransport, tmp_path: Path, env: dict[str, str]
) -> None:
    identity = sandbox.write_identity_file(tmp_path / "identity.yaml")
    env = {**env, "LEARNGRAPH_INDEX_LOCK_TTL_SECONDS": TTL}
    async with asyncio.timeout(120):  # a hang is a failure, with where it hung
        await two_replicas(sandbox, transport, identity, env)


async def two_replicas(
    sandbox: Sandbox, transport: httpx.ASGITransport, identity: Path, env: dict[str, str]
) -> None:
    async with replica(sandbox, transport, identity, env) as (first_gateway, first):
        await until(lambda: first.syncer.leading)
        async with replica(sandbox, transport, identity, env) as (second_gateway, second):
            # The first holds the lock: the second serves and does not sync.
            await until(lambda: all(n > 0 for n in first.syncer.passes_done.values()), 60)
            await asyncio.sleep(float(TTL))
            assert not second.syncer.leading
            assert set(second.syncer.passes_done.values()) == {0}
            # Both answer the same status, from the shared index.
            query = "{ syncStatus { source state rows } }"
            assert await first_gateway.data(query) == await second_gateway.data(query)
            states = {s["state"] for s in (await second_gateway.data(query))["syncStatus"]}
            assert states == {"LIVE"}

            await first.aclose()  # the first replica stops: the second takes over
            took = await until(lambda: second.syncer.leading)
            assert took <= 2 * float(TTL)


async def test_two_replicas_on_one_redis_sync_one_at_a_time(
    sandbox: Sandbox,
    sandbox_transport: httpx.ASGITransport,
    tmp_path: Path,
    redis_url: str,
    index_url: str,
) -> None:
    env = {**index_env(index_url), "LEARNGRAPH_REDIS_URL": redis_url}
    await run_two_replicas(sandbox, sandbox_transport, tmp_path, env)


async def test_two_replicas_on_one_postgresql_without_redis_sync_one_at_a_time(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path, index_url: str
) -> None:
    if not index_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's advisory lock: a SQLite index has one replica")
    await run_two_replicas(sandbox, sandbox_transport, tmp_path, index_env(index_url))


async def test_a_dead_holders_redis_lock_expires_and_another_takes_it(redis_url: str) -> None:
    dead = RedisSyncLock.from_url(redis_url, ttl_seconds=1)
    alive = RedisSyncLock.from_url(redis_url, ttl_seconds=1)
    try:
        assert await dead.acquire()
        assert not await alive.acquire()
        # The holder dies: it renews no more. Within the TTL the lock is still its.
        await asyncio.sleep(0.5)
        assert not await alive.acquire()
        await asyncio.sleep(0.7)
        assert await alive.acquire()
        assert not await dead.renew()  # the dead one, back, finds it lost
        assert await alive.renew()
    finally:
        await alive.release()
        await dead.aclose()
        await alive.aclose()


async def test_a_dead_holders_advisory_lock_goes_with_its_connection(index_url: str) -> None:
    if not index_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's advisory lock")
    engine_dead = create_async_engine(index_url)
    engine_alive = create_async_engine(index_url)
    dead = PostgresAdvisoryLock(engine_dead)
    alive = PostgresAdvisoryLock(engine_alive)
    try:
        assert await dead.acquire()
        assert not await alive.acquire()
        await engine_dead.dispose(close=False)  # the process is gone: so is its connection
        connection = dead._connection
        assert connection is not None
        await connection.invalidate()
        assert await alive.acquire()
        assert await alive.renew()
    finally:
        await alive.release()
        await engine_alive.dispose()
        await engine_dead.dispose()
