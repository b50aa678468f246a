"""`make bench`: what a dashboard user feels and what the upstreams pay (issue 6).

    python -m bench.run                          # the full run, a few minutes
    python -m bench.run --quick                  # a shortened run (about a minute and a half)
    python -m bench.run --ops Q1,Q4 --duration 5 --concurrency 1,8 --latency-ms 50

Starts `learngraph sandbox` (large world, fixed latency per upstream request), then for each
operation a fresh `learngraph serve` pointed at it, and drives it with a closed-loop load generator
that authenticates with an ADMIN API key (so the access checks are measured too).
Counts upstream requests through the sandbox's `/_sandbox/stats`, reads each server's CPU time from
/proc, measures a raw Starlette endpoint as the throughput reference, profiles each operation with
py-spy (gateway and sandbox), and writes bench/results/latest.{json,md} plus a dated copy.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import index as index_bench
from bench import machine, report
from bench.loadgen import BodyFactory, Check, Connection, Target, run_phase
from bench.operations import Operation, build_operations, check_graphql, check_schedule_lessons, count_leaves
from bench.processes import (
    HOST,
    AdminKey,
    Redis,
    Sandbox,
    Server,
    free_port,
    learngraph,
    machine_busy_seconds,
    wait_idle,
)
from bench.profiling import Profile, Recording, py_spy_path
from bench.wrk import run_wrk, wrk_path
from sandbox.world import build_world

ROOT = Path(__file__).resolve().parents[1]
RAW_BODY = orjson.dumps({"query": "{ __typename }"})
INTROSPECT = orjson.dumps({"query": "{ __schema { mutationType { fields { name } } } }"})


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000, help="size of the sandbox world (5000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency of every upstream request")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before concurrency 1")
    parser.add_argument("--grace", type=float, default=25.0, help="seconds to wait for the last answers")
    parser.add_argument(
        "--min-samples", type=int, default=5, help="at concurrency 1, go on past --duration for this many"
    )
    parser.add_argument("--concurrency", default="1,16,32", help="comma-separated (1,16,32)")
    parser.add_argument(
        "--ops",
        default="Q1,Q1c,Q2,Q3,Q4,M1",
        help="which operations (Q1c: Q1 with every cross-request cache off)",
    )
    parser.add_argument("--profile-seconds", type=float, default=6.0)
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy profiles")
    parser.add_argument("--py-spy", help="the py-spy binary (default: on PATH or beside python)")
    parser.add_argument(
        "--no-wrk", action="store_true", help="measure throughput with the Python client only"
    )
    parser.add_argument("--no-pin", action="store_true", help="leave CPU placement to the OS")
    parser.add_argument(
        "--workers", type=int, default=1, help="the gateway's worker processes (`serve --workers`; 1)"
    )
    parser.add_argument(
        "--redis-url",
        help="LEARNGRAPH_REDIS_URL for the gateway (with --workers above 1 and none given, the bench "
        "starts a redis-server of its own)",
    )
    parser.add_argument(
        "--compare-workers",
        default="Q2,Q3",
        help="operations run again under `serve --workers 1` and `--workers 2`, unpinned, turn about "
        "('' for none; needs redis-server or --redis-url)",
    )
    parser.add_argument(
        "--compare-concurrency", type=int, default=32, help="clients for the workers comparison (32)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--quick", action="store_true", help="short phases: 3 s, 1 s warm-up, 12 s grace")
    parser.add_argument(
        "--index-people",
        default=None,
        help="world sizes for the training index's questions (bench/index.py; default 5000,50000, "
        "with --quick 5000; '' skips them)",
    )
    args = parser.parse_args(argv)
    if args.index_people is None:
        args.index_people = "5000" if args.quick else "5000,50000"
    if args.quick:
        args.duration, args.warmup, args.grace, args.profile_seconds = 3.0, 1.0, 12.0, 4.0
        args.min_samples = min(args.min_samples, 3)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.ops = [o.strip().upper() for o in args.ops.split(",") if o.strip()]
    args.compare_workers = [o.strip().upper() for o in args.compare_workers.split(",") if o.strip()]
    return args


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_layout(pin: bool) -> tuple[set[int] | None, set[int] | None, str]:
    """(server CPUs, CPUs for everything else, description). The measured server gets a core of its own."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None, f"unpinned, {len(cpus)} CPUs shared"
    server, rest = {cpus[-1]}, set(cpus[:-1])
    return (
        server,
        rest,
        f"gateway/reference on CPU {cpus[-1]}; sandbox, load generator and wrk on CPU {sorted(rest)}",
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


class Bench:
    def __init__(
        self,
        args: argparse.Namespace,
        workdir: Path,
        sandbox: Sandbox,
        layout: tuple[set[int] | None, set[int] | None, str],
    ) -> None:
        self.args = args
        self.workdir = workdir
        self.sandbox = sandbox
        # Decided before this process was pinned: children inherit its CPUs unless told otherwise.
        self.server_cpus, self.other_cpus, self.layout = layout
        self.py_spy = None if args.no_profile else py_spy_path(args.py_spy)
        self.wrk = None if args.no_wrk else wrk_path()
        self.notes: list[str] = []
        self.reference_server: Server | None = None
        self.key = AdminKey.write(workdir)
        # The raw endpoint gets the same header, so both read the same request bytes.
        self.headers = tuple(self.key.headers.items())

    # -- measuring ------------------------------------------------------------------------------

    async def phase(
        self,
        server: Server,
        target: Target,
        body: BodyFactory,
        check: Check | None,
        concurrency: int,
        counter: itertools.count[int],
        *,
        warmup: float,
        upstream: bool,
    ) -> dict[str, Any]:
        args = self.args
        wait_idle(server.pid)
        if upstream:
            wait_idle(self.sandbox.server.pid)
        if warmup > 0:
            await run_phase(
                target,
                body,
                concurrency=concurrency,
                duration=warmup,
                grace=args.grace,
                check=check,
                counter=counter,
            )
            if upstream:
                wait_idle(self.sandbox.server.pid)
        marks: dict[str, float] = {}

        lookups: dict[str, dict[str, float] | None] = {}

        async def window_start() -> None:
            if upstream:
                self.sandbox.reset_stats()
                marks["sandbox"] = self.sandbox.server.cpu_seconds()
                lookups["before"] = server.cache_lookups()
            marks["server"] = server.cpu_seconds()
            marks["self"] = time.process_time()
            marks["machine"] = machine_busy_seconds()

        result = await run_phase(
            target,
            body,
            concurrency=concurrency,
            duration=args.duration,
            grace=args.grace,
            check=check,
            counter=counter,
            on_window_start=window_start,
            min_samples=args.min_samples if concurrency == 1 else 0,
        )
        server_cpu = server.cpu_seconds() - marks["server"]
        ours = server_cpu + time.process_time() - marks["self"]
        done = result.completed
        clean = done > 0 and result.unfinished == 0
        phase: dict[str, Any] = {
            "concurrency": concurrency,
            "window_s": args.duration,
            "completed": done,
            "completed_in_window": result.completed_in_window,
            "unfinished": result.unfinished,
            "errors": result.errors,
            "throughput_ops_s": round(result.throughput, 2),
            "p50_ms": _ms(result.percentile(50)),
            "p95_ms": _ms(result.percentile(95)),
            "p99_ms": _ms(result.percentile(99)),
            "mean_ms": _ms(statistics.fmean(result.latencies)) if done else None,
            "max_ms": _ms(max(result.latencies)) if done else None,
            "gateway_cpu_ms_per_op": round(server_cpu * 1000 / done, 3) if clean else None,
            "gateway_cpu_share": round(server_cpu / result.elapsed, 3),
        }
        if upstream:
            sandbox_cpu = self.sandbox.server.cpu_seconds() - marks["sandbox"]
            ours += sandbox_cpu
            counts = self.sandbox.stats()
            phase["sandbox_cpu_ms_per_op"] = round(sandbox_cpu * 1000 / done, 2) if clean else None
            phase["sandbox_cpu_share"] = round(sandbox_cpu / result.elapsed, 3)
            phase["upstream_per_op"] = round(sum(counts.values()) / done, 2) if clean else None
            phase["upstream_by_endpoint_per_op"] = (
                {e: round(n / done, 3) for e, n in counts.items()} if clean else {}
            )
            phase["cache_lookup_hit_rate"] = report.lookup_hit_rate(lookups["before"], server.cache_lookups())
            upstream_per_op, cpu_per_op = phase["upstream_per_op"], phase["gateway_cpu_ms_per_op"]
            phase["gateway_cpu_ms_per_upstream_request"] = (
                round(cpu_per_op / upstream_per_op, 3)
                if upstream_per_op and cpu_per_op is not None and upstream_per_op >= 0.5
                else None
            )
            if phase["sandbox_cpu_share"] > 0.9:
                self.notes.append(
                    f"{server.name} at concurrency {concurrency}: the sandbox used "
                    f"{phase['sandbox_cpu_share']:.0%} of a CPU, so upstream service time, not the "
                    "gateway, bounds these figures."
                )
        # Other work on a shared machine (other sessions' tests, servers) competes for the same CPUs.
        phase["others_cpu_share"] = round(
            max(0.0, machine_busy_seconds() - marks["machine"] - ours) / result.elapsed, 3
        )
        if result.unfinished:
            self.notes.append(
                f"{server.name} at concurrency {concurrency}: {result.unfinished} requests were still "
                f"unanswered {args.duration + args.grace:g} s after the phase began; percentiles that "
                "would fall on them are left blank."
            )
        return phase

    async def once(self, target: Target, body: bytes) -> tuple[float, bytes]:
        connection = Connection(target)
        try:
            started = time.perf_counter()
            status, content = await connection.post(body)
            if status != 200:
                raise RuntimeError(f"{target.path} answered HTTP {status}: {content[:300]!r}")
            return time.perf_counter() - started, content
        finally:
            connection.close()

    def profile(self, pid: int, name: str) -> Recording | None:
        if self.py_spy is None:
            return None
        out = self.workdir / f"profile-{name}.txt"
        return Recording.start(self.py_spy, pid, seconds=self.args.profile_seconds, out=out)

    # -- the reference --------------------------------------------------------------------------

    def start_reference(self) -> Server:
        port = free_port()
        command = [sys.executable, "-m", "bench.reference_app", "--host", HOST, "--port", str(port)]
        self.reference_server = Server.start(
            "reference", command, port, workdir=self.workdir, cpus=self.server_cpus
        )
        return self.reference_server

    async def reference(self) -> dict[str, Any]:
        server = self.start_reference()
        target = Target(HOST, server.port, "/json", self.headers)
        out: dict[str, Any] = {"endpoint": "POST /json (Starlette JSONResponse, uvicorn)", "phases": {}}
        counter = itertools.count()
        for c in self.args.concurrency:
            out["phases"][str(c)] = await self.phase(
                server, target, lambda n: RAW_BODY, None, c, counter, warmup=1.0, upstream=False
            )
        return out

    def measured_wrk(self, server: Server, path: str, body: bytes, seconds: float) -> dict[str, Any]:
        """One wrk run, with the server's and the rest of the machine's CPU use while it ran."""
        wait_idle(server.pid)
        before = (server.cpu_seconds(), machine_busy_seconds(), _children_cpu(), time.monotonic())
        result = asdict(
            run_wrk(
                server.address + path,
                body,
                connections=32,
                seconds=seconds,
                cpus=self.other_cpus,
                headers=self.key.headers,
            )  # fmt: skip
        )
        server_cpu = server.cpu_seconds() - before[0]
        busy = machine_busy_seconds() - before[1]
        wrk_cpu, wall = _children_cpu() - before[2], time.monotonic() - before[3]
        result["server_cpu_share"] = round(server_cpu / wall, 3)
        result["others_cpu_share"] = round(max(0.0, busy - server_cpu - wrk_cpu) / wall, 3)
        return result

    def paired_wrk(self, gateway: Server, body: bytes, rounds: int = 3) -> dict[str, Any]:
        """Raw endpoint and gateway measured turn about, so both see the same background load;
        the medians are compared."""
        seconds = max(3.0, self.args.duration / 2)
        reference = self.reference_server or self.start_reference()
        pairs = []
        for _ in range(rounds):
            raw = self.measured_wrk(reference, "/json", RAW_BODY, seconds)
            ours = self.measured_wrk(gateway, "/graphql", body, seconds)
            pairs.append({"raw": raw, "gateway": ours})

        def median_run(side: str) -> dict[str, Any]:
            runs = sorted((p[side] for p in pairs), key=lambda r: r["requests_per_second"])
            return dict(runs[len(runs) // 2])

        return {"pairs": pairs, "raw": median_run("raw"), "gateway": median_run("gateway")}

    # -- one operation --------------------------------------------------------------------------

    async def operation(self, op: Operation, reference: dict[str, Any]) -> dict[str, Any]:
        args = self.args
        m = op.minimum
        # With the caches off every operation is a cold one: "warm" is held to the cold minimum.
        warm = not op.caches_off
        out: dict[str, Any] = {
            "key": op.key,
            "title": op.title,
            "query": op.query,
            "caches_off": op.caches_off,
            "env": op.env,
            "minimum": {
                "cold": m.requests(warm=False),
                "warm": m.requests(warm=warm),
                "waves_cold": m.wave_count(warm=False),
                "waves_warm": m.wave_count(warm=warm),
                "floor_ms_cold": m.floor_ms(args.latency_ms, warm=False),
                "floor_ms_warm": m.floor_ms(args.latency_ms, warm=warm),
                "waves": [[asdict(call) for call in wave] for wave in m.waves],
                "reasoning": list(m.reasoning),
            },
        }
        gateway = self.start_gateway(op.key, op.env)
        if isinstance(gateway, str):
            out["skipped"] = f"failed: {gateway}"
            return out
        target = Target(HOST, gateway.port, "/graphql", self.headers)
        try:
            if op.mutation_field and not await self.has_mutation(target, op.mutation_field):
                out["skipped"] = "skipped: not in schema"
                return out
            check = check_schedule_lessons if op.mutation_field else check_graphql
            counter = itertools.count()
            wait_idle(self.sandbox.server.pid)
            upstream: dict[str, dict[str, int]] = {}
            for probe in ("cold", "warm"):
                self.sandbox.reset_stats()
                seconds, content = await self.once(target, op.body(next(counter)))
                if (problem := check(content)) is not None:
                    out["skipped"] = f"failed: the {probe} probe answered {problem}"
                    self.notes.append(f"{op.key} {probe} probe: {problem}: {content[:300]!r}")
                    return out
                upstream[probe] = self.sandbox.stats()
                out[f"{probe}_ms"] = _ms(seconds)
                if probe == "cold":
                    out["leaf_fields"] = count_leaves(orjson.loads(content).get("data"))
            out["upstream"] = upstream
            out["phases"] = {}
            # Profiled before the heavier phases, which can leave abandoned work behind in the gateway;
            # Q4's miss is throughput, so it is profiled under load, the others one request at a time.
            levels = sorted(args.concurrency)
            profile_at = levels[-1] if op.key == "Q4" else levels[0]
            for n, c in enumerate(levels):
                out["phases"][str(c)] = await self.phase(
                    gateway, target, op.body, check, c, counter,
                    warmup=args.warmup if n == 0 else 0.0, upstream=True,
                )  # fmt: skip
                if c == profile_at and self.py_spy:
                    await self.profile_operation(op, gateway, target, check, counter, out, c)
            for phase in out["phases"].values():
                phase["requests_saved"] = report.requests_saved(
                    upstream["cold"], phase.get("upstream_by_endpoint_per_op", {})
                )
            if op.key == "Q4" and self.wrk:
                paired = self.paired_wrk(gateway, op.body(0))
                out["wrk"], out["wrk_pairs"] = paired["gateway"], paired["pairs"]
                reference["wrk"] = paired["raw"]
            out["targets"] = report.evaluate(out, reference)
        finally:
            gateway.stop()
        return out

    def start_gateway(
        self,
        key: str,
        settings: dict[str, str] | None = None,
        *,
        workers: int | None = None,
        pinned: bool = True,
        attempts: int = 3,
    ) -> Server | str:
        """A fresh gateway (empty caches) for one operation, `settings` over the bench's; the reason it
        will not start, after a few tries (other sessions edit this working tree while a run goes on)."""
        reason = ""
        workers = workers or self.args.workers
        for attempt in range(1, attempts + 1):
            port = free_port()
            command = [*learngraph(), "--log-level", "WARNING", "serve", "--workers", str(workers)]
            env = {**self.sandbox.gateway_env(port, self.key), **(settings or {})}
            if self.args.redis_url:
                env["LEARNGRAPH_REDIS_URL"] = self.args.redis_url
            try:
                return Server.start(
                    f"gateway-{key}", command, port, workdir=self.workdir,
                    env=env, cpus=self.server_cpus if pinned else None,
                )  # fmt: skip
            except RuntimeError as exc:
                log = (self.workdir / f"gateway-{key}.log").read_text().strip().splitlines()
                reason = f"the gateway did not start ({log[-1][:200]})" if log else str(exc)
                if attempt < attempts:
                    print(f"bench: {key}: {reason}; trying again in 15 s")
                    time.sleep(15)
        self.notes.append(f"{key}: {reason}")
        return reason

    async def compare_workers(self, operations: list[Operation]) -> dict[str, Any]:
        """Issue 15 item 5, a report: each operation under `serve --workers 1` and `--workers 2`,
        turn about, both unpinned (so two workers may use both cores) and both with Redis."""
        concurrency = self.args.compare_concurrency
        out: dict[str, Any] = {"concurrency": concurrency, "operations": {}}
        for op in operations:
            check = check_schedule_lessons if op.mutation_field else check_graphql
            runs: dict[str, Any] = {}
            for workers in (1, 2):
                gateway = self.start_gateway(f"{op.key}-w{workers}", op.env, workers=workers, pinned=False)
                if isinstance(gateway, str):
                    runs[str(workers)] = {"skipped": gateway}
                    continue
                try:
                    target = Target(HOST, gateway.port, "/graphql", self.headers)
                    counter = itertools.count()
                    runs[str(workers)] = await self.phase(
                        gateway, target, op.body, check, concurrency, counter,
                        warmup=self.args.warmup, upstream=True,
                    )  # fmt: skip
                finally:
                    gateway.stop()
            out["operations"][op.key] = runs
        return out

    async def has_mutation(self, target: Target, name: str) -> bool:
        _, content = await self.once(target, INTROSPECT)
        data: dict[str, Any] = orjson.loads(content).get("data") or {}
        mutation: dict[str, Any] = (data.get("__schema") or {}).get("mutationType") or {}
        return any(f["name"] == name for f in mutation.get("fields", []))

    async def profile_operation(
        self,
        op: Operation,
        gateway: Server,
        target: Target,
        check: Check,
        counter: itertools.count[int],
        out: dict[str, Any],
        concurrency: int,
    ) -> None:
        wait_idle(self.sandbox.server.pid)
        recordings = {"profile": self.profile(gateway.pid, op.key)}
        if op.minimum.waves:
            recordings["sandbox_profile"] = self.profile(self.sandbox.server.pid, f"{op.key}-sandbox")
        await run_phase(
            target,
            op.body,
            concurrency=concurrency,
            duration=self.args.profile_seconds,
            grace=self.args.grace,
            check=check,
            counter=counter,
        )
        out["profile_concurrency"] = concurrency
        for key, recording in recordings.items():
            profile: Profile | None = recording.finish() if recording else None
            out[key] = profile.as_json() if profile else None
            if profile and recording:
                out[key]["raw"] = str(recording.out)  # py-spy's collapsed stacks, for flame graphs


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = datetime.now(UTC)
    clock = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="learngraph-bench-"))
    tools = {
        "wrk": None if args.no_wrk else wrk_path(),
        "py-spy": None if args.no_profile else py_spy_path(args.py_spy),
    }
    described = machine.describe(tools)  # before this process is pinned to fewer CPUs
    busy = machine_busy_seconds()
    await asyncio.sleep(2.0)
    described["background_cpu_share_at_start"] = round((machine_busy_seconds() - busy) / 2.0, 3)
    git_before = machine.git_state(ROOT)
    placement = cpu_layout(not args.no_pin)
    _, other_cpus, layout = placement
    if other_cpus:
        os.sched_setaffinity(0, other_cpus)  # the load generator stays off the measured server's core
    print(f"bench: building the world ({args.people} people) and starting the sandbox; logs in {workdir}")
    world = build_world(people=args.people, seed=args.seed)
    every = build_operations(world)
    operations = [op for op in every if op.key.upper() in args.ops]
    compared = [op for op in every if op.key.upper() in args.compare_workers]
    if compared and args.workers == 1 and not args.redis_url and shutil.which("redis-server") is None:
        compared = []
        notes_before = ["1 vs 2 workers not compared: no redis-server (pass --redis-url)."]
    else:
        notes_before = []
    sandbox = Sandbox.start(
        workdir, people=args.people, seed=args.seed, latency_ms=args.latency_ms, cpus=other_cpus
    )
    given = args.redis_url
    wants_redis = args.workers > 1 or bool(compared and args.workers == 1)
    redis = Redis.start(workdir) if wants_redis and not given else None
    shared_url = given or (redis.url if redis is not None else None)
    # The main phases use Redis when given one or for --workers above 1; the comparison gives it to both.
    args.redis_url = given or (shared_url if args.workers > 1 else None)
    main_redis = bool(args.redis_url)
    bench = Bench(args, workdir, sandbox, placement)
    bench.notes += notes_before
    workers: dict[str, Any] | None = None
    results: dict[str, Any] = {"started_at": started.isoformat(timespec="seconds")}
    try:
        print("bench: reference (raw Starlette JSON endpoint)")
        reference = await bench.reference()
        ops = []
        for op in operations:
            print(f"bench: {op.key} {op.title}")
            ops.append(await bench.operation(op, reference))
        if compared and args.workers == 1:
            print(f"bench: 1 vs 2 workers ({', '.join(op.key for op in compared)})")
            args.redis_url = shared_url
            workers = await bench.compare_workers(compared)
    finally:
        if bench.reference_server is not None:
            bench.reference_server.stop()
        sandbox.server.stop()
        if redis is not None:
            redis.stop()
    if described["background_cpu_share_at_start"] > 0.2:
        bench.notes.append(
            f"Before the run, other processes kept {described['background_cpu_share_at_start']:.0%} of a "
            "CPU busy: a shared machine; the per-phase 'others' CPU column shows how much that went on."
        )
    if args.index_people:
        print(f"bench: the training index at {args.index_people} people")
        asked = argparse.Namespace(
            people=args.index_people, seed=args.seed, latency_ms=args.latency_ms, runs=30
        )
        results["index"] = await index_bench.run(asked, workdir)
    git_after = machine.git_state(ROOT)
    if git_after != git_before:
        bench.notes.append(
            "The working tree changed during the run (other sessions were editing it): operations "
            "measured at different times may have run different code."
        )
    if bench.py_spy is None and not args.no_profile:
        bench.notes.append("py-spy not found: no profiles (pip install py-spy, or pass --py-spy PATH).")
    if bench.wrk is None and not args.no_wrk:
        bench.notes.append("wrk not found: Q4 vs raw throughput measured with the Python client.")
    results.update(
        {
            "took_seconds": round(time.monotonic() - clock, 1),
            "machine": described,
            "git": git_before,
            "git_after": git_after,
            "parameters": {
                "people": args.people,
                "seed": args.seed,
                "latency_ms": args.latency_ms,
                "duration": args.duration,
                "warmup": args.warmup,
                "grace": args.grace,
                "concurrency": args.concurrency,
                "layout": layout,
                "workers": args.workers,
                "redis": main_redis,
                "workdir": str(workdir),
            },
            "reference": reference,
            "operations": ops,
            "targets": [t for op in ops for t in op.get("targets", [])],
            "workers": workers,
            "notes": bench.notes,
        }
    )
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(main_async(args))
    paths = report.write(results, args.out)
    print(report.markdown(results))
    if "index" in results:  # its own section, after the report's (bench/index.py)
        section = "\n" + index_bench.markdown(results["index"]) + "\n"
        for path in paths:
            if path.suffix == ".md":
                with path.open("a") as out:
                    out.write(section)
        print(section)
    print(
        "bench: wrote "
        + ", ".join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
