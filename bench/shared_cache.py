"""What Redis adds to a cached read: the two designs of issue 14, measured side by side.

    python -m bench.shared_cache            # needs redis-server on PATH (it starts its own)

1. local entries + invalidation broadcast (what LearnGraph does): a hit is a dictionary lookup, with or
   without Redis; only invalidations travel.
2. shared values in Redis: every hit is a round trip and a decode (one GET per entry, or one MGET per
   batch of a loader).
Then end to end: an in-process gateway over the sandbox answering a cached query, without Redis and
with it (the first design in place).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import httpx
import orjson
from redis.asyncio import Redis as RedisClient

from bench.processes import Redis
from gateway.data.cache import MISSING, EntityCache
from gateway.data.shared.invalidation import share_invalidations
from gateway.data.shared.link import RedisLink
from gateway.settings import Settings, load_settings
from gateway.sources import Source
from gateway.upstreams.damstra.records import DamstraUser
from sandbox.server import Sandbox

USER = {
    "id": 10003,
    "userName": "ann.example",
    "firstName": "Ann",
    "lastName": "Example",
    "emailAddress": "ann@example.com",
    "employeeNumber": "E-10003",
    "clientStatusId": 1,
    "active": True,
    "groups": [201, 202, 203],
    "groupsSupervised": [],
    "roles": [1],
    "timeZone": "Australia/Sydney",
    "createdDate": "2024-01-02T03:04:05Z",
    "modifiedDate": "2026-10-02T03:04:05Z",
}
QUERY = orjson.dumps(
    {"query": '{ user(id: "VXNlcjpkYW1zdHJhOjEwMDAz") { firstName lastName email groups { name } } }'}
)
JSON = {"content-type": "application/json"}


async def ask(http: httpx.AsyncClient) -> object:
    answer = await http.post("/graphql", content=QUERY, headers=JSON)
    assert answer.status_code == 200 and b"errors" not in answer.content, answer.text
    return answer


def per_op_us(run: Callable[[], None], n: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            run()
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


async def per_op_us_async(run: Callable[[], Awaitable[object]], n: int) -> float:
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            await run()
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


async def reads(url: str) -> dict[str, float]:
    user = DamstraUser.model_validate(USER)
    local = EntityCache(Settings())
    local.set("user", "scope", "10003", user)
    out = {"local hit (no Redis)": per_op_us(lambda: local.get("user", "scope", "10003"), 200_000)}
    link = RedisLink.from_url(url)
    shared = EntityCache(Settings())
    share_invalidations(shared, link)
    await link.start()
    shared.set("user", "scope", "10003", user)
    out["local hit, invalidations through Redis"] = per_op_us(
        lambda: shared.get("user", "scope", "10003"), 200_000
    )
    await link.aclose()

    client = RedisClient.from_url(url)
    wire = user.model_dump_json(by_alias=True)
    await client.set("user:10003", wire)
    await client.mset({f"user:{n}": wire for n in range(50)})

    async def one() -> object:
        return DamstraUser.model_validate_json(cast(bytes, await client.get("user:10003")))

    async def batch_of_50() -> object:
        values = cast(list[bytes], await client.mget([f"user:{n}" for n in range(50)]))
        return [DamstraUser.model_validate_json(value) for value in values]

    out["shared value: GET + decode"] = await per_op_us_async(one, 3_000)
    out["shared value: MGET of 50 + decode, per entry"] = await per_op_us_async(batch_of_50, 300) / 50
    await client.aclose()
    return out


async def propagation(url: str, rounds: int = 300) -> dict[str, float]:
    """From a write's answer (its drops flushed to Redis) to the drop applied by another replica (here a
    second link in this process: the same loopback hop, without a second process's scheduling)."""
    a, b = RedisLink.from_url(url), RedisLink.from_url(url)
    at_a, at_b = EntityCache(Settings()), EntityCache(Settings())
    share_invalidations(at_a, a)
    share_invalidations(at_b, b)
    await a.start()
    await b.start()
    waits = []
    for n in range(rounds):
        at_b.set("user", "scope", str(n), "cached")
        at_a.invalidate("user", "scope", str(n))
        await a.flush()
        flushed = time.perf_counter()
        while at_b.get("user", "scope", str(n)) is not MISSING:  # noqa: ASYNC110 (B's reader task drops it)
            await asyncio.sleep(0)
        waits.append((time.perf_counter() - flushed) * 1e6)
    await a.aclose()
    await b.aclose()
    waits.sort()
    return {
        "drop applied on another replica after the flush, p50": waits[len(waits) // 2],
        "drop applied on another replica after the flush, p99": waits[int(len(waits) * 0.99)],
    }


async def end_to_end(url: str, workdir: Path) -> dict[str, float]:
    from gateway.server.app import build_services, create_app

    sandbox = Sandbox.build(people=200, seed=7)
    identity = sandbox.write_identity_file(workdir / "identity.yaml")
    transport = httpx.ASGITransport(app=sandbox.asgi_app())
    out = {}
    for label, extra in (("without Redis", {}), ("with Redis", {"LEARNGRAPH_REDIS_URL": url})):
        env = {
            **sandbox.gateway_env("http://sandbox.test", identity),
            "LEARNGRAPH_ALLOW_ANONYMOUS": "true",
            **extra,
        }
        settings = load_settings(env)
        services = build_services(settings, transports={source: transport for source in Source})
        app = create_app(settings, services=services)
        if services.shared is not None:
            await services.shared.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://g.test"
        ) as http:
            await ask(http)  # the cache is warm from here
            sandbox.controls[Source.DAMSTRA].log.clear()
            out[f"cached query, {label}"] = await per_op_us_async(functools.partial(ask, http), 400)
            assert sandbox.controls[Source.DAMSTRA].log.count() == 0, "not answered from the cache"
        await services.upstreams.aclose()
        if services.shared is not None:
            await services.shared.aclose()
    return out


async def main_async() -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="learngraph-shared-cache-"))
    redis = Redis.start(workdir)
    try:
        return {
            **await reads(redis.url),
            **await propagation(redis.url),
            **await end_to_end(redis.url, workdir),
        }
    finally:
        redis.stop()


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m bench.shared_cache", description=__doc__.splitlines()[0]
    ).parse_args(argv)
    for name, us in asyncio.run(main_async()).items():
        print(f"{name:<48} {us:10.2f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
