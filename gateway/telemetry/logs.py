"""Log lines as JSON objects, one a line, each with the request id it was written for.

    handler.setFormatter(JsonLines()); handler.addFilter(RequestId())   # log_redaction.configure_logging

    {"time": "2026-12-06T12:00:00.123Z", "level": "INFO", "logger": "gateway.access",
     "message": "POST /graphql 200 query Dashboard ok in 12.1 ms, 4 upstream requests, by alice",
     "request_id": "5f0c...", "operation_name": "Dashboard", "duration_ms": 12.1, ...}

A record's `fields` (`extra={"fields": {...}}`, the access line's) become keys of its object.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from gateway.telemetry.operation import current_request_id


class RequestId(logging.Filter):
    """Gives each record the id of the request it was written for (None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        seconds = int(record.created)
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{int((record.created - seconds) * 1000):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update((key, value) for key, value in fields.items() if key not in line)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return orjson.dumps(line, default=str).decode()
