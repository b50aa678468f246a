"""What a bench result was measured on: CPU, cores, memory, OS, Python, the libraries in the hot path."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = (
    "strawberry-graphql",
    "graphql-core",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "httpx",
    "httpcore",
    "anyio",
    "sniffio",
    "pydantic",
    "orjson",
)


def _cpuinfo() -> dict[str, str]:
    info: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            name, _, value = line.partition(":")
            info.setdefault(name.strip(), value.strip())
    except OSError:
        pass
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _command_version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout or done.stderr).strip().splitlines()
    return text[0] if text else None


def git_state(root: Path) -> dict[str, Any]:
    """The commit, and a digest of the working tree's changes (tracked and untracked Python files):
    two equal digests mean the same code ran."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True).stdout.strip()

    digest = hashlib.sha256(git("diff", "HEAD").encode())
    for name in sorted(git("ls-files", "--others", "--exclude-standard", "--", "*.py").splitlines()):
        try:
            digest.update(name.encode() + (root / name).read_bytes())
        except OSError:
            continue
    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD") or None,
        "dirty": bool(status),
        "changes_digest": digest.hexdigest()[:16],
    }


def describe(tools: dict[str, str | None]) -> dict[str, Any]:
    """The machine and software; `tools` maps a tool name to its binary (wrk, py-spy) or None."""
    cpu = _cpuinfo()
    return {
        "cpu_model": cpu.get("model name") or cpu.get("Model") or platform.processor() or "unknown",
        "cpu_mhz": cpu.get("cpu MHz"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": _memory_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": {name: _version(name) for name in LIBRARIES},
        "tools": {
            name: (_command_version([binary, "--version"]) if binary else None)
            for name, binary in tools.items()
        },
    }
