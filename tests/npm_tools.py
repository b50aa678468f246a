"""Node tools for the tests, from the npm registry: a folder's package.json and package-lock.json (each
package pinned by version and integrity hash), installed by `npm ci` once per lock file into a cache
folder, as tests/deploy/test_helm.py installs Helm.

    modules = npm_install(Path(__file__).with_name("tools"), "server-tools")    # .../node_modules

Without node and npm the caller is skipped, except in CI (CI=true), where .ci/run installs Debian's
nodejs and npm and a missing one fails the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PINS = ("package.json", "package-lock.json")


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "learngraph"


def node() -> str:
    """The node command, or a skip (a failure in CI) when node or npm is missing."""
    found, npm = shutil.which("node"), shutil.which("npm")
    if found is None or npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are missing: .ci/run installs them (Debian's nodejs and npm)")
        pytest.skip("node and npm are not installed: these tests run npm packages")
    return found


def npm_install(tools: Path, name: str) -> Path:
    """`tools`' pinned packages, installed whole (or not at all) once per lock file: their node_modules."""
    node()
    npm = shutil.which("npm")
    assert npm is not None
    pins = b"".join((tools / pin).read_bytes() for pin in PINS)
    installed = cache_root() / f"{name}-{hashlib.sha256(pins).hexdigest()[:16]}"
    if (installed / "node_modules").is_dir():
        return installed / "node_modules"
    installed.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{installed.name}.", dir=installed.parent))
    try:
        for pin in PINS:
            shutil.copyfile(tools / pin, staging / pin)
        command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        done = subprocess.run(command, cwd=staging, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        try:
            staging.rename(installed)
        except OSError:
            if not (installed / "node_modules").is_dir():  # else another run installed it meanwhile
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return installed / "node_modules"
