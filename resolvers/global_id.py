"""Relay global IDs (docs/contract.md §5): standard base64 of `<TypeName>:<source>:<nativeId>`.

encode("User", Source.DAMSTRA, "12345") == "VXNlcjpkYW1zdHJhOjEyMzQ1"
decode("VXNlcjpkYW1zdHJhOjEyMzQ1") == GlobalId("User", Source.DAMSTRA, "12345")
"""

from __future__ import annotations

import base64
import binascii
import functools
from dataclasses import dataclass

from gateway.log_redaction import loggable
from gateway.sources import Source

_BY_SLUG = {source.slug: source for source in Source}


class InvalidGlobalId(ValueError):
    code = "INVALID_ID"


@dataclass(frozen=True)
class GlobalId:
    type_name: str
    source: Source
    native_id: str

    def __str__(self) -> str:
        return encode(self.type_name, self.source, self.native_id)


@functools.lru_cache(maxsize=65536)
def encode(type_name: str, source: Source, native_id: str) -> str:
    # Kept: a dashboard encodes the same few thousand people's and schedules' IDs on every read.
    return base64.b64encode(f"{type_name}:{source.slug}:{native_id}".encode()).decode("ascii")


def decode(value: str, expected_type: str | None = None) -> GlobalId:
    # An answer names the ID it refuses, but never a huge one whole.
    shown = value if len(value) <= 64 else value[:61] + "..."
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidGlobalId(f"{shown!r} is not a LearnGraph ID") from None
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2] or parts[1] not in _BY_SLUG:
        raise InvalidGlobalId(f"{shown!r} is not a LearnGraph ID")
    decoded = GlobalId(parts[0], _BY_SLUG[parts[1]], parts[2])
    if expected_type is not None and decoded.type_name != expected_type:
        type_name = loggable(decoded.type_name, 64)
        raise InvalidGlobalId(f"{shown!r} is a {type_name} ID, not a {expected_type} ID")
    return decoded
