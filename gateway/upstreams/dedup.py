"""Identical reads in flight at the same moment reach the upstream once.

Resolvers of one GraphQL answer often ask for the same thing at once (one user from several places,
one page of a listing); the first read is sent and the others wait for its answer, or its failure.

    reads = SharedReads("damstra")
    body = await reads.share(read_key("GET", path, params, None), lambda: fetch(path, params))

The read belongs to the operation that sent it (its budget, `gateway.upstreams.allowance`); the others
wait within their own deadline, and send it again themselves if the sender's own limits stopped it
(its deadline, its budget, its caller leaving).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, TypeVar, cast

from gateway.upstreams.allowance import stopped_for_another, waited

T = TypeVar("T")


class _Abandoned(Exception):
    """What the others get when the first read was cancelled: they read again themselves."""


class SharedReads:
    """The reads in flight, by key: a read asked again before it answered is not sent again."""

    def __init__(self, source: str = "") -> None:
        self.source = source
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def share(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        while (pending := self._pending.get(key)) is not None:
            try:
                return cast(T, await waited(self.source, pending))
            except _Abandoned:
                continue
            except Exception as exc:
                if not stopped_for_another(exc):
                    raise
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            result = await read()
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(_Abandoned() if isinstance(exc, asyncio.CancelledError) else exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            del self._pending[key]


def read_key(method: str, path: str, params: Mapping[str, Any] | None, json: Any) -> tuple[Any, ...]:
    """What makes two reads the same read: method, path, query and body, dicts in any order."""
    return (method, path, _freeze(params), _freeze(json))


# What a query or body mostly holds, taken as it is: `isinstance(v, Mapping)` (an ABC's check) costs
# more than the rest of a key for each of them.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _freeze(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, dict | Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value
