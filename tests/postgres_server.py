"""A real PostgreSQL server for the tests: its own cluster in a temporary directory, on a free loopback port.

    server = PostgresServer.start()
    server.url                      # postgresql+asyncpg://postgres@127.0.0.1:<port>/postgres
    server.create_database("one")   # a fresh database for one test
    server.stop()

initdb and postgres refuse to run as root: as root (CI, this machine) the cluster is made and run as
`nobody`, in a directory of its own outside root's private temporary directories. The binaries come from
PATH or Debian's /usr/lib/postgresql/<version>/bin. `postgres_binaries_or_skip()` skips when there are
none, except in CI (CI=true), where the tests must run (`.ci/run` installs the `postgresql` package).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from sandbox.server import free_port

UNPRIVILEGED = "nobody"


def postgres_binaries_or_skip() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("postgres") is not None:
        # /usr/local/bin links to Debian's versioned directory: resolve to where its siblings are.
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if versions:
        return Path(versions[-1]).parent
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("PostgreSQL is missing in CI: .ci/run installs it (apt-get install postgresql)")
    pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")


def _version(path: str) -> float:
    part = path.split("/")[-3]
    try:
        return float(part)
    except ValueError:
        return 0.0


@dataclass
class PostgresServer:
    binaries: Path
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def start(cls) -> PostgresServer:
        binaries = postgres_binaries_or_skip()
        # Not pytest's tmp_path: under root it sits in a directory `nobody` may not enter.
        workdir = Path(tempfile.mkdtemp(prefix="learngraph-postgres-"))
        server = cls(binaries, free_port(), workdir)
        server._as_owner(workdir)
        server._run(
            [
                str(binaries / "initdb"),
                "--pgdata",
                str(workdir / "data"),
                "--username",
                "postgres",
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-sync",
            ]
        )
        server.restart()
        return server

    @property
    def url(self) -> str:
        return self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def restart(self) -> None:
        assert self.process is None, "already running"
        command = [
            str(self.binaries / "postgres"),
            "-D",
            str(self.workdir / "data"),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.workdir),  # its Unix socket, beside the data rather than in /var/run
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "synchronous_commit=off",
        ]
        log = (self.workdir / "postgres.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **self._identity())
        log.close()
        deadline = time.monotonic() + 30
        while not self._accepts():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = (self.workdir / "postgres.log").read_text(errors="replace")
                self.stop()
                raise RuntimeError(f"postgres did not start: {said[-2000:]}")
            time.sleep(0.05)

    async def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        connection = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.url_of(name)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: a smart shutdown once clients leave
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                pass
        except OSError:
            return False
        ready = self.binaries / "pg_isready"
        if not ready.exists():
            return True
        checked = subprocess.run(
            [str(ready), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-q"], check=False
        )
        return checked.returncode == 0

    def _identity(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(UNPRIVILEGED)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _as_owner(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(UNPRIVILEGED)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        path.chmod(0o700)

    def _run(self, command: list[str]) -> None:
        done = subprocess.run(command, capture_output=True, check=False, cwd=self.workdir, **self._identity())
        if done.returncode != 0:
            said = (done.stdout + done.stderr).decode(errors="replace")
            raise RuntimeError(f"{Path(command[0]).name} failed: {said[-2000:]}")
