"""The demo's terminal (gateway/server/console.py, `learngraph demo`): one banner once both servers listen,
each log line labelled with its server, a plain word when no browser opens; `make demo PORT=` and
`python -m gateway`."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import subprocess
import sys
import webbrowser
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gateway.server import cli, console
from gateway.server.console import Labelled, label_log_lines, open_browser
from sandbox.server import free_port
from tests.server.auth.test_demo import demo  # noqa: F401 (the fixture)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The root logger's lines as the demo formats them (console.label_log_lines on a handler of ours)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    root = logging.getLogger()
    # uvicorn's loggers as a fresh process has them: a server started with uvicorn's own log config (as
    # serve_on_loopback's are) gives them handlers and levels of their own and stops their propagation.
    uvicorns = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger.level, logger.propagate, logger.handlers[:], logger.filters[:]) for logger in uvicorns]
    saved_root = (root.handlers[:], root.level)
    for logger in uvicorns:
        logger.setLevel(logging.NOTSET)
        logger.propagate, logger.handlers[:] = True, []
    root.handlers[:] = [Keep()]
    root.setLevel(logging.INFO)
    label_log_lines()
    try:
        yield lines
    finally:
        root.handlers[:], root.level = saved_root[0], saved_root[1]
        for logger, (level, propagate, handlers, filters) in zip(uvicorns, saved, strict=True):
            logger.setLevel(level)
            logger.propagate, logger.handlers[:], logger.filters[:] = propagate, handlers, filters


def _app(answer: str) -> Starlette:
    async def hello(request: object) -> PlainTextResponse:
        logging.getLogger("tests.app").info("answering %s", answer)
        return PlainTextResponse(answer)

    return Starlette(routes=[Route("/", hello)])


async def test_two_servers_one_banner_each_line_named_by_its_server(log_lines: list[str]) -> None:
    ports = {"sandbox": free_port("127.0.0.1"), "gateway": free_port("127.0.0.1")}
    servers = [
        uvicorn.Server(uvicorn.Config(Labelled(_app(label), label), port=port, log_config=None))
        for label, port in ports.items()
    ]
    banners: list[bool] = []  # each server listening, when the banner was printed
    requests: list[asyncio.Task[None]] = []

    async def answer_then_stop() -> None:
        async with httpx.AsyncClient() as http:
            for label, port in ports.items():
                assert (await http.get(f"http://127.0.0.1:{port}/")).text == label
        for server in servers:
            server.should_exit = True

    def ready() -> None:
        banners.append(all(server.started for server in servers))
        requests.append(asyncio.create_task(answer_then_stop()))

    await cli._serve(*servers, ready=ready)
    await requests[0]
    assert banners == [True]
    # uvicorn's start-up lines are the banner's now; each line names the server it came from.
    assert not [line for line in log_lines if "Started server process" in line or "Uvicorn running" in line]
    for label in ports:
        assert any(f"INFO [{label}] tests.app: answering {label}" in line for line in log_lines), log_lines
        assert any(re.search(rf"\[{label}\] uvicorn.access: .*GET / ", line) for line in log_lines), log_lines
        assert any(f"[{label}] uvicorn.error: Shutting down" in line for line in log_lines), log_lines
    # All but the test's own client's lines.
    unlabelled = [line for line in log_lines if not re.search(r"INFO (\[(sandbox|gateway)\] |httpx: )", line)]
    assert not unlabelled, unlabelled


def test_no_browser_is_said_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []

    def fake_open(url: str) -> bool:
        opened.append(url)
        return False

    monkeypatch.setattr(webbrowser, "open", fake_open)
    monkeypatch.setattr(sys, "platform", "linux")
    # A Linux machine with no display: Python would start a text browser in the demo's own terminal.
    assert (
        open_browser("http://x/graphql", {}) == "this machine has no graphical display (DISPLAY is not set)"
    )
    assert opened == []
    assert open_browser("http://x/graphql", {"DISPLAY": ":0"}) == "no browser was found"
    monkeypatch.setattr(webbrowser, "open", lambda url: True)
    assert open_browser("http://x/graphql", {"WAYLAND_DISPLAY": "wayland-0"}) is None

    def broken(url: str) -> bool:
        raise webbrowser.Error("could not locate runnable browser")

    monkeypatch.setattr(webbrowser, "open", broken)
    assert open_browser("http://x/graphql", {"BROWSER": "firefox"}) == (
        "no browser could be started (could not locate runnable browser)"
    )


@pytest.mark.usefixtures("demo")  # what `learngraph demo` builds, not served
def test_the_demo_prints_one_banner_then_says_why_no_browser_opened(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "open_browser", lambda url: "no browser was found")
    assert cli.main(["demo", "--port", "8123", "--sandbox-port", "8124", "--open-browser"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("LearnGraph demo is ready") == 1
    assert "GraphiQL   http://127.0.0.1:8123/graphql" in printed
    assert "Sandbox    http://127.0.0.1:8124" in printed
    assert len(re.findall(r"^\s+ey[\w-]+\.[\w-]+\.[\w-]+$", printed, re.M)) == 3
    assert printed.rstrip().endswith(
        "Could not open a browser: no browser was found. Open http://127.0.0.1:8123/graphql in one yourself."
    )


def test_make_demo_takes_its_ports() -> None:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    # -n: the commands, not run; -o: the virtualenv counts as built.
    done = subprocess.run(
        [make, "-n", "-o", ".venv/.installed", "demo", "PORT=9000", "SANDBOX_PORT=9100"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "learngraph demo --open-browser --port 9000 --sandbox-port 9100" in done.stdout


def test_python_m_gateway_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert done.stdout == (REPO / "schema.graphql").read_text()
    assert console.SERVER.get() is None  # nothing here ran inside a labelled server
