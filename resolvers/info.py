"""The resolver `info` type, and the guard that keeps one failing source from sinking a list."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

import strawberry

from gateway.data.context import Context
from gateway.errors import UpstreamError

Info = strawberry.Info[Context, None]

T = TypeVar("T")


def path_of(info: Info) -> list[str | int]:
    return [part for part in info.path.as_list()]


async def or_reported(info: Info, work: Awaitable[T], fallback: T) -> T:
    """The work's answer; on an upstream failure, the fallback and a listed error (partial data)."""
    try:
        return await work
    except UpstreamError as exc:
        info.context.report(exc, path_of(info))
        return fallback
