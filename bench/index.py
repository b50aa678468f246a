"""The training index in `make bench` (issue 16): company-wide questions answered from it, at 5,000 and
50,000 people, 20 ms per upstream request.

    python -m bench.index                         # 5,000 and 50,000 people
    python -m bench.index --people 5000 --runs 20

For each size: the sandbox in its own process; the index (SQLite) filled in one go from it through the
connectors, every source then LIVE (what a finished backfill leaves; the sync's own paced backfill is
measured by its bench); a fresh `learngraph serve` on that index, asked at one client, one after another:

- C1 company-wide `completions(first: 20)`, newest first, with each one's person and lesson;
- C2 company-wide overdue `schedules(status: [OVERDUE], first: 50)` with people, lessons and totalCount;
- C3 a 100-member group's `overdueCount` (`group(id:)`: the group itself is a DAMSTRA read, cached 60 s);
- C4 the same roll-up as `schedules(groupId:, status: [OVERDUE]) { totalCount }`, which reads no group.

Each: p50/p90 of the answer time and upstream requests per answer (the sandbox's counters), then the
index's size on disk and the gateway's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.processes import AdminKey, Sandbox, Server, free_port, learngraph, process_tree
from gateway.data.identity import IdentityDirectory
from gateway.index.store import TrainingIndex
from gateway.settings import load_settings
from gateway.sources import Source
from gateway.upstreams.registry import Upstreams
from resolvers.global_id import encode
from sandbox.world import build_world
from tests.index.filling import fill_index

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0

C1 = """{ completions(first: 20) {
  edges { node { id source completedAt score user { id email } lesson { id name } } }
  asOf } }"""
C2 = """{ schedules(status: [OVERDUE], first: 50) {
  edges { node { id status dueDate user { id email } lesson { id name } } }
  totalCount asOf } }"""
C3 = "query($g: ID!) { group(id: $g) { name overdueCount } }"
C4 = "query($g: ID!) { schedules(groupId: $g, status: [OVERDUE], first: 1) { totalCount asOf } }"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.index", description=__doc__.split("\n")[0])
    parser.add_argument("--people", default="5000,50000", help="comma-separated sizes (5000,50000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=30, help="answers measured per question")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    return parser.parse_args(argv)


def _rss_mib(pid: int) -> float:
    total = 0
    for each in process_tree(pid):
        try:
            with open(f"/proc/{each}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return round(total / 1024, 1)


def _size_mib(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return round(sum(f.stat().st_size for f in files if f.exists()) / 2**20, 1)


def _group_of_about(world: Any, size: int) -> tuple[str, int]:
    state = world.damstra
    group = min(state.groups.values(), key=lambda g: (abs(len(g.member_ids) - size), g.id))
    return encode("Group", Source.DAMSTRA, str(group.id)), len(group.member_ids)


async def _fill(sandbox: Sandbox, path: Path) -> dict[str, Any]:
    settings = load_settings(sandbox.env)
    upstreams = Upstreams.open(settings)
    assert settings.identity_file is not None
    directory = IdentityDirectory.load(settings.identity_file)
    index = await TrainingIndex.open(f"sqlite+aiosqlite:///{path}")
    sandbox.reset_stats()
    began = time.monotonic()
    try:
        rows = await fill_index(index, upstreams, directory)
    finally:
        await upstreams.aclose()
        await index.close()
    return {
        "seconds": round(time.monotonic() - began, 1),
        "upstream_requests": sum(sandbox.stats().values()),
        "rows": {source.name: n for source, n in rows.items()},
    }


async def _ask(
    client: httpx.AsyncClient, sandbox: Sandbox, query: str, variables: dict[str, Any], runs: int
) -> dict[str, Any]:
    body = orjson.dumps({"query": query, "variables": variables})
    headers = {"content-type": "application/json"}
    answer: dict[str, Any] = {}
    for _ in range(3):  # warm: the parsed document, the group read, the connection
        answer = (await client.post("/graphql", content=body, headers=headers)).json()
    sandbox.reset_stats()
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = await client.post("/graphql", content=body, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        answer = response.json()
    requests = sum(sandbox.stats().values())
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p90_ms": round(times[int(len(times) * 0.9) - 1], 2),
        "upstream_requests_per_answer": round(requests / runs, 2),
        "index_used": (answer.get("extensions") or {}).get("index", {}).get("used"),
        "errors": [e.get("message") for e in answer.get("errors", [])][:2],
        "meets_target": statistics.median(times) <= TARGET_MS and requests == 0,
    }


async def measure(people: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    print(f"bench.index: {people} people: the sandbox")
    world = build_world(people=people, seed=args.seed)
    group, members = _group_of_about(world, 100)
    del world
    sandbox = Sandbox.start(workdir, people=people, seed=args.seed, latency_ms=args.latency_ms, cpus=None)
    path = workdir / f"index-{people}.db"
    gateway: Server | None = None
    try:
        print(f"bench.index: {people} people: filling the index")
        filled = await _fill(sandbox, path)
        key = AdminKey.write(workdir)
        port = free_port()
        env = {**sandbox.gateway_env(port, key), "LEARNGRAPH_INDEX_PATH": str(path)}
        command = [*learngraph(), "--log-level", "WARNING", "serve"]
        print(f"bench.index: {people} people: filled {filled}")
        # Reading a 50,000 people's identity file (YAML) alone takes the gateway most of a minute.
        gateway = Server.start(
            f"gateway-index-{people}", command, port, workdir=workdir, env=env, timeout=60 + people / 200
        )
        print(f"bench.index: {people} people: asking")
        async with httpx.AsyncClient(base_url=gateway.address, headers=key.headers, timeout=120) as client:
            questions = {
                "C1 completions(first: 20)": await _ask(client, sandbox, C1, {}, args.runs),
                "C2 overdue schedules(first: 50)": await _ask(client, sandbox, C2, {}, args.runs),
                f"C3 group({members} members).overdueCount": await _ask(
                    client, sandbox, C3, {"g": group}, args.runs
                ),
                f"C4 schedules(groupId, OVERDUE).totalCount ({members} members)": await _ask(
                    client, sandbox, C4, {"g": group}, args.runs
                ),
            }
        return {
            "people": people,
            "fill": filled,
            "questions": questions,
            "index_mib_on_disk": _size_mib(path),
            "gateway_rss_mib": _rss_mib(gateway.pid),
        }
    finally:
        if gateway is not None:
            gateway.stop()
        sandbox.server.stop()
        _remove_index(workdir, people)


def _remove_index(workdir: Path, people: int) -> None:
    for leftover in workdir.glob(f"index-{people}.db*"):
        leftover.unlink()


async def run(
    args: argparse.Namespace,
    workdir: Path | None = None,
    done: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Every size in `args.people`, as the results' `index` section; `done` gets it after each size."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="learngraph-bench-index-"))
    results: dict[str, Any] = {
        "latency_ms": args.latency_ms,
        "runs": args.runs,
        "sizes": [],
        "note": "the whole index read in one go at 32 requests in flight (not the sync's paced backfill)",
    }
    for people in [int(n) for n in str(args.people).split(",") if n.strip()]:
        results["sizes"].append(await measure(people, args, workdir))
        if done is not None:
            done(results)
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"## Training index (issue 16): one client, {results['latency_ms']:.0f} ms per upstream request",
        "",
        "| people | question | p50 ms | p90 ms | upstream requests / answer | from the index | ≤ 50 ms, 0 requests |",
        "|---|---|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        for name, q in size["questions"].items():
            met = "yes" if q["meets_target"] else "no"
            lines.append(
                f"| {size['people']} | {name} | {q['p50_ms']} | {q['p90_ms']} | "
                f"{q['upstream_requests_per_answer']} | {q['index_used']} | {met} |"
            )
    lines += [
        "",
        "| people | index on disk (SQLite) | gateway RSS | fill time | fill requests |",
        "|---|---|---|---|---|",
    ]
    for size in results["sizes"]:
        fill = size["fill"]
        lines.append(
            f"| {size['people']} | {size['index_mib_on_disk']} MiB | {size['gateway_rss_mib']} MiB | "
            f"{fill['seconds']} s | {fill['upstream_requests']} |"
        )
    lines += ["", f"Fill: {results['note']}."]
    return "\n".join(lines)


def write(results: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index-latest.json").write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    (folder / "index-latest.md").write_text(markdown(results) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(run(args, done=lambda so_far: write(so_far, args.out)))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
