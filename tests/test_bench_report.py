"""The bench's own arithmetic and set-up: the cache hit rate, the dashboard targets, the ADMIN key it
authenticates with, and the header its load generators send."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from bench.loadgen import Connection, Target
from bench.processes import AdminKey, cache_lookups_in
from bench.report import evaluate, lookup_hit_rate, markdown, requests_saved
from bench.wrk import _script
from gateway.data.callers import Role
from gateway.server.auth.api_keys import ApiKeys
from gateway.telemetry import metrics


def test_requests_saved_are_the_share_of_a_cold_gateways_requests_not_sent() -> None:
    cold = {"GET /group/{id}": 1, "GET /lesson": 1, "GET /user/{id}/lesson_schedule": 100}
    assert requests_saved(cold, {"GET /user/{id}/lesson_schedule": 100.0}) == round(2 / 102, 4)
    assert requests_saved(cold, {}) == 1.0
    assert requests_saved(cold, {**cold, "GET /other": 3.0}) == 0.0  # more sent is no negative rate
    assert requests_saved({}, {}) is None  # an operation that needs no upstream


def test_the_lookups_are_read_from_the_gateways_metrics_page() -> None:
    before = cache_lookups_in(generate_latest().decode())
    metrics.CACHE_HITS["lesson"].inc(3)
    metrics.CACHE_HITS["user"].inc(2)
    metrics.CACHE_MISSES["group"].inc()
    after = cache_lookups_in(generate_latest().decode())
    assert (after["hit"] - before["hit"], after["miss"] - before["miss"]) == (5.0, 1.0)


def test_the_hit_rate_is_read_off_the_gateways_lookup_counters() -> None:
    assert lookup_hit_rate({"hit": 10, "miss": 5}, {"hit": 40, "miss": 15}) == 0.75
    assert lookup_hit_rate({"hit": 10, "miss": 5}, {"hit": 10, "miss": 5}) is None  # no look-up
    assert lookup_hit_rate(None, {"hit": 1, "miss": 0}) is None  # no /metrics


def test_the_admin_key_file_is_one_the_gateway_accepts(tmp_path: Path) -> None:
    key = AdminKey.write(tmp_path)
    caller = ApiKeys.load(key.file).caller(key.key)
    assert caller is not None and caller.role is Role.ADMIN
    assert key.key not in key.file.read_text()  # the file holds only the digest
    assert key.headers == {"X-API-Key": key.key}
    assert f'wrk.headers["X-API-Key"] = "{key.key}"' in _script(b"{}", key.headers)


async def test_the_load_generator_sends_the_targets_headers() -> None:
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        connection = Connection(Target("127.0.0.1", port, "/graphql", (("X-API-Key", "k"),)))
        assert await connection.post(b"{}") == (200, b"{}")
        connection.close()
    assert b"\r\nX-API-Key: k\r\n" in heads[0]


def _phase(c: int, cpu: float, upstream: float, p50: float, rate: float) -> dict[str, Any]:
    return {
        "concurrency": c,
        "completed": 10,
        "p50_ms": p50,
        "throughput_ops_s": rate,
        "gateway_cpu_ms_per_op": cpu,
        "gateway_cpu_ms_per_upstream_request": round(cpu / upstream, 3),
        "sandbox_cpu_ms_per_op": 40.0,
        "upstream_per_op": upstream,
        "upstream_by_endpoint_per_op": {"DAMSTRA GET /x": upstream},
        "cache_lookup_hit_rate": 1.0,
        "requests_saved": 0.0,
    }


def _dashboard(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "title": "dashboard",
        "query": "{}",
        "cold_ms": 300.0,
        "warm_ms": 100.0,
        "leaf_fields": 10,
        "minimum": {
            "cold": {"DAMSTRA GET /x": 100},
            "warm": {"DAMSTRA GET /x": 100},
            "floor_ms_cold": 60.0,
            "floor_ms_warm": 40.0,
            "waves_cold": 3,
            "waves_warm": 2,
            "waves": [],
            "reasoning": [],
        },
        "upstream": {"cold": {"DAMSTRA GET /x": 100}, "warm": {"DAMSTRA GET /x": 100}},
        "phases": {
            "1": _phase(1, 45.0, 100, 60.0, 16.0),
            "16": _phase(16, 48.0, 100, 400.0, 38.0),
            "32": _phase(32, 49.0, 100, 800.0, 41.0),
        },
    }


def _by_name(targets: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["target"].split(" <=")[0].split(",")[0]: t for t in targets}


def test_the_cold_dashboard_targets_read_every_concurrency() -> None:
    q1c = _dashboard("Q1c")  # every cross-request cache off: the schedule cache stays empty
    targets = _by_name(evaluate(q1c, {}))
    per_request = targets["gateway CPU per upstream request"]
    assert per_request["pass"] and per_request["measured"] == "0.450 (c=1) / 0.480 (c=16) / 0.490 (c=32)"
    assert "not met" in per_request["detail"][0]
    assert targets["gateway CPU per op"]["pass"]  # 45 ms at concurrency 1
    assert "floor 40 ms + sandbox CPU 40.0 ms = 80.0 ms" in targets["gateway CPU per op"]["detail"][0]
    assert not any(name.startswith("warm cache") for name in targets)  # judged on Q1, caches on
    q1c["phases"]["32"]["gateway_cpu_ms_per_upstream_request"] = 0.6
    assert not _by_name(evaluate(q1c, {}))["gateway CPU per upstream request"]["pass"]


def test_the_warm_dashboard_targets_say_whether_schedules_were_cached() -> None:
    q1 = _dashboard("Q1")
    q1["phases"]["1"]["upstream_by_endpoint_per_op"] = {"DAMSTRA GET /user/{id}/lesson_schedule": 100}
    targets = _by_name(evaluate(q1, {}))
    assert "gateway CPU per upstream request" not in targets  # judged on Q1c
    assert not targets["warm cache: p50 at concurrency 1"]["pass"]  # 60 ms > 15 ms
    assert targets["warm cache: throughput at concurrency 32"]["pass"]  # 41 ops/s
    assert "needs the schedule cache" in targets["warm cache: p50 at concurrency 1"]["detail"][0]
    q1["phases"]["1"].update(p50_ms=12.0, upstream_by_endpoint_per_op={"DAMSTRA GET /group/{id}/member": 1})
    targets = _by_name(evaluate(q1, {}))
    assert targets["warm cache: p50 at concurrency 1"]["pass"]
    assert targets["warm cache: p50 at concurrency 1"]["detail"] == []


def test_the_report_tables_the_phases_and_the_workers_comparison() -> None:
    q1 = _dashboard("Q1")
    results = {
        "started_at": "2026-12-06T12:00:00+00:00",
        "took_seconds": 1.0,
        "machine": {
            "cpu_model": "x",
            "cores": 2,
            "cores_usable": 2,
            "memory_gib": 1,
            "os": "x",
            "kernel": "x",
            "arch": "x",
            "python": "x",
            "libraries": {},
        },
        "git": {"commit": "0" * 40, "dirty": False},
        "parameters": {
            "people": 1,
            "seed": 1,
            "latency_ms": 20.0,
            "duration": 1.0,
            "warmup": 1.0,
            "layout": "-",
        },
        "reference": {"phases": {}},
        "operations": [q1],
        "targets": evaluate(q1, {}),
        "workers": {
            "concurrency": 32,
            "operations": {
                "Q2": {
                    "1": {**_phase(32, 3.0, 3, 120.0, 200.0), "gateway_cpu_share": 0.9},
                    "2": {"skipped": "the gateway did not start"},
                }
            },
        },
    }
    text = markdown(results)
    assert "| Q1 | 1 | 60.0 |" in text and "| 100% | 0% | 45.00 | 0.450 |" in text
    assert "## 1 vs 2 workers (concurrency 32)" in text
    assert "| Q2 | 1 | 200.0 | 120.0 |" in text and "| Q2 | 2 | the gateway did not start |" in text
