"""The processes a bench run measures: the sandbox upstreams, the gateway, the reference app.

    sandbox = Sandbox.start(workdir, people=5000, latency_ms=20, cpus={0})
    key = AdminKey.write(workdir)             # an ADMIN API key, listed in workdir/api-keys.yaml
    env = sandbox.gateway_env(port, key)
    gateway = Server.start("gateway", [*learngraph(), "serve"], port, env=env, cpus={1})
    gateway.cpu_seconds()       # user + system time of every thread, from /proc
    gateway.stop()

Each runs in its own process (and session), so its CPU time is its own and can be read from /proc.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"
_CACHE_LOOKUP = re.compile(
    r'^learngraph_cache_lookups_total\{[^}]*result="(?P<result>hit|miss)"[^}]*\} (?P<value>\S+)$',
    re.MULTILINE,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def learngraph() -> list[str]:
    """The `learngraph` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("learngraph")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateway.server.cli"]


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, every live thread counted, in seconds.

    /proc/<pid>/task/*/schedstat holds nanoseconds on the CPU; /proc/<pid>/stat only 10 ms ticks."""
    total = 0
    try:
        for task in os.scandir(f"/proc/{pid}/task"):
            try:
                with open(f"{task.path}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                continue  # a thread that ended between the listing and the read
        return total / 1e9
    except FileNotFoundError:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reaped_children_cpu_seconds(pid: int) -> float:
    """CPU time of a process's children that have ended and been waited for (/proc/<pid>/stat's
    cutime and cstime, in clock ticks)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants, from /proc/<pid>/task/*/children."""
    found = [pid]
    for walked in found:
        try:
            for task in os.scandir(f"/proc/{walked}/task"):
                with open(f"{task.path}/children") as children:
                    found += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return found


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy (all CPUs, every process), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class AdminKey:
    """The bench's credential: an ADMIN API key, so every operation passes the access checks a
    dashboard's service key would (an anonymous caller skips the credential check)."""

    key: str
    file: Path

    @classmethod
    def write(cls, workdir: Path) -> AdminKey:
        key = secrets.token_urlsafe(32)
        digest = hashlib.sha256(key.encode()).hexdigest()
        file = workdir / "api-keys.yaml"
        file.write_text(f'keys:\n  - {{name: bench, sha256: "{digest}", role: ADMIN}}\n')
        return cls(key, file)

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.key}


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(
        cls,
        name: str,
        command: list[str],
        port: int,
        *,
        workdir: Path,
        env: dict[str, str] | None = None,
        cpus: set[int] | None = None,
        ready_path: str = "/healthz",
        timeout: float = 60.0,
    ) -> Server:
        log = workdir / f"{name}.log"
        with open(log, "ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Unbuffered, so what a server prints is in its log as soon as it is ready.
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
                start_new_session=True,
            )
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        server = cls(name, process, port, log)
        server.wait_ready(ready_path, timeout)
        return server

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.port}"

    def wait_ready(self, path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log}")
            try:
                if httpx.get(self.address + path, timeout=2.0).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {path} within {timeout:.0f} s; see {self.log}")

    def cpu_seconds(self) -> float:
        """The process's and its children's (`serve --workers N` runs its workers as children), those
        that ended included (uvicorn's supervisor replaces a worker that stops answering its pings)."""
        tree = process_tree(self.pid)
        return sum(cpu_seconds(pid) for pid in tree) + sum(reaped_children_cpu_seconds(pid) for pid in tree)

    def cache_lookups(self) -> dict[str, float] | None:
        """The gateway's cross-request cache look-ups so far, `hit` and `miss` over every cache, from
        its /metrics (`learngraph_cache_lookups_total`); None where there is no such page."""
        try:
            response = httpx.get(self.address + "/metrics", timeout=30)
        except httpx.HTTPError:
            return None
        return cache_lookups_in(response.text) if response.status_code == 200 else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                # uvicorn's graceful shutdown would wait for abandoned requests: not for long.
                self.process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                # Its whole session: the workers of a supervisor killed first would live on.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Redis:
    """A redis-server of the bench's own, for a gateway of several workers (`--workers`)."""

    process: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, workdir: Path) -> Redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("--workers above 1 needs Redis: install redis-server or pass --redis-url")
        port = free_port()
        command = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        with open(workdir / "redis.log", "ab") as out:
            process = subprocess.Popen(
                command + ["--dir", str(workdir)], stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex((HOST, port)) == 0:
                    return cls(process, port)
            time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"redis-server did not start; see {workdir / 'redis.log'}")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def wait_idle(pid: int, quiet_seconds: float = 0.3, timeout: float = 120.0) -> float:
    """Wait until a process stops using CPU (work left over from an earlier phase); answers seconds waited."""
    started = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - started < timeout:
        time.sleep(quiet_seconds)
        now = cpu_seconds(pid)
        if now - last < 0.02 * quiet_seconds:
            break
        last = now
    return time.monotonic() - started


@dataclass
class Sandbox:
    """`learngraph sandbox` in its own process, and what its admin routes tell."""

    server: Server
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(
        cls, workdir: Path, *, people: int, seed: int, latency_ms: float, cpus: set[int] | None
    ) -> Sandbox:
        port = free_port()
        command = [*learngraph(), "--log-level", "WARNING", "sandbox", "--people", str(people)]
        command += ["--seed", str(seed), "--latency-ms", str(latency_ms), "--sandbox-port", str(port)]
        command += ["--identity-file", str(workdir / "identity.yaml")]
        # Building 5000 people's world takes a few seconds before the port opens.
        server = Server.start(
            "sandbox", command, port, workdir=workdir, cpus=cpus, ready_path="/_sandbox/stats", timeout=180
        )
        env = {}
        for line in server.log.read_text().splitlines():
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                name, value = line.removeprefix("export ").split("=", 1)
                env[name] = value
        if not env:
            server.stop()
            raise RuntimeError(f"the sandbox printed no LEARNGRAPH_* variables; see {server.log}")
        return cls(server, env)

    def gateway_env(self, port: int, key: AdminKey) -> dict[str, str]:
        return {
            **self.env,
            "LEARNGRAPH_API_KEYS_FILE": str(key.file),
            "LEARNGRAPH_ALLOW_ANONYMOUS": "false",
            # The bench asks the schema which mutations the gateway under test has.
            "LEARNGRAPH_INTROSPECTION": "true",
            "LEARNGRAPH_HOST": HOST,
            "LEARNGRAPH_PORT": str(port),
        }

    def reset_stats(self) -> None:
        httpx.post(self.server.address + "/_sandbox/stats/reset", timeout=30).raise_for_status()

    def stats(self) -> dict[str, int]:
        """Requests since the last reset, keyed `SOURCE METHOD /path/{id}/shape`."""
        response = httpx.get(self.server.address + "/_sandbox/stats", timeout=30)
        response.raise_for_status()
        counts: dict[str, int] = {}
        for source, by_shape in response.json()["requests"].items():
            for shape, n in by_shape.items():
                counts[f"{source} {shape}"] = int(n)
        return counts


def cache_lookups_in(metrics: str) -> dict[str, float]:
    """`hit` and `miss` summed over every cache, in a Prometheus text page."""
    totals = {"hit": 0.0, "miss": 0.0}
    for match in _CACHE_LOOKUP.finditer(metrics):
        totals[match["result"]] += float(match["value"])
    return totals
