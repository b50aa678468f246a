"""GraphQL errors as docs/contract.md §7 wants them: every error carries `extensions.code`,
upstream failures also `extensions.source`; partial failures reported by resolvers join
the answer's errors; anything unexpected is masked, never leaking internals or credentials.

`Forbidden` (the caller may not see it, `gateway.data.access`) is a FORBIDDEN error where it was
asked for by ID, at the root of the operation; met inside an object the caller may see (a group's
parent, a user's groups), it leaves a null or a gap and no error: the caller learns nothing of it.

`log_errors` writes each error once, as what it is (the schema's `process_errors` calls it on the
raw errors, before they are masked): a caller's mistake (a malformed or invalid document, a bad
ID or argument, NOT_FOUND, FORBIDDEN) at INFO and an upstream's failure at WARNING, one line
each with no traceback and the caller's text shortened and escaped; only a server fault at
ERROR, with its traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult, StreamExecutionResult

from gateway.data.completions import InvalidCursor
from gateway.data.context import Context
from gateway.errors import (
    CallerGone,
    Forbidden,
    InvalidNativeId,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRejected,
)
from gateway.log_redaction import loggable
from gateway.telemetry import operation as operations
from resolvers.global_id import InvalidGlobalId
from resolvers.limits import parse_refusal
from resolvers.relay import InvalidPagingArgument

log = logging.getLogger("gateway.graphql")


class NotFoundError(Exception):
    """The ID is well formed but names nothing."""

    code = "NOT_FOUND"


class BadInputError(ValueError):
    code = "BAD_USER_INPUT"


_INPUT_ERRORS = (InvalidGlobalId, InvalidNativeId, InvalidPagingArgument, InvalidCursor, BadInputError)


def extensions_for(error: BaseException | None) -> dict[str, Any] | None:
    """The `extensions` of a known failure; None for one that must be masked."""
    if isinstance(error, UpstreamError):
        return error.extensions()
    if isinstance(error, _INPUT_ERRORS):
        return {"code": getattr(error, "code", "BAD_USER_INPUT")}
    if isinstance(error, NotFoundError):
        return {"code": "NOT_FOUND"}
    if isinstance(error, Forbidden):
        return {"code": Forbidden.code}
    if isinstance(error, CallerGone):
        # Nobody reads this answer; no fault of the server's to log either.
        return {"code": CallerGone.code}
    return None


def _is_coercion(error: GraphQLError) -> bool:
    """Argument coercion (a bad scalar or enum value, in the query or in its variables, where
    graphql-core wraps it in a GraphQLError of its own): the client's input."""
    original = error.original_error
    return isinstance(original, ValueError | TypeError | GraphQLError) and error.path is None


def is_server_fault(error: GraphQLError) -> bool:
    """Whether the error is ours to fix: neither the caller's mistake nor an upstream's failure."""
    original = error.original_error
    return original is not None and extensions_for(original) is None and not _is_coercion(error)


def log_errors(errors: Sequence[GraphQLError]) -> None:
    for error in errors:
        original = error.original_error
        if is_server_fault(error):
            log.error("unexpected error in a resolver at %s", _where(error), exc_info=original)
            continue
        upstream_failed = isinstance(original, UpstreamError) and not isinstance(
            original, UpstreamNotFound | UpstreamRejected
        )
        level = logging.WARNING if upstream_failed else logging.INFO
        said = (extensions_for(original) or {}).get("code") or (error.extensions or {}).get("code")
        code = str(said or ("BAD_USER_INPUT" if original is not None else "GRAPHQL_VALIDATION_FAILED"))
        if log.isEnabledFor(level):
            log.log(level, "%s at %s: %s", code, _where(error), loggable(error.message))


def _where(error: GraphQLError) -> str:
    if error.path:
        return loggable(".".join(map(str, error.path)))
    return "the document" if error.original_error is None else "the arguments"


def _unsaid(error: BaseException | None, path: Sequence[str | int] | None) -> bool:
    """A Forbidden met below the root: the null (or gap) stands, unexplained."""
    return isinstance(error, Forbidden) and path is not None and len(path) > 1


def to_graphql_error(error: Exception, path: list[str | int] | None) -> GraphQLError:
    extensions = extensions_for(error)
    if extensions is None:
        # A resolver reported a failure of its own making: no schema hook saw it.
        log.error("unexpected error reported at %s", loggable(".".join(map(str, path or []))), exc_info=error)
    message = error.message if isinstance(error, UpstreamError) else str(error)
    return GraphQLError(message, path=path, extensions=extensions or {"code": "INTERNAL_SERVER_ERROR"})


def process_errors(errors: Sequence[GraphQLError], context: object) -> list[GraphQLError]:
    """An answer's errors as clients get them: each with its `extensions.code`, unexpected
    ones masked, then the partial failures the resolvers reported in `context`."""
    processed = [_process(error) for error in errors if not _unsaid(error.original_error, error.path)]
    if isinstance(context, Context):
        processed += [
            to_graphql_error(p.error, p.path) for p in context.partial_errors if not _unsaid(p.error, p.path)
        ]
    if processed:
        _note(processed)
    return processed


_REFUSAL_CODES = frozenset({"LIMIT_EXCEEDED", "COST_LIMIT_EXCEEDED"})


def _note(errors: list[GraphQLError]) -> None:
    """The operation's outcome for the telemetry: an answer with errors, or a limit's refusal."""
    record = operations.current()
    if record is None:
        return
    record.outcome = "error"
    for error in errors:
        code = (error.extensions or {}).get("code")
        if code in _REFUSAL_CODES:
            record.refusal = str(code)


def _process(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None:
        # A parser that stopped at a limit (tokens, nesting) stands for that limit's refusal.
        refusal = parse_refusal(error)
        if refusal is not None:
            return refusal
        # Parse and validation errors: the client's request is malformed.
        if not error.extensions or "code" not in error.extensions:
            error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
        return error
    extensions = extensions_for(original)
    if extensions is None:
        if _is_coercion(error):
            return GraphQLError(error.message, nodes=error.nodes, extensions={"code": "BAD_USER_INPUT"})
        # Logged with its traceback by `log_errors`, before it was masked.
        return GraphQLError(
            "Internal error",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR"},
        )
    message = original.message if isinstance(original, UpstreamError) else error.message
    return GraphQLError(message, nodes=error.nodes, path=error.path, extensions=extensions)


def answer_extensions(context: object) -> dict[str, Any] | None:
    """What an answer says beside its data and errors: whether the training index answered it
    (`gateway.data.indexed`); None for nothing to say."""
    return context.indexed.extensions() if isinstance(context, Context) else None


class ErrorExtensions(SchemaExtension):
    """`process_errors` for Strawberry's own paths (GET, batches, WebSocket): once an operation
    ends, and for each answer a stream (a WebSocket) sends.

    A subscription's operation ends after its events went out, and a WebSocket's context, with its
    partial errors, outlives each answer: so a stream's answers are processed one by one, and the
    partial errors each listed are cleared. Processing an answer twice changes nothing.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors: list[GraphQLError] = list(getattr(result, "errors", None) or [])
        processed = process_errors(errors, self.execution_context.context)
        if result is not None and (processed or errors):
            result.errors = processed

    def get_results(self) -> dict[str, Any]:
        return answer_extensions(self.execution_context.context) or {}

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(result, ExecutionResult):
            errors = process_errors(result.errors or [], context)
            if isinstance(context, Context):
                context.partial_errors.clear()
            result.errors = errors or None
        yield
