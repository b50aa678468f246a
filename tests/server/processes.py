"""The sandbox and gateways as processes of their own (`learngraph sandbox`, `learngraph serve`), on loopback.

sandbox = start_sandbox(workdir, webhook_url=..., webhook_secret=...)
gateway = start_gateway(workdir, "a", sandbox.env, {"LEARNGRAPH_REDIS_URL": url})
gateway.post(query, variables); gateway.stop()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sandbox.server import free_port

REPO = Path(__file__).resolve().parents[2]
# The environment of the machine, less anything that would configure the processes behind the tests' back.
BASE_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNGRAPH_", "OTEL_"))}


@dataclass
class Process:
    name: str
    process: subprocess.Popen[bytes]
    address: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def wait_until(self, path: str, ok: int = 200, deadline: float = 45.0) -> None:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.process.returncode}):\n{self.log.read_text()}"
                )
            try:
                if httpx.get(self.address + path, timeout=5).status_code == ok:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name}: {path} never answered {ok}:\n{self.log.read_text()}")

    def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.address}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def stop(self, sig: int = signal.SIGTERM, wait: float = 20.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def _spawn(name: str, args: list[str], env: dict[str, str], workdir: Path, port: int) -> Process:
    log = workdir / f"{name}.log"
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.server.cli", *args],
            cwd=REPO,
            env={**BASE_ENV, "PYTHONUNBUFFERED": "1", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Process(name, process, f"http://127.0.0.1:{port}", log, env)


def start_sandbox(workdir: Path, *extra: str, webhook_url: str = "", webhook_secret: str = "") -> Process:
    """`learngraph sandbox`; its `env` holds the variables it prints for a gateway."""
    port = free_port()
    args = [
        "sandbox",
        "--sandbox-port",
        str(port),
        "--people",
        "20",
        "--identity-file",
        str(workdir / "identity.yaml"),
    ]
    if webhook_url:
        args += ["--webhook-url", webhook_url, "--webhook-secret", webhook_secret]
    sandbox = _spawn("sandbox", [*args, *extra], {}, workdir, port)
    sandbox.wait_until("/_sandbox/stats")
    exports = [
        line.strip().removeprefix("export ").split("=", 1)
        for line in sandbox.log.read_text().splitlines()
        if line.strip().startswith("export ")
    ]
    sandbox.env = dict(exports)
    return sandbox


def start_gateway(
    workdir: Path,
    name: str,
    sandbox: Process,
    env: dict[str, str],
    *,
    port: int | None = None,
    args: tuple[str, ...] = (),
    wait: bool = True,
) -> Process:
    port = port or free_port()
    gateway_env = {**sandbox.env, "LEARNGRAPH_PORT": str(port), "LEARNGRAPH_ALLOW_ANONYMOUS": "true", **env}
    gateway = _spawn(name, ["serve", *args], gateway_env, workdir, port)
    if wait:
        gateway.wait_until("/readyz")
    return gateway


def sandbox_writes(sandbox: Process, source: str = "DAMSTRA") -> dict[str, int]:
    """The source's requests by shape, but GETs: what was written."""
    counts: dict[str, int] = httpx.get(f"{sandbox.address}/_sandbox/stats", timeout=10).json()["requests"][
        source
    ]
    return {shape: count for shape, count in counts.items() if not shape.startswith("GET ")}


def reset_sandbox_stats(sandbox: Process) -> None:
    httpx.post(f"{sandbox.address}/_sandbox/stats/reset", timeout=10).raise_for_status()
