"""The training index's sync measured: backfill time and upstream requests, and webhook-to-index lag.

    python -m bench.index_sync --people 5000 --latency-ms 20

Builds the sandbox world in-process (each upstream request waits `--latency-ms`, as a vendor's would),
runs the backfill of all four sources into a fresh SQLite index as `serve` does (each source's loop at
once, the default settings: the sync's own concurrency, the connectors' pace), then changes DAMSTRA schedules one at a time, posts the
matching webhook to the gateway and times until the index holds the change. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.index.progress import SourceProgress
from gateway.index.rows import Kind
from gateway.index.store import TrainingIndex
from gateway.index.syncer import IndexSyncer
from gateway.server.app import build_services, create_app
from gateway.server.index_sync import learninglogin_logins
from gateway.settings import load_settings
from gateway.sources import Source
from sandbox.server import Sandbox

SECRET = "bench-webhook-secret"


async def measure(people: int, latency_ms: float, webhooks: int) -> dict[str, Any]:
    sandbox = Sandbox.build(people=people, seed=7)
    for controls in sandbox.controls.values():
        controls.faults.latency_ms = latency_ms
    transport = httpx.ASGITransport(app=sandbox.asgi_app())
    with tempfile.TemporaryDirectory() as workdir:
        path = Path(workdir) / "index.db"
        # The identity file, as a deployment has one: LearningLogin's sessions are read per login it links.
        identity = sandbox.write_identity_file(Path(workdir) / "identity.yaml")
        env = {
            **sandbox.gateway_env("http://sandbox.bench", identity),
            "LEARNGRAPH_ALLOW_ANONYMOUS": "true",
            "LEARNGRAPH_WEBHOOK_SECRET": SECRET,
            "LEARNGRAPH_INDEX_PATH": str(path),
        }
        settings = load_settings(env)
        services = build_services(settings, transports=dict.fromkeys(Source, transport))
        index = await TrainingIndex.open(f"sqlite+aiosqlite:///{path}")
        syncer = IndexSyncer.for_index(
            index, services.upstreams, settings, lambda: learninglogin_logins(services.directory)
        )
        services.sync = syncer
        for controls in sandbox.controls.values():
            controls.log.clear()
        started = time.perf_counter()
        await syncer.start()  # the sync as `serve` runs it: every source's loop at once
        await until_live(syncer)
        backfill_seconds = time.perf_counter() - started
        requests = {s.name: len(sandbox.controls[s].log.entries) for s in Source if s in syncer.feeds}
        rows = {s.name: sum((await syncer.sink.row_counts(s)).values()) for s in syncer.enabled}
        app = create_app(settings, services=services)
        lags = await webhook_lags(sandbox, app, syncer, index, webhooks)
        size = index_size(Path(workdir))
        await syncer.stop()
        await index.close()
        await services.upstreams.aclose()
    return {
        "people": people,
        "latency_ms": latency_ms,
        "concurrency": settings.index_sync_concurrency,
        "backfill_seconds": round(backfill_seconds, 2),
        "upstream_requests": requests,
        "upstream_requests_total": sum(requests.values()),
        "rows": rows,
        "index_bytes": size,
        "webhook_to_index_ms": {
            "p50": round(statistics.median(lags) * 1000, 1),
            "max": round(max(lags) * 1000, 1),
            "n": len(lags),
        },
    }


async def until_live(syncer: IndexSyncer) -> None:
    while True:
        states = [SourceProgress.from_json(await syncer.sink.load_progress(s)) for s in syncer.enabled]
        if all(p.live for p in states):
            return
        await asyncio.sleep(0.1)


def index_size(workdir: Path) -> int:
    """The SQLite file with its write-ahead log."""
    return sum(p.stat().st_size for p in workdir.glob("index.db*"))


async def webhook_lags(
    sandbox: Sandbox, app: Any, syncer: IndexSyncer, index: TrainingIndex, n: int
) -> list[float]:
    """Completes `n` open schedules upstream, one at a time, each followed by its webhook; the time from
    the post to the completion row being in the index."""
    world = sandbox.world.damstra
    open_schedules = [s for s in world.schedules.values() if s.status in ("due", "overdue")][:n]
    lags = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for schedule in open_schedules:
            schedule.status, schedule.completed, schedule.passed = "completed", datetime.now(UTC), True
            body = {
                "name": "lesson.schedule.completed",
                "lessonScheduleId": str(schedule.id),
                "userId": str(schedule.user_id),
                "timeStamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
            started = time.perf_counter()
            answer = await http.post(
                "/webhooks/damstra", json=body, headers={"X-LearnGraph-Webhook-Secret": SECRET}
            )
            assert answer.status_code == 202, answer.text
            while await index.get(Kind.COMPLETIONS, Source.DAMSTRA, str(schedule.id)) is None:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started)
    await syncer.freshen.settle()
    return lags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--webhooks", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(measure(args.people, args.latency_ms, args.webhooks))
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
