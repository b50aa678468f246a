"""Sampling profiles of a running server with py-spy, summarised as where the CPU time went.

    recording = Recording.start(pid, seconds=8, out=Path("gw.txt"))   # py-spy record -f raw
    ... drive load ...
    profile = recording.finish()         # Profile: top functions (self / inclusive), share per package

py-spy samples the process from outside (no change to the code measured) and leaves idle time out,
so shares are shares of CPU time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")

# Package buckets, by the first matching fragment of a frame's file path.
BUCKETS = (
    ("graphql-core", ("graphql/",)),
    ("strawberry", ("strawberry/",)),
    ("sandbox", ("sandbox/",)),
    ("gateway (ours)", ("gateway/",)),
    ("resolvers (ours)", ("resolvers/",)),
    ("aiohttp/yarl/multidict", ("aiohttp/", "yarl/", "multidict/", "propcache/", "aiohappyeyeballs/")),
    ("httpx/httpcore/anyio/h11", ("httpx/", "httpcore/", "anyio/", "h11/", "sniffio/")),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("aiodataloader", ("aiodataloader",)),
    ("tenacity", ("tenacity/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn", ("uvicorn/",)),
    ("orjson", ("orjson",)),
    ("cachetools", ("cachetools/",)),
)
STDLIB = "asyncio/stdlib"


def py_spy_path(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit if Path(explicit).exists() else None
    beside = Path(sys.executable).with_name("py-spy")
    return shutil.which("py-spy") or (str(beside) if beside.exists() else None)


def _bucket(path: str) -> str:
    for name, fragments in BUCKETS:
        if any(fragment in path for fragment in fragments):
            return name
    top = re.split(r"[/.]", path.rsplit("(", 1)[-1], maxsplit=1)[0]
    if top in sys.stdlib_module_names or top.startswith("<frozen"):
        return STDLIB
    if "<string>" in path:
        return "generated code (<string>)"
    return "other"


def _function(frame: str) -> tuple[str, str]:
    """'resolve (graphql/execution/execute.py:123)' -> ('resolve (graphql/execution/execute.py)', path)."""
    match = _FRAME.match(frame)
    if match is None:
        return frame, frame
    return f"{match['func']} ({match['file']})", match["file"]


@dataclass
class Profile:
    samples: int
    self_top: list[tuple[str, float]] = field(default_factory=list)  # function, share of samples
    inclusive_top: list[tuple[str, float]] = field(default_factory=list)
    by_package: list[tuple[str, float]] = field(default_factory=list)  # by the innermost frame's package

    def as_json(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "self_top": [{"function": f, "share": round(s, 4)} for f, s in self.self_top],
            "inclusive_top": [{"function": f, "share": round(s, 4)} for f, s in self.inclusive_top],
            "by_package": [{"package": p, "share": round(s, 4)} for p, s in self.by_package],
        }


def summarise(raw: str, top: int = 15) -> Profile:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_function(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += n
        own[frames[-1][0]] += n
        packages[_bucket(frames[-1][1])] += n
        for name in {name for name, _ in frames}:
            inclusive[name] += n
    if not total:
        return Profile(0)
    # The event loop, the server and the middleware wrap nearly every stack: they tell nothing.
    plumbing = {STDLIB, "uvicorn", "starlette"}
    telling = [(f, n) for f, n in inclusive.most_common() if n < 0.97 * total and _bucket(f) not in plumbing]
    return Profile(
        samples=total,
        self_top=[(f, n / total) for f, n in own.most_common(top)],
        inclusive_top=[(f, n / total) for f, n in telling[: top + 10]],
        by_package=[(p, n / total) for p, n in packages.most_common()],
    )


@dataclass
class Recording:
    process: subprocess.Popen[bytes]
    out: Path
    log: IO[bytes]

    @classmethod
    def start(cls, binary: str, pid: int, *, seconds: float, out: Path, rate: int = 200) -> Recording:
        command = [binary, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate)]
        command += ["-f", "raw", "-o", str(out), "--nonblocking"]
        log = out.with_suffix(".log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        return cls(process, out, log)

    def finish(self, timeout: float = 60.0) -> Profile | None:
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        if not self.out.exists():
            return None
        return summarise(self.out.read_text())
