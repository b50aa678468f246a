"""Keep credentials out of every log line.

httpx logs each request's full URL at INFO, and LearningLogin's token rides in the query
string; upstream error texts can echo a token too. A filter on the handlers rewrites any
record that contains a configured secret before it is written.

    configure_logging("INFO", settings.secrets())
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "[redacted]"


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


def configure_logging(level: str | int, secrets: Iterable[str]) -> None:
    """Root logging to stderr with redaction on the handler, so every logger's records pass it."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx's per-request INFO line adds nothing our own DEBUG line lacks.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def add_redaction(secrets: Iterable[str]) -> None:
    """Redact on handlers someone else installed (uvicorn's, a test's)."""
    redactor = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
