"""Who syncs: with several replicas, exactly one holds the sync lock at a time; the others serve.

    lock = RedisSyncLock.from_url("redis://redis:6379/0", ttl_seconds=30)
    if await lock.acquire():        # tried once, never waits
        while await lock.renew():   # every ttl/3; False once it is lost (Redis away past the TTL)
            ...
        await lock.release()

- `RedisSyncLock`: redis-py's `Lock` (SET NX PX with a token, renewed by `reacquire`). A holder that
  dies stops renewing and the key expires after the TTL: another replica takes over.
- `PostgresAdvisoryLock`: `pg_try_advisory_lock` on a connection kept open while held; PostgreSQL
  frees it when that connection ends, so a dead holder's lock goes with its connection.
- `ProcessLock`: one process with SQLite has no one to share with: it always holds.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError, RedisError

log = logging.getLogger("gateway.index.lock")

LOCK_NAME = "{learngraph}:index-sync"
# Any 64-bit number that names "LearnGraph's index sync" among the advisory locks of one database.
ADVISORY_KEY = 0x4C4752_5359_4E43  # "LGR" "SY" "NC"
FAILURES: tuple[type[Exception], ...] = (RedisError, LockError, OSError)


class SyncLock(Protocol):
    ttl_seconds: float

    async def acquire(self) -> bool:
        """Take the lock if no one holds it; never waits."""
        ...

    async def renew(self) -> bool:
        """Keep holding it; False once it is lost."""
        ...

    async def release(self) -> None: ...

    async def aclose(self) -> None: ...


class ProcessLock:
    """The lock of a gateway that is alone with its index (SQLite): always held."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds

    async def acquire(self) -> bool:
        return True

    async def renew(self) -> bool:
        return True

    async def release(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisSyncLock:
    def __init__(self, client: Redis, ttl_seconds: float = 30.0, *, own_client: bool = False) -> None:
        self.ttl_seconds = ttl_seconds
        self._client = client
        self._own_client = own_client
        # thread_local=False: the token is the lock's, whichever task renews it.
        self._lock = Lock(client, LOCK_NAME, timeout=ttl_seconds, blocking=False, thread_local=False)

    @classmethod
    def from_url(cls, url: str, ttl_seconds: float = 30.0) -> RedisSyncLock:
        client = Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=5.0)
        return cls(client, ttl_seconds, own_client=True)

    async def acquire(self) -> bool:
        try:
            return bool(await self._lock.acquire(blocking=False))
        except FAILURES as exc:
            log.warning("cannot reach Redis for the index sync lock: %s", type(exc).__name__)
            return False

    async def renew(self) -> bool:
        try:
            await self._lock.reacquire()
        except FAILURES as exc:
            log.warning("the index sync lock was lost (%s): this replica stops syncing", type(exc).__name__)
            return False
        return True

    async def release(self) -> None:
        with contextlib.suppress(*FAILURES):  # expired or taken over already: nothing to give back
            await self._lock.release()

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()


class PostgresAdvisoryLock:
    """A session-level advisory lock held on a connection of its own, taken from `engine` (an async
    SQLAlchemy engine on PostgreSQL)."""

    def __init__(self, engine: Any, ttl_seconds: float = 30.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._engine = engine
        self._connection: Any = None

    async def acquire(self) -> bool:
        from sqlalchemy import text

        try:
            connection = await self._engine.connect()
        except Exception as exc:  # the database away: try again later
            log.warning("cannot reach PostgreSQL for the index sync lock: %s", type(exc).__name__)
            return False
        try:
            held = (await connection.execute(text(f"SELECT pg_try_advisory_lock({ADVISORY_KEY})"))).scalar()
            await connection.commit()
        except Exception:
            await connection.close()
            return False
        if not held:
            await connection.close()
            return False
        self._connection = connection
        return True

    async def renew(self) -> bool:
        from sqlalchemy import text

        if self._connection is None:
            return False
        try:
            # The lock lives as long as this connection: a query that answers says it still does.
            await self._connection.execute(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            await self._forget()
            return False
        return True

    async def release(self) -> None:
        from sqlalchemy import text

        if self._connection is None:
            return
        try:
            await self._connection.execute(text(f"SELECT pg_advisory_unlock({ADVISORY_KEY})"))
            await self._connection.commit()
        except Exception:
            pass  # closing the connection frees it anyway
        await self._forget()

    async def _forget(self) -> None:
        connection, self._connection = self._connection, None
        with contextlib.suppress(Exception):
            await connection.close()

    async def aclose(self) -> None:
        await self.release()


def choose_lock(redis_url: str | None, engine: Any, ttl_seconds: float) -> SyncLock:
    """Redis's lock when there is Redis; else PostgreSQL's advisory lock when the index is PostgreSQL
    (every replica shares it); else this process alone syncs its SQLite file."""
    if redis_url:
        return RedisSyncLock.from_url(redis_url, ttl_seconds)
    if engine is not None and engine.dialect.name == "postgresql":
        return PostgresAdvisoryLock(engine, ttl_seconds)
    return ProcessLock(ttl_seconds)
