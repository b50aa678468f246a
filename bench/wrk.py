"""wrk (Debian's `wrk` package) for the throughput comparisons, where a Python client would be the
bottleneck before the server is: `run_wrk(url, body, connections=32, seconds=10)`."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int
    percentiles: dict[str, float]  # "50" -> seconds


def wrk_path() -> str | None:
    return shutil.which("wrk")


def _script(body: bytes, headers: Mapping[str, str]) -> str:
    # Lua long brackets take the JSON as it is: no escaping of quotes or backslashes.
    text = body.decode()
    level = "=" * (max((len(m) for m in re.findall(r"\]=*", text)), default=0) + 1)
    extra = "".join(f'wrk.headers["{name}"] = "{value}"\n' for name, value in headers.items())
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"{extra}wrk.body = [{level}[{text}]{level}]\n"
    )


def run_wrk(
    url: str,
    body: bytes,
    *,
    connections: int,
    seconds: float,
    cpus: set[int] | None = None,
    headers: Mapping[str, str] | None = None,
) -> WrkResult:
    binary = wrk_path()
    if binary is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "post.lua"
        script.write_text(_script(body, headers or {}))
        command = [binary, "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
        command += ["-s", str(script), url]
        if cpus:
            command = ["taskset", "-c", ",".join(map(str, sorted(cpus))), *command]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return parse(output)


def parse(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if rate is None or total is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(total.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
        percentiles={p: float(v) * _UNITS[u] for p, v, u in _PERCENTILE.findall(output)},
    )
