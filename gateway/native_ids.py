"""Strict patterns for the native IDs that go into upstream URLs.

An ID reaches a URL path only after it matched here, so `../`, `?`, `#`, `/` and
percent-escapes can never steer a request somewhere else.
"""

from __future__ import annotations

import re

from gateway.errors import InvalidNativeId

_NUMERIC = re.compile(r"[0-9]{1,18}")
# Opaque string IDs (TRAINING_RECORDS api_id, iScout ids, course codes): letters, digits, `_`, `-`
# and inner dots, never a bare `.`/`..` segment.
_OPAQUE = re.compile(r"[A-Za-z0-9_-](?:[A-Za-z0-9_.-]{0,126}[A-Za-z0-9_-])?")


def numeric_id(value: str | int, kind: str = "numeric id") -> str:
    text = str(value)
    if not _NUMERIC.fullmatch(text):
        raise InvalidNativeId(kind, text)
    return text


def opaque_id(value: str, kind: str = "id") -> str:
    if not _OPAQUE.fullmatch(value) or ".." in value:
        raise InvalidNativeId(kind, value)
    return value


def is_numeric_id(value: str) -> bool:
    return _NUMERIC.fullmatch(value) is not None
