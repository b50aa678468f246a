"""Adding a vendor is new files plus one registration line, proven end to end.

The test copies the repository, writes the made-up vendor "Acme Academy" from `tests/vendors/acme/`
(connector, data-layer mapping, sandbox app: new files only), adds the one line `ACME = "acme"` to
`Source`, then runs that copy's sandbox and gateway as processes and queries the graph over HTTP.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sandbox.server import free_port

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).parent / "acme"
PACKAGES = ("gateway", "resolvers", "sandbox")
ANCHOR = '    ISCOUT = "iscout"\n'
REGISTRATION = '    ACME = "acme"\n'


def gid(type_name: str, native: str) -> str:
    return base64.b64encode(f"{type_name}:acme:{native}".encode()).decode()


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", *PACKAGES], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def add_vendor(copy: Path) -> list[Path]:
    """The vendor's files written into `copy`, and its one line; answers the files added."""
    added = []
    for template in sorted(TEMPLATES.rglob("*.txt")):
        target = copy / template.relative_to(TEMPLATES).with_suffix("")
        assert not target.exists(), f"{target} exists: adding a vendor must only add files"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(template.read_text())
        added.append(target)
    sources = copy / "gateway" / "sources.py"
    text = sources.read_text()
    assert text.count(ANCHOR) == 1
    sources.write_text(text.replace(ANCHOR, ANCHOR + REGISTRATION))
    return added


@pytest.fixture(scope="module")
def acme_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("repo")
    for name in tracked_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((REPO / name).read_bytes())
    added = add_vendor(copy)
    # What changed against the repository: the new files, and one line of one existing file.
    changed = [name for name in tracked_files() if (copy / name).read_bytes() != (REPO / name).read_bytes()]
    assert changed == ["gateway/sources.py"]
    before = (REPO / "gateway/sources.py").read_text().splitlines()
    after = (copy / "gateway/sources.py").read_text().splitlines()
    assert [line for line in after if line not in before] == [REGISTRATION.rstrip("\n")]
    assert {p.relative_to(copy).parts[0] for p in added} == {"gateway", "sandbox"}
    return copy


def _start(copy: Path, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "gateway.server.cli", *args],
            cwd=copy,
            env={**env, "PYTHONPATH": str(copy)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(url: str, process: subprocess.Popen[bytes], log: Path, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end and process.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} never answered 200:\n{log.read_text()}")


@pytest.fixture(scope="module")
def acme_gateway(acme_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The copy's sandbox and gateway, running; yields (gateway address, sandbox address)."""
    logs = tmp_path_factory.mktemp("logs")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEARNGRAPH_", "OTEL_"))}
    sandbox_port, gateway_port = free_port(), free_port()
    sandbox_address = f"http://127.0.0.1:{sandbox_port}"
    identity = logs / "identity.yaml"
    sandbox = _start(
        acme_repo,
        ["sandbox", "--sandbox-port", str(sandbox_port), "--people", "12", "--identity-file", str(identity)],
        env,
        logs / "sandbox.log",
    )
    gateway = None
    try:
        _wait(f"{sandbox_address}/_sandbox/stats", sandbox, logs / "sandbox.log")
        exports = [
            line.strip().removeprefix("export ").split("=", 1)
            for line in (logs / "sandbox.log").read_text().splitlines()
            if line.strip().startswith("export ")
        ]
        gateway_env = {
            **env,
            **dict(exports),
            "LEARNGRAPH_PORT": str(gateway_port),
            "LEARNGRAPH_ALLOW_ANONYMOUS": "true",
            # An added vendor's connection limit and pace, found by its slug as its URL is.
            "LEARNGRAPH_ACME_MAX_CONNECTIONS": "4",
            "LEARNGRAPH_ACME_MAX_RPS": "500",
        }
        assert gateway_env["LEARNGRAPH_ACME_URL"] == f"{sandbox_address}/acme/v1"
        # The added vendor's token as a mounted secret would give it: `_TOKEN_FILE`, a trailing newline.
        token_file = logs / "acme-token"
        token_file.write_text(gateway_env.pop("LEARNGRAPH_ACME_TOKEN") + "\n")
        gateway_env["LEARNGRAPH_ACME_TOKEN_FILE"] = str(token_file)
        gateway = _start(acme_repo, ["serve"], gateway_env, logs / "gateway.log")
        address = f"http://127.0.0.1:{gateway_port}"
        _wait(f"{address}/readyz", gateway, logs / "gateway.log")
        yield address, sandbox_address
    finally:
        for process in (gateway, sandbox):
            if process is not None:
                process.terminate()
                process.wait(10)


def query(address: str, document: str, variables: dict[str, object] | None = None) -> dict[str, object]:
    answer = httpx.post(
        f"{address}/graphql", json={"query": document, "variables": variables or {}}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


def vendor_rows(sandbox_address: str) -> list[dict[str, object]]:
    """The vendor's own truth, read from its API."""
    headers = {"Authorization": "Bearer sandbox-acme-token"}
    body = httpx.get(f"{sandbox_address}/acme/v1/completions?limit=1000", headers=headers, timeout=10).json()
    rows: list[dict[str, object]] = body["results"]
    return rows


COMPLETIONS = """{ completions(source: ACME, first: 100) { edges { node {
    id source completedAt score lesson { id code name } user { id accounts { source nativeId } } } } } }"""


def test_the_added_vendor_is_ready_and_configured(acme_gateway: tuple[str, str]) -> None:
    address, _ = acme_gateway
    ready = httpx.get(f"{address}/readyz", timeout=10).json()
    assert ready["upstreams"]["ACME"] == {"status": "ok"}
    # Its pace was read (LEARNGRAPH_ACME_MAX_RPS): the readiness probe's request went through it.
    metrics = httpx.get(f"{address}/metrics", timeout=10).text
    paced = 'learngraph_upstream_pacing_wait_seconds_count{source="acme"} '
    (count,) = [line.removeprefix(paced) for line in metrics.splitlines() if line.startswith(paced)]
    assert float(count) >= 1


def test_its_completions_join_the_merged_stream(acme_gateway: tuple[str, str]) -> None:
    address, sandbox_address = acme_gateway
    rows = vendor_rows(sandbox_address)
    assert rows
    nodes = [edge["node"] for edge in query(address, COMPLETIONS)["completions"]["edges"]]  # type: ignore[index]
    assert sorted(node["id"] for node in nodes) == sorted(gid("Completion", str(row["id"])) for row in rows)
    by_id = {gid("Completion", str(row["id"])): row for row in rows}
    for node in nodes:
        row = by_id[node["id"]]
        assert node["source"] == "ACME"
        assert node["completedAt"].startswith(str(row["completed_on"]))
        assert node["score"] == row["score"]
        assert node["lesson"] == {
            "id": gid("Lesson", str(row["course_code"])),
            "code": row["course_code"],
            "name": row["course_name"],
        }
        assert node["user"]["accounts"] == [{"source": "ACME", "nativeId": row["user_id"]}]
    dates = [node["completedAt"] for node in nodes]
    assert dates == sorted(dates, reverse=True)
    # Merged with the built-in four: the whole stream holds other sources too.
    everyone = query(address, "{ completions(first: 500) { edges { node { source } } } }")
    sources = {edge["node"]["source"] for edge in everyone["completions"]["edges"]}  # type: ignore[index]
    assert {"ACME", "DAMSTRA", "ISCOUT"} <= sources


def test_its_lessons_people_and_ids_resolve(acme_gateway: tuple[str, str]) -> None:
    address, sandbox_address = acme_gateway
    rows = vendor_rows(sandbox_address)
    lessons = query(
        address, "{ lessons(source: ACME, first: 20) { edges { node { id source code name } } } }"
    )
    codes = {edge["node"]["code"]: edge["node"]["name"] for edge in lessons["lessons"]["edges"]}  # type: ignore[index]
    assert codes == {str(row["course_code"]): row["course_name"] for row in rows}

    row = rows[0]
    found = query(
        address,
        "query($c: ID!, $l: ID!) { node(id: $c) { ... on Completion { score } } lesson(id: $l) { name } }",
        {"c": gid("Completion", str(row["id"])), "l": gid("Lesson", str(row["course_code"]))},
    )
    assert found == {"node": {"score": row["score"]}, "lesson": {"name": row["course_name"]}}

    person = query(
        address,
        "query($u: ID!) { user(id: $u) { completions(first: 10) { edges { node { id } } } } }",
        {"u": gid("User", str(row["user_id"]))},
    )
    theirs = sorted(gid("Completion", str(r["id"])) for r in rows if r["user_id"] == row["user_id"])
    ids = sorted(edge["node"]["id"] for edge in person["user"]["completions"]["edges"])  # type: ignore[index]
    assert ids == theirs
