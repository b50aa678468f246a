"""What `learngraph demo` shows in its terminal: each log line names the server it came from, uvicorn's
start-up lines give way to one banner, and a browser opens or the demo says plainly why not.

    app = Labelled(create_app(settings), "gateway")     # its log lines read `[gateway] ...`
    label_log_lines()                                   # after configure_logging
    reason = open_browser(url)                          # None when a browser opened
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import webbrowser
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

SERVER = contextvars.ContextVar[str | None]("learngraph_server", default=None)
FORMAT = "%(asctime)s %(levelname)s %(server)s%(name)s: %(message)s"
# What uvicorn logs as each server starts: two servers said each twice, and the banner says it once.
_START_UP = (
    "Started server process",
    "Waiting for application startup",
    "Application startup complete",
    "Uvicorn running on",
)


class Labelled:
    """An ASGI app whose log lines (its requests', its lifespan's, uvicorn's about it) carry `label`."""

    def __init__(self, app: ASGIApp, label: str) -> None:
        self.app = app
        self.label = label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Set and left set: each request runs in a task of its own, which the setting does not outlive,
        # and the line uvicorn logs after an app raised belongs to the app too.
        SERVER.set(self.label)
        await self.app(scope, receive, send)


class ServerLabel(logging.Filter):
    """Gives each record `server`: `[gateway] `, `[sandbox] `, or nothing outside a labelled server."""

    def filter(self, record: logging.LogRecord) -> bool:
        label = SERVER.get()
        record.server = f"[{label}] " if label else ""
        return True


class QuietStartUp(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(_START_UP))


def label_log_lines() -> None:
    """Every root handler's lines name their server; uvicorn's start-up lines are left to the banner."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(ServerLabel())
        handler.setFormatter(logging.Formatter(FORMAT))
    logging.getLogger("uvicorn.error").addFilter(QuietStartUp())


def open_browser(url: str, environ: Mapping[str, str] = os.environ) -> str | None:
    """Opens `url` in a browser; None when one opened, else why none did, in a few words."""
    if sys.platform.startswith("linux") and not (
        environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or environ.get("BROWSER")
    ):
        # Python would fall back to a text browser (lynx, w3m) in this very terminal.
        return "this machine has no graphical display (DISPLAY is not set)"
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error as exc:
        return f"no browser could be started ({exc})"
    return None if opened else "no browser was found"


__all__ = ["SERVER", "Labelled", "ServerLabel", "label_log_lines", "open_browser"]
