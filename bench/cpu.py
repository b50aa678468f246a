"""The gateway's CPU per operation, measured in one process: the A/B tool for CPU work.

    python -m bench.cpu --ops Q1,Q4 -n 40               # CPU ms per op, median of --rounds rounds
    python -m bench.cpu --ops Q1 -n 40 --profile 25     # and cProfile's top 25 (by own time)

Starts `learngraph sandbox` (as `make bench` does: its own process, 20 ms per upstream request), then
runs the gateway's ASGI app in this process, lifespan and middleware included, and drives it with
requests made in-process (an ADMIN API key, as the bench sends): no uvicorn, no load generator, so
the process's CPU time is the gateway's own work, and a busy machine slows it less than it skews
wall-clock figures. Each round runs `n` operations one after another (or `--concurrency` at once)
and reads `time.process_time()` around them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.operations import Operation, build_operations, check_graphql, check_schedule_lessons
from bench.processes import AdminKey, Sandbox
from sandbox.world import build_world


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--ops", default="Q1,Q2,Q3,Q4")
    parser.add_argument("-n", type=int, default=30, help="operations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--profile", type=int, default=0, help="cProfile one more round: top N lines")
    parser.add_argument("--sort", default="tottime", help="pstats sort key for --profile")
    parser.add_argument("--profile-out", help="also write the profile's stats to this file (pstats)")
    parser.add_argument(
        "--cpu-clock",
        action="store_true",
        help="profile by the process's CPU time (wall time counts a wait for the CPU as the call's own)",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the gateway's settings (repeatable)"
    )
    return parser.parse_args(argv)


class Driver:
    """Requests straight into an ASGI app: the bytes uvicorn would hand it, the answer collected."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def post(self, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *self.headers,
            ],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        gone = asyncio.Event()
        status, chunks = 0, []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        try:
            await self.app(scope, receive, send)
        finally:
            gone.set()
        return status, b"".join(chunks)


async def run_round(driver: Driver, op: Operation, n: int, concurrency: int, start: int) -> float:
    check = check_schedule_lessons if op.mutation_field else check_graphql
    counter = iter(range(start, start + n))

    async def worker() -> None:
        for i in counter:
            status, content = await driver.post(op.body(i))
            problem = check(content) if status == 200 else f"HTTP {status}"
            if problem is not None:
                raise RuntimeError(f"{op.key}: {problem}: {content[:300]!r}")

    began = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - began) * 1000 / n


async def main_async(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="learngraph-cpu-"))
    print(f"bench.cpu: starting the sandbox ({args.people} people); logs in {workdir}", flush=True)
    sandbox = Sandbox.start(
        workdir, people=args.people, seed=args.seed, latency_ms=args.latency_ms, cpus=None
    )
    key = AdminKey.write(workdir)
    try:
        env = sandbox.gateway_env(8000, key)  # no port is opened
        for item in args.env:
            name, _, value = item.partition("=")
            env[name] = value
        os.environ.update(env)
        from gateway.server.app import create_app  # after the environment is set
        from gateway.settings import load_settings

        app = create_app(load_settings())
        world = build_world(people=args.people, seed=args.seed)
        ops = [op for op in build_operations(world) if op.key in args.ops.upper().split(",")]
        async with app.router.lifespan_context(app):
            driver = Driver(app, key.headers)
            counter = 0
            for op in ops:
                await run_round(driver, op, max(3, args.n // 5), args.concurrency, counter)  # warm
                counter += args.n
                rounds = []
                for _ in range(args.rounds):
                    rounds.append(await run_round(driver, op, args.n, args.concurrency, counter))
                    counter += args.n
                spread = f"{min(rounds):.3f}-{max(rounds):.3f}"
                print(
                    f"{op.key}: {statistics.median(rounds):.3f} ms CPU/op (median of {args.rounds} rounds "
                    f"of {args.n}, range {spread}, concurrency {args.concurrency})",
                    flush=True,
                )
                if args.profile:
                    profiler = cProfile.Profile(time.process_time) if args.cpu_clock else cProfile.Profile()
                    profiler.enable()
                    await run_round(driver, op, args.n, args.concurrency, counter)
                    profiler.disable()
                    counter += args.n
                    out = io.StringIO()
                    if args.profile_out:
                        profiler.dump_stats(args.profile_out)
                    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.profile)
                    print(out.getvalue())
    finally:
        sandbox.server.stop()


def main(argv: list[str] | None = None) -> int:
    import uvloop  # uvicorn's loop, as `learngraph serve` runs it

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main_async(parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
