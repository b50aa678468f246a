"""Keep credentials out of every log line, and every log line one line.

httpx logs each request's full URL at INFO, and LearningLogin's token rides in the query
string; upstream error texts can echo a token too. A filter on the handlers rewrites any
record that contains a configured secret before it is written. A caller's input (an ID, a
search, an alias) reaches log lines too: `loggable` shortens it and escapes its control
characters, and a second filter escapes any CR, LF or other control character left in a
message, so no input can forge a line. Tracebacks keep their lines.

    configure_logging("INFO", settings.secrets(), settings.log_format)
    log.info("refused %s", loggable(raw_id))
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Literal

from gateway.telemetry.logs import JsonLines, RequestId

REDACTED = "[redacted]"
LOGGED_VALUE_CHARACTERS = 200
# The C0 controls but the tab, DEL, the C1 controls, and Unicode's line and paragraph separators.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _escaped(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


def escape_controls(text: str) -> str:
    """`text` with its control characters written as escapes (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(_escaped, text)


def loggable(value: object, limit: int = LOGGED_VALUE_CHARACTERS) -> str:
    """A caller's value fit for a log line: at most `limit` characters of it, controls escaped."""
    text = str(value)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return escape_controls(text)


class OneLine(logging.Filter):
    """Escapes the control characters of a record's message: one record, one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _CONTROL.search(message):
            record.msg, record.args = escape_controls(message), None
        return True


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self.secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(
    level: str | int, secrets: Iterable[str], log_format: Literal["text", "json"] = "text"
) -> None:
    """Root logging to stderr with redaction on the handler, so every logger's records pass it.
    `json`: a JSON object a line, with the request id each record was written for."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    handler.addFilter(OneLine())
    handler.addFilter(RequestId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx's per-request INFO line adds nothing our own DEBUG line lacks.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def add_redaction(secrets: Iterable[str]) -> None:
    """Redact on handlers someone else installed (uvicorn's, a test's)."""
    redactor, one_line = RedactSecrets(secrets), OneLine()
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
        handler.addFilter(one_line)
