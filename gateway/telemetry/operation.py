"""The HTTP request being answered, as telemetry knows it: its request id, and the GraphQL operation
it runs once a path names it.

    record = Operation(request_id)                     # gateway.server.telemetry, per request
    token = bind(record); ...; unbind(token)
    if (record := current()) is not None: record.name = "Dashboard"   # the path that runs it

Filled in by whichever path runs the operation (the lean POST path, Strawberry's view), read by the
middleware for the metrics, the span and the access line, and by every log line for its request id.
"""

from __future__ import annotations

from contextvars import ContextVar, Token


class Operation:
    __slots__ = ("name", "outcome", "refusal", "request_id", "type", "upstream_requests")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.name: str | None = None
        self.type: str | None = None  # "query" | "mutation" | "subscription"
        self.outcome: str | None = None  # "error" when the answer carried errors
        self.refusal: str | None = None  # the code of a limit's refusal (LIMIT_EXCEEDED, ...)
        self.upstream_requests = 0

    def named(self, name: str | None, type_: str) -> None:
        self.name, self.type = name, type_


_current: ContextVar[Operation | None] = ContextVar("learngraph_operation", default=None)


def current() -> Operation | None:
    return _current.get()


def bind(record: Operation) -> Token[Operation | None]:
    return _current.set(record)


def unbind(token: Token[Operation | None]) -> None:
    _current.reset(token)


def current_request_id() -> str | None:
    record = _current.get()
    return record.request_id if record is not None else None
