"""GraphiQL in a real browser with the network cut off: Debian's headless Chromium, driven through its
chromium-driver (Selenium), loads /graphql from a gateway on loopback, runs a query and a subscription
from the page, and sees each answer in the result pane. Every request the page made, as Chromium's
network log records them, went to loopback. Screenshots: test-output/graphiql-*.png.

Chromium's resolver maps every host name but 127.0.0.1 to nothing and it uses no proxy, so a page that
asked for a CDN's script would fail, not fetch it. Skipped when chromium or chromedriver is missing, except
in CI (CI=true), where .ci/run installs both (Debian's chromium and chromium-driver) and their absence fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from gateway.data.callers import Caller, Role
from gateway.data.context import Services
from gateway.data.events import TrainingEvent, TrainingEventType
from gateway.sources import Source
from sandbox.server import Sandbox, serve_on_loopback
from tests.conftest import IN_PROCESS
from tests.tokens import fixture_issuer

REPO = Path(__file__).resolve().parents[2]
TEST_OUTPUT = REPO / "test-output"
WAIT_SECONDS = 60  # two shared cores: GraphiQL's 3.5 MB script, parsed cold
QUERY = "{ lessons(first: 2) { totalCount edges { node { name } } } }"
SUBSCRIPTION = "subscription { trainingEvents { type source } }"
NETWORK_SCHEMES = ("http", "https", "ws", "wss")
# The text of GraphiQL's result pane (a CodeMirror 5 editor).
RESULT = """
const pane = document.querySelector('.graphiql-response .CodeMirror');
return pane ? pane.CodeMirror.getValue() : null;
"""


def _binary(*names: str) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def binaries() -> tuple[str, str]:
    chromium = _binary("chromium", "chromium-browser")
    chromedriver = _binary("chromedriver")
    if chromium is None or chromedriver is None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                "chromium and chromedriver are missing: .ci/run installs them (Debian's chromium, chromium-driver)"
            )
        pytest.skip(
            "chromium or chromedriver is not installed (Debian: apt-get install chromium chromium-driver)"
        )
    return chromium, chromedriver


@pytest.fixture
def browser(binaries: tuple[str, str], tmp_path: Path) -> Iterator[webdriver.Chrome]:
    chromium, chromedriver = binaries
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / 'profile'}",
        # No network beyond loopback: no host name resolves but 127.0.0.1's, and no proxy is asked.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-proxy-server",
        # Nor anything of Chromium's own (updates, sync, safe browsing lists, ...).
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(argument)
    # Every request each page makes (Network.* events), and the console's messages.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


@dataclass
class Served:
    address: str
    services: Services
    headers: dict[str, str]


@pytest.fixture
async def served(
    sandbox: Sandbox, sandbox_transport: httpx.ASGITransport, tmp_path: Path
) -> AsyncIterator[Served]:
    """The gateway as `learngraph demo` makes it, on loopback: GraphiQL on, no anonymous callers, the page
    carrying an admin's token."""
    from gateway.server.app import build_services, create_app
    from gateway.settings import load_settings

    issuer = fixture_issuer()
    env = {
        **sandbox.gateway_env(IN_PROCESS, sandbox.write_identity_file(tmp_path / "identity.yaml")),
        **issuer.env,
        "LEARNGRAPH_GRAPHIQL": "true",
        "LEARNGRAPH_INTROSPECTION": "true",
    }
    settings = load_settings(env)
    services = build_services(settings, transports={source: sandbox_transport for source in Source})
    headers = issuer.headers(Caller("graphiql", Role.ADMIN, None))
    app = create_app(settings, services=services, graphiql_headers=headers)
    try:
        async with serve_on_loopback(app) as address:
            yield Served(address, services, headers)
    finally:
        await services.upstreams.aclose()


def open_and_run(driver: webdriver.Chrome, address: str, query: str) -> None:
    """Load GraphiQL with `query` in its editor (`?q=`, as a shared link does) and press the run button."""
    driver.get(f"{address}/graphql?q={quote(query)}")
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, ".graphiql-execute-button")
    )
    driver.find_element(By.CSS_SELECTOR, ".graphiql-execute-button").click()


def result_pane(driver: webdriver.Chrome) -> str:
    text = driver.execute_script(RESULT)
    return text if isinstance(text, str) else ""


def wait_for_answer(driver: webdriver.Chrome, contains: str) -> dict[str, Any]:
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: contains in result_pane(d))
    answer: dict[str, Any] = json.loads(result_pane(driver))
    return answer


def log_of(driver: webdriver.Chrome, kind: str) -> list[dict[str, Any]]:
    """One of the browser's logs, the entries since it was last read."""
    entries: list[dict[str, Any]] = driver.get_log(kind)  # type: ignore[no-untyped-call]
    return entries


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL a page asked for since the log was last read: requests and WebSockets alike."""
    urls = []
    for entry in log_of(driver, "performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.webSocketCreated":
            urls.append(message["params"]["url"])
    return urls


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    path = TEST_OUTPUT / name
    assert driver.save_screenshot(str(path)), path
    return path


async def test_graphiql_runs_a_query_and_a_subscription_offline(
    browser: webdriver.Chrome, served: Served
) -> None:
    address = served.address
    async with httpx.AsyncClient(base_url=address, headers=served.headers) as http:
        expected = (await http.post("/graphql", json={"query": QUERY})).json()
    assert expected["data"]["lessons"]["totalCount"] > 2

    # A query: typed into the page's address, run with the button, answered in the result pane.
    await asyncio.to_thread(open_and_run, browser, address, QUERY)
    answer = await asyncio.to_thread(wait_for_answer, browser, '"totalCount"')
    assert answer == expected
    shot = await asyncio.to_thread(screenshot, browser, "graphiql-query.png")
    print(f"GraphiQL after its query: {shot}")

    # A subscription: the page's WebSocket carries the token in connection_init (nothing else would let
    # it in), and an event published in the gateway shows in the result pane.
    bus = served.services.events
    await asyncio.to_thread(open_and_run, browser, address, SUBSCRIPTION)
    for _ in range(WAIT_SECONDS * 10):
        if getattr(bus, "subscriber_count", 0):
            break
        await asyncio.sleep(0.1)
    assert getattr(bus, "subscriber_count", 0) == 1, "the page's subscription never reached the gateway"
    event = TrainingEvent(TrainingEventType.SCHEDULE_CREATED, Source.DAMSTRA, datetime.now(UTC), "10000")
    assert await bus.publish(event)
    answer = await asyncio.to_thread(wait_for_answer, browser, "SCHEDULE_CREATED")
    assert answer == {"data": {"trainingEvents": {"type": "SCHEDULE_CREATED", "source": "DAMSTRA"}}}
    shot = await asyncio.to_thread(screenshot, browser, "graphiql-subscription.png")
    print(f"GraphiQL after its subscription's event: {shot}")

    # Every request of both pages went to the gateway on loopback: its page, its own copies of the
    # scripts, its /graphql over HTTP and the WebSocket.
    urls = await asyncio.to_thread(requested_urls, browser)
    network = [url for url in urls if urlsplit(url).scheme in NETWORK_SCHEMES]
    assert network and all(urlsplit(url).hostname == "127.0.0.1" for url in network), network
    paths = {urlsplit(url).path for url in network}
    assert {
        "/graphql",
        "/graphiql/static/graphiql.min.js",
        "/graphiql/static/react.production.min.js",
    } <= paths
    assert f"{address.replace('http://', 'ws://')}/graphql" in network
    # Nothing failed to load and nothing threw.
    console = await asyncio.to_thread(log_of, browser, "browser")
    assert not [entry for entry in console if entry["level"] == "SEVERE"], console
