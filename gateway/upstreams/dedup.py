"""Identical reads in flight at the same moment reach the upstream once.

Resolvers of one GraphQL answer often ask for the same thing at once (one user from several places,
one page of a listing); the first read is sent and the others wait for its answer, or its failure.

    reads = SharedReads()
    body = await reads.share(read_key("GET", path, params, None), lambda: fetch(path, params))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, TypeVar, cast

T = TypeVar("T")


class SharedReads:
    """The reads in flight, by key: a read asked again before it answered is not sent again."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def share(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        pending = self._pending.get(key)
        if pending is not None:
            return cast(T, await asyncio.shield(pending))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await read()
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._pending[key]


def read_key(method: str, path: str, params: Mapping[str, Any] | None, json: Any) -> tuple[Any, ...]:
    """What makes two reads the same read: method, path, query and body, dicts in any order."""
    return (method, path, _freeze(params), _freeze(json))


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value
