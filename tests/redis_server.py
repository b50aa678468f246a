"""A real redis-server for the tests: started on a free loopback port in a temporary directory.

    server = RedisServer.start(tmp_dir)
    server.url                 # redis://127.0.0.1:<port>/0
    server.stop(); server.restart()   # an outage, and Redis back on the same port (empty: no persistence)

`redis_server_or_skip()` skips when there is no redis-server, except in CI (CI=true), where the tests
must run (`.ci/run` installs it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from sandbox.server import free_port


def redis_server_or_skip() -> str:
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("redis-server is missing in CI: .ci/run installs it (apt-get install redis-server)")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    return found


@dataclass
class RedisServer:
    binary: str
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls, workdir: Path) -> RedisServer:
        server = cls(redis_server_or_skip(), free_port(), workdir)
        server.restart()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def restart(self) -> None:
        assert self.process is None, "already running"
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"]
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    said = (self.workdir / "redis.log").read_text()
                    raise RuntimeError(f"redis-server did not start: {said}") from exc
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        with self.client() as client:
            client.flushall()
