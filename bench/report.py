"""Targets judged against a run's figures, and the run written as JSON and a Markdown table.

    targets = evaluate(operation_result, reference_result)   # [{"target", "pass", ...}, ...]
    write(results, Path("bench/results"))                     # latest.json/.md and a dated copy

The targets are benchmark figures, not test assertions: they say where the gateway stands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ENTITY_ENDPOINTS = ("DAMSTRA GET /group/{id}", "DAMSTRA GET /lesson", "DAMSTRA GET /user/{id}")
LATENCY_SLACK_MS = 5.0
THROUGHPUT_SHARE = 0.70
CPU_PER_LEAF_US = 2.0
# Issue 15: what a dashboard (Q1) may cost the gateway.
CPU_PER_UPSTREAM_REQUEST_MS = 0.5
CPU_PER_UPSTREAM_REQUEST_STRETCH_MS = 0.3
Q1_CPU_MS = 60.0
Q1_WARM_P50_MS = 15.0
Q1_THROUGHPUT_AT = (32, 40.0)  # clients, ops/s


def lookup_hit_rate(before: dict[str, float] | None, after: dict[str, float] | None) -> float | None:
    """The cross-request caches' hit rate between two readings of the gateway's look-up counters
    (`hit`, `miss`); None without both readings or without a look-up between them."""
    if before is None or after is None:
        return None
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    return round(hits / (hits + misses), 4) if hits + misses > 0 else None


def requests_saved(cold: dict[str, int], steady: dict[str, float]) -> float | None:
    """The share of the upstream requests a gateway with empty caches sends for an operation that
    a warm one does not send: answered by a cross-request cache (and, with concurrent clients, by
    reads shared with another operation in flight). None for an operation that needs no request."""
    total = sum(cold.values())
    if not total:
        return None
    saved = sum(max(0.0, n - steady.get(endpoint, 0.0)) for endpoint, n in cold.items())
    return round(saved / total, 4)


def _within(measured: dict[str, float], minimum: dict[str, int]) -> tuple[bool, list[str]]:
    """No endpoint above its minimum. Below it is listed, not failed: only a cross-request cache
    (of more than entities) can go under what the APIs allow."""
    ok, details = True, []
    for endpoint in sorted(set(measured) | set(minimum)):
        got, least = measured.get(endpoint, 0.0), minimum.get(endpoint, 0)
        if got > least + 0.05:
            ok = False
            details.append(f"{endpoint}: {got:g} vs {least} (over)")
        elif got < least - 0.05:
            details.append(f"{endpoint}: {got:g} vs {least} (under: served from a cross-request cache?)")
    return ok, details


def evaluate(op: dict[str, Any], reference: dict[str, Any]) -> list[dict[str, Any]]:
    if op.get("skipped"):
        return []
    key, minimum, targets = op["key"], op["minimum"], []
    cold_ok, cold_diff = _within(op["upstream"]["cold"], minimum["cold"])
    steady = op["phases"].get("1", {}).get("upstream_by_endpoint_per_op", op["upstream"]["warm"])
    warm_ok, warm_diff = _within(steady, minimum["warm"])
    targets.append(
        {
            "operation": key,
            "target": "upstream requests/op <= the least the APIs allow (cold cache; warm, steady state)",
            "measured": f"cold {sum(op['upstream']['cold'].values()):g}, steady {sum(steady.values()):.2f}",
            "goal": f"cold {sum(minimum['cold'].values())}, warm {sum(minimum['warm'].values())}",
            "pass": cold_ok and warm_ok,
            "detail": cold_diff + [f"steady {d}" for d in warm_diff],
        }
    )
    c1 = op["phases"].get("1", {})
    if key == "Q1c":
        targets += _dashboard_cold_targets(op)
    if key == "Q1":
        targets += _dashboard_warm_targets(op)
    if key == "Q2":
        floor = minimum["floor_ms_warm"]
        p50 = c1.get("p50_ms")
        targets.append(
            {
                "operation": key,
                "target": f"p50 at concurrency 1 <= floor + {LATENCY_SLACK_MS:g} ms",
                "measured": _ms(p50),
                "goal": f"<= {floor + LATENCY_SLACK_MS:g} ms (warm floor {floor:g} ms)",
                "pass": p50 is not None and p50 <= floor + LATENCY_SLACK_MS,
                "detail": [f"cold probe {_ms(op['cold_ms'])} vs cold floor {minimum['floor_ms_cold']:g} ms"],
            }
        )
    if key == "Q4":
        ours, raw, tool = _throughputs(op, reference)
        targets.append(
            {
                "operation": key,
                "target": f"throughput >= {THROUGHPUT_SHARE:.0%} of a raw Starlette JSON endpoint",
                "measured": f"{ours:.0f} ops/s = {ours / raw:.0%} of {raw:.0f} ({tool})" if raw else "-",
                "goal": f">= {THROUGHPUT_SHARE * raw:.0f} ops/s" if raw else "-",
                "pass": bool(raw) and ours >= THROUGHPUT_SHARE * raw,
                "detail": [],
            }
        )
    if key == "Q3":
        cpu, leaves = c1.get("gateway_cpu_ms_per_op"), op.get("leaf_fields") or 0
        per_leaf = cpu * 1000 / leaves if cpu is not None and leaves else None
        targets.append(
            {
                "operation": key,
                "target": f"gateway CPU <= {CPU_PER_LEAF_US:g} us per resolved leaf field",
                "measured": f"{per_leaf:.1f} us ({cpu:.1f} ms / {leaves} leaves)" if per_leaf else "-",
                "goal": f"<= {CPU_PER_LEAF_US:g} us ({CPU_PER_LEAF_US * leaves / 1000:.1f} ms/op)",
                "pass": per_leaf is not None and per_leaf <= CPU_PER_LEAF_US,
                "detail": [],
            }
        )
    if key == "Q1":
        warm = op["upstream"]["warm"]
        entity = {e: warm.get(e, 0) for e in ENTITY_ENDPOINTS}
        targets.append(
            {
                "operation": key,
                "target": "warm cache: no upstream call for cached entities (group, lessons, users)",
                "measured": ", ".join(f"{e.split(' ', 1)[1]} {n}" for e, n in entity.items()),
                "goal": "0 each",
                "pass": not any(entity.values()),
                "detail": [f"warm Q1 by endpoint: {json.dumps(warm)}"],
            }
        )
    return targets


def _dashboard_cold_targets(op: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets for a dashboard (Q1) with the schedule cache empty: the bench's Q1c, a
    gateway with every cross-request cache off, so each operation reads every member's schedules."""
    phases, minimum = op["phases"], op["minimum"]
    c1 = phases.get("1", {})
    cpu, p50 = c1.get("gateway_cpu_ms_per_op"), c1.get("p50_ms")
    sandbox_cpu, floor = c1.get("sandbox_cpu_ms_per_op"), minimum["floor_ms_warm"]
    bound = f"floor {floor:g} ms + sandbox CPU {_num(sandbox_cpu)} ms"
    if sandbox_cpu is not None:
        bound += f" = {floor + sandbox_cpu:.1f} ms"
    per_request = {
        c: phase.get("gateway_cpu_ms_per_upstream_request") for c, phase in sorted(phases.items(), key=_c)
    }
    measured = [v for v in per_request.values() if v is not None]
    return [
        {
            "operation": op["key"],
            "target": f"gateway CPU per upstream request <= {CPU_PER_UPSTREAM_REQUEST_MS:g} ms "
            f"(stretch {CPU_PER_UPSTREAM_REQUEST_STRETCH_MS:g}), at every concurrency",
            "measured": " / ".join(f"{_num(v, 3)} (c={c})" for c, v in per_request.items()),
            "goal": f"<= {CPU_PER_UPSTREAM_REQUEST_MS:g} ms",
            "pass": bool(measured)
            and len(measured) == len(per_request)
            and max(measured) <= CPU_PER_UPSTREAM_REQUEST_MS,
            "detail": [
                "stretch met"
                if measured and max(measured) <= CPU_PER_UPSTREAM_REQUEST_STRETCH_MS
                else f"stretch ({CPU_PER_UPSTREAM_REQUEST_STRETCH_MS:g} ms) not met"
            ],
        },
        {
            "operation": op["key"],
            "target": "gateway CPU per op, schedule cache empty (concurrency 1)",
            "measured": f"{_num(cpu)} ms",
            "goal": f"<= {Q1_CPU_MS:g} ms",
            "pass": cpu is not None and cpu <= Q1_CPU_MS,
            "detail": [
                f"p50 {_ms(p50)} vs {bound}: the single-process sandbox's own CPU bounds this latency",
                f"cold probe {_ms(op['cold_ms'])} vs cold floor {minimum['floor_ms_cold']:g} ms",
            ],
        },
    ]


def _dashboard_warm_targets(op: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 15's targets for a dashboard (Q1) read again with the gateway's caches as configured
    by default: what the schedule cache buys."""
    phases = op["phases"]
    p50 = phases.get("1", {}).get("p50_ms")
    clients, rate = Q1_THROUGHPUT_AT
    top = phases.get(str(clients), {})
    one = phases.get("1", {})
    # An endpoint the phase never called is absent: a warm dashboard that calls none is cached.
    by_endpoint = one.get("upstream_by_endpoint_per_op") or {}
    cached = (
        "upstream_by_endpoint_per_op" in one
        and by_endpoint.get("DAMSTRA GET /user/{id}/lesson_schedule", 0.0) < 1
    )
    note = (
        [] if cached else ["needs the schedule cache (issue 15 item 3): each Q1 still reads every member's"]
    )
    return [
        {
            "operation": "Q1",
            "target": "warm cache: p50 at concurrency 1",
            "measured": _ms(p50),
            "goal": f"<= {Q1_WARM_P50_MS:g} ms",
            "pass": p50 is not None and p50 <= Q1_WARM_P50_MS,
            "detail": note,
        },
        {
            "operation": "Q1",
            "target": f"warm cache: throughput at concurrency {clients}",
            "measured": f"{_num(top.get('throughput_ops_s'))} ops/s" if top else "- (not measured)",
            "goal": f">= {rate:g} ops/s",
            "pass": bool(top) and (top.get("throughput_ops_s") or 0.0) >= rate,
            "detail": note,
        },
    ]


def _c(item: tuple[str, Any]) -> int:
    return int(item[0])


def _throughputs(op: dict[str, Any], reference: dict[str, Any]) -> tuple[float, float, str]:
    """Q4 and raw at the highest concurrency, by wrk when both have a wrk figure."""
    if op.get("wrk") and reference.get("wrk"):
        return op["wrk"]["requests_per_second"], reference["wrk"]["requests_per_second"], "wrk"
    top = max(op["phases"], key=int, default=None)
    if top is None or top not in reference.get("phases", {}):
        return 0.0, 0.0, "-"
    return op["phases"][top]["throughput_ops_s"], reference["phases"][top]["throughput_ops_s"], "loadgen"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _phase_row(name: str, phase: dict[str, Any], floor: str, minimum: str) -> str:
    errors = sum(phase.get("errors", {}).values())
    censored = f" ({phase['unfinished']} unfinished)" if phase.get("unfinished") else ""
    return (
        f"| {name} | {phase['concurrency']} | {_num(phase.get('p50_ms'))} | {_num(phase.get('p95_ms'))} "
        f"| {_num(phase.get('p99_ms'))} | {_num(phase.get('throughput_ops_s'))} "
        f"| {phase['completed']}{censored} | {_num(phase.get('upstream_per_op'))} / {minimum} "
        f"| {_share(phase.get('cache_lookup_hit_rate'))} | {_share(phase.get('requests_saved'))} "
        f"| {_num(phase.get('gateway_cpu_ms_per_op'), 2)} "
        f"| {_num(phase.get('gateway_cpu_ms_per_upstream_request'), 3)} "
        f"| {_num(phase.get('sandbox_cpu_ms_per_op'))} "
        f"| {_shares(phase)} | {floor} | {errors or ''} |"
    )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _shares(phase: dict[str, Any]) -> str:
    parts = [phase.get(k) for k in ("gateway_cpu_share", "sandbox_cpu_share", "others_cpu_share")]
    return " / ".join("-" if p is None else f"{p:.0%}" for p in parts)


def markdown(results: dict[str, Any]) -> str:
    machine, params = results["machine"], results["parameters"]
    lines = [
        f"# LearnGraph bench: {results['started_at']}",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cores']} cores ({machine['cores_usable']} usable), "
        f"{machine['memory_gib']} GiB; {machine['os']} (Linux {machine['kernel']}, {machine['arch']}); "
        f"{machine['python']}.",
        "Libraries: " + ", ".join(f"{k} {v or 'absent'}" for k, v in machine["libraries"].items()) + ".",
        f"Run: sandbox `--people {params['people']} --seed {params['seed']} --latency-ms "
        f"{params['latency_ms']:g}`; {params['duration']:g} s per phase after {params['warmup']:g} s "
        f"warm-up; CPU layout: {params['layout']}; git {str(results['git']['commit'])[:10]}"
        f"{' (dirty)' if results['git']['dirty'] else ''}; took {results['took_seconds']:.0f} s.",
        "",
        "## Results",
        "",
        "Latency in ms; throughput in ops/s; upstream requests per operation measured / least the "
        "APIs allow (warm cache); cache hits = the cross-request caches' hit rate over the phase (the "
        "gateway's look-ups, from its /metrics); saved = share of the upstream requests a fresh gateway "
        "sends for the operation (its cold probe) that were not sent: answered by a cross-request cache "
        "(and, with concurrent clients, by identical reads in flight shared across operations); CPU in ms per "
        "operation, and the gateway's per upstream request (gateway CPU / upstream requests); CPU "
        "use = share of one CPU taken by the gateway (or reference) / the sandbox / other processes "
        "on the machine during the phase; floor = dependent upstream waves x latency (warm cache; "
        "cold in brackets). Every request carries an ADMIN API key (`X-API-Key`).",
        "",
        "| op | conc. | p50 | p95 | p99 | ops/s | done | upstream req/op | cache hits | saved | gateway CPU "
        "| per upstream req | sandbox CPU | CPU use | floor | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ref = results["reference"]
    for c, phase in ref.get("phases", {}).items():
        lines.append(_phase_row("raw Starlette", phase, "-", "0"))
        del c
    for op in results["operations"]:
        if op.get("skipped"):
            lines.append(f"| {op['key']} | | {op['skipped']} | | | | | | | | | | | | | |")
            continue
        m = op["minimum"]
        floor = f"{m['floor_ms_warm']:g} ({m['floor_ms_cold']:g})"
        for phase in op["phases"].values():
            lines.append(_phase_row(op["key"], phase, floor, str(sum(m["warm"].values()))))
    for op in results["operations"]:
        if op.get("wrk_pairs"):
            lines += _wrk_section(op)
    lines += ["", "## Targets", "", "| op | target | measured | goal | result |", "|---|---|---|---|---|"]
    for t in results["targets"]:
        verdict = "PASS" if t["pass"] else "FAIL"
        lines.append(f"| {t['operation']} | {t['target']} | {t['measured']} | {t['goal']} | {verdict} |")
        for d in t["detail"]:
            lines.append(f"| | | ↳ {d} | | |")
    lines += ["", "## Floors and least upstream requests", ""]
    for op in results["operations"]:
        lines += _minimum_section(op, params["latency_ms"])
    lines += _workers_section(results.get("workers"))
    lines += _profiles(results)
    if results.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def _wrk_section(op: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"Throughput by wrk (C client, 32 connections), the raw endpoint and {op['key']} measured turn "
        "about so both see the same background load; the target compares the medians:",
        "",
        "| round | raw Starlette req/s | others' CPU | " + op["key"] + " req/s | others' CPU | ratio |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for n, pair in enumerate(op["wrk_pairs"], 1):
        raw, ours = pair["raw"], pair["gateway"]
        lines.append(
            f"| {n} | {raw['requests_per_second']:.0f} | {raw['others_cpu_share']:.0%} "
            f"| {ours['requests_per_second']:.0f} | {ours['others_cpu_share']:.0%} "
            f"| {ours['requests_per_second'] / raw['requests_per_second']:.0%} |"
        )
    w = op["wrk"]
    p = w["percentiles"]
    lines.append(
        f"\n{op['key']} median run: p50 {_ms(_s_to_ms(p.get('50')))}, p99 {_ms(_s_to_ms(p.get('99')))}, "
        f"{w['non_2xx']} non-2xx, {w['socket_errors']} socket errors."
    )
    return lines


def _workers_section(workers: dict[str, Any] | None) -> list[str]:
    """Issue 15 item 5 (a report, not a target): `serve --workers 1` against `--workers 2`."""
    if not workers or not workers.get("operations"):
        return []
    lines = [
        "",
        f"## 1 vs 2 workers (concurrency {workers['concurrency']})",
        "",
        "Each operation on a fresh `learngraph serve --workers 1`, then `--workers 2`, both unpinned (the "
        "two workers, the sandbox, the load generator and anything else on the machine share its CPUs) "
        "and both with Redis; a report, not a target. Gateway CPU counts every worker.",
        "",
        "| op | workers | ops/s | p50 | p99 | gateway CPU/op | CPU use (gateway / sandbox / others) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, runs in workers["operations"].items():
        for n, phase in runs.items():
            if phase.get("skipped"):
                lines.append(f"| {key} | {n} | {phase['skipped']} | | | | |")
                continue
            lines.append(
                f"| {key} | {n} | {_num(phase.get('throughput_ops_s'))} | {_num(phase.get('p50_ms'))} "
                f"| {_num(phase.get('p99_ms'))} | {_num(phase.get('gateway_cpu_ms_per_op'), 2)} "
                f"| {_shares(phase)} |"
            )
    return lines


def _s_to_ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def _waves(n: int) -> str:
    return f"{n} wave{'' if n == 1 else 's'}"


def _minimum_section(op: dict[str, Any], latency: float) -> list[str]:
    m = op["minimum"]
    lines = [
        f"### {op['key']}: {op['title']}",
        "",
        f"Floor: {_waves(m['waves_cold'])} x {latency:g} ms = {m['floor_ms_cold']:g} ms cold; "
        f"{_waves(m['waves_warm'])} = {m['floor_ms_warm']:g} ms with a warm cache. Least requests: "
        f"{sum(m['cold'].values())} cold, {sum(m['warm'].values())} warm.",
        "",
    ]
    for n, wave in enumerate(m["waves"], 1):
        calls = "; ".join(
            f"{c['endpoint']} x{c['count']}{' (cached when warm)' if c['cached'] else ''} - {c['note']}"
            for c in wave
        )
        lines.append(f"{n}. {calls}")
    lines += [""] + [f"- {r}" for r in m["reasoning"]]
    if not op.get("skipped"):
        up = op["upstream"]
        lines += [
            "",
            f"Probes (one request each, fresh gateway): cold {_ms(op.get('cold_ms'))}, "
            f"warm {_ms(op.get('warm_ms'))}; {op.get('leaf_fields')} leaf fields in the answer.",
        ]
        lines += ["", "| endpoint | least (cold) | cold | least (warm) | warm probe | steady c=1 |"]
        lines += ["|---|---:|---:|---:|---:|---:|"]
        steady = op["phases"].get("1", {}).get("upstream_by_endpoint_per_op", {})
        endpoints = sorted(set(m["cold"]) | set(up["cold"]) | set(up["warm"]) | set(steady))
        for e in endpoints:
            lines.append(
                f"| {e} | {m['cold'].get(e, 0)} | {up['cold'].get(e, 0)} | {m['warm'].get(e, 0)} "
                f"| {up['warm'].get(e, 0)} | {steady.get(e, 0):.2f} |"
            )
    return lines + [""]


def _profiles(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for op in results["operations"]:
        for who in ("profile", "sandbox_profile"):
            profile = op.get(who)
            if not profile or not profile.get("samples"):
                continue
            process = "gateway" if who == "profile" else "sandbox"
            lines += [
                "",
                f"### {op['key']}: {process} CPU profile ({profile['samples']} samples, "
                f"concurrency {op.get('profile_concurrency')})",
                "",
                "By package (innermost frame): "
                + ", ".join(
                    f"{p['package']} {p['share']:.0%}" for p in profile["by_package"] if p["share"] >= 0.01
                ),
                "",
                "| self | function |",
                "|---:|---|",
            ]
            lines += [f"| {f['share']:.1%} | `{f['function']}` |" for f in profile["self_top"][:12]]
            lines += ["", "| inclusive | function |", "|---:|---|"]
            lines += [f"| {f['share']:.1%} | `{f['function']}` |" for f in profile["inclusive_top"][:18]]
    return (["", "## Profiles"] + lines) if lines else []


def write(results: dict[str, Any], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = results["started_at"].replace(":", "").replace("-", "")[:15]
    text, data = markdown(results), json.dumps(results, indent=2, sort_keys=False) + "\n"
    paths = []
    for stem in ("latest", stamp):
        (folder / f"{stem}.json").write_text(data)
        (folder / f"{stem}.md").write_text(text)
        paths += [folder / f"{stem}.json", folder / f"{stem}.md"]
    return paths
