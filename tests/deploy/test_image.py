"""deploy/Dockerfile without a Docker daemon: what enters the build context (.dockerignore), that every
package it installs is locked with hashes, and its install steps run as a plain pip install."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = (REPO / "deploy" / "Dockerfile").read_text()
PACKAGES = ("gateway", "resolvers", "sandbox")


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule (moby/patternmatcher): the last pattern matching the path or one of its parent
    folders decides; `!` lets back in; `*` and `?` stop at a slash, `**` does not."""
    parts = path.split("/")
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        pattern = raw.removeprefix("!").strip("/")
        regex = "".join(
            "(.*/)?" if token == "**/" else ".*" if token == "**" else "[^/]*" if token == "*" else
            "[^/]" if token == "?" else token if token.startswith("[") else re.escape(token)
            for token in re.findall(r"\*\*/|\*\*|\*|\?|\[[^]]*\]|[^*?\[]+", pattern)
        )  # fmt: skip
        if any(re.fullmatch(regex, "/".join(parts[:i])) for i in range(1, len(parts) + 1)):
            excluded = not negated
    return excluded


def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def copied_sources() -> list[str]:
    """The build context paths the Dockerfile's COPY lines name (not those copied from a stage)."""
    sources: list[str] = []
    for line in DOCKERFILE.splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(word.startswith("--from") for word in words):
            sources += words[1:-1]
    return sources


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_more() -> None:
    patterns = dockerignore()
    assert set(copied_sources()) == {
        "requirements.lock",
        "deploy/build-requirements.lock",
        "pyproject.toml",
        "README.md",
        *PACKAGES,
    }
    for source in copied_sources():
        assert not dockerignore_excludes(source, patterns), source
    for package in PACKAGES:
        assert not dockerignore_excludes(f"{package}/server/app.py", patterns)
    for left_out in [
        ".git/HEAD",
        ".venv/bin/python",
        "tests/test_settings.py",
        "deploy/compose.yaml",
        "deploy/helm/learngraph/values.yaml",
        "tests/deploy/tools/node_modules/helm-3.6/bin/helm",
        "bench/results/x.json",
        "gateway/__pycache__/settings.cpython-311.pyc",
        "sandbox/oidc.pyc",
        "requirements-dev.lock",
    ]:
        assert dockerignore_excludes(left_out, patterns), left_out


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    assert dockerignore_excludes("a/b/c.txt", ["a"])
    assert not dockerignore_excludes("a/b/c.txt", ["*", "!a/b/c.txt"])
    assert not dockerignore_excludes("ab/c", ["a*/d"])
    assert dockerignore_excludes("x/y/__pycache__/z.pyc", ["**/__pycache__"])
    assert not dockerignore_excludes("x/y.py", ["*.py"])  # `*` stops at a slash


def test_every_package_the_image_installs_is_locked_with_its_hash() -> None:
    installs = re.findall(r"pip install ([^\n\\&]*)", DOCKERFILE)
    assert installs
    for arguments in installs:
        assert "--require-hashes -r" in arguments or "--no-deps" in arguments, arguments
    for lock in ("requirements.lock", "deploy/build-requirements.lock"):
        text = (REPO / lock).read_text()
        pins = re.findall(
            r"^([A-Za-z0-9_.\-\[\]]+)==[^\n]* \\\n((?:\s+--hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M
        )
        requirements = re.findall(r"^[A-Za-z0-9]", text, re.M)
        assert pins and len(pins) == len(requirements), lock
    # The build backend's lock answers pyproject.toml's [build-system] requires.
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    wanted = (REPO / "deploy" / "build-requirements.in").read_text().split("\n")
    assert [line for line in wanted if line and not line.startswith("#")] == build


def test_the_dockerfile_steps_run_as_a_plain_install(tmp_path: Path) -> None:
    """The build stage's last step on what the context holds: a wheel with all three packages and the
    command. (The locked dependencies are the ones .venv installs with --require-hashes; the base image,
    the layers and the container's start are not run here: no Docker daemon.)"""
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources():
        if (REPO / source).is_dir():
            shutil.copytree(
                REPO / source, context / Path(source).name, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            (context / Path(source).name).write_bytes((REPO / source).read_bytes())
    prefix = tmp_path / "install"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-build-isolation",
         # Into the prefix only: without it pip first uninstalls the running venv's editable learngraph.
         "--ignore-installed",
         "--prefix", str(prefix), str(context)],
        check=True, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    assert (prefix / "bin" / "learngraph").exists()
    for package in PACKAGES:
        wanted = {p.relative_to(REPO) for p in (REPO / package).rglob("*.py")}
        assert {p.relative_to(site) for p in (site / package).rglob("*.py")} == wanted
    # GraphiQL's page, its scripts and their notes are package data ([tool.setuptools.package-data]).
    graphiql = Path("gateway", "server", "graphiql")
    assert _data_files(site, graphiql) == _data_files(REPO, graphiql) != set()
    # The installed copy, not this checkout (whose editable install sits on sys.meta_path): it prints the schema.
    check = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f)];"
        f"sys.path.insert(0, {str(site)!r}); import sandbox.server, gateway.server.cli as cli;"
        f"assert sandbox.server.__file__.startswith({str(site)!r}); sys.exit(cli.main(['export-schema']))"
    )
    printed = subprocess.run(
        [sys.executable, "-c", check], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert printed.stdout == (REPO / "schema.graphql").read_text()


def _data_files(root: Path, package: Path) -> set[Path]:
    return {
        path.relative_to(root)
        for path in (root / package).rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    }
