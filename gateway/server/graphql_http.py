"""POST /graphql's common case without Strawberry's per-request machinery.

    app = GraphQLEndpoint(LearnGraphGraphQL(schema))     # an ASGI app, routed at /graphql

One query or mutation POSTed as `application/json`, whose document parses and validates, runs
straight on graphql-core: the body parsed with orjson, the document looked up by its text in an
LRU of parsed and validated documents, executed as Strawberry executes it (its GraphQLSchema,
execution context class, context getter and root value), errors processed by
`resolvers.errors.process_errors`, the answer encoded with orjson. Everything else (GET and
GraphiQL, WebSocket, batches, subscriptions, malformed bodies and documents, unknown operation
names, introspection) goes to Strawberry's view, which answers it as it always has.

A query the schema alone answers (`schema_only`: `__typename` fields only, as in `{ __typename }`, the
health probe load balancers send) runs once as above; its answer's bytes are kept with its document
and sent to every later request for it, with no context built and nothing executed. Everything in
front of this endpoint (body limit, caller, fairness, request id, metrics) runs for it as for any.

The request limits (`resolvers.limits`) are checked here as the view's OperationLimits checks them:
the parse stops at `max_tokens`, an operation's shape and cost are measured once with its document
(validation waits for the shape to pass), and a refusal is answered here, a 400, as the view would.

The lean path stands in for the view's hooks on a POST's way as LearnGraphGraphQL has them. A
view with any other (a subclass's `process_result`, `run`, a hook of its own such as an
`on_request`, ...) or a schema with another extension gets every request: see
`GraphQLEndpoint.steps_aside_for`. The view's context, root value and sub-response getters are
called as the view calls them, whatever they are.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, TypeGuard, cast

import orjson
from cross_web import HTTPException
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.execution import optimized_is_awaitable
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import Schema
from strawberry.schema.schema import validate_document
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult

from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.media import GRAPHQL_RESPONSE_JSON, JSON, is_request_error, negotiate
from gateway.telemetry import operation as operations
from resolvers.errors import ErrorExtensions, answer_extensions, process_errors
from resolvers.introspection import IntrospectionSwitch
from resolvers.limits import Analysis, Limits, OperationLimits, Refusal, analyse

DOCUMENT_CACHE_SIZE = 512
_MEDIA_TYPES = {media: (b"content-type", media.encode("latin-1")) for media in (JSON, GRAPHQL_RESPONSE_JSON)}
# IntrospectionSwitch: every document that introspects goes to the view, which applies it.
_DONE_HERE = (ErrorExtensions, IntrospectionSwitch, OperationLimits)
# The view's hooks the lean path calls itself, in the view's order: any implementation counts.
_CALLED = frozenset({"get_root_value", "get_sub_response", "get_context"})
# What a view has for GraphiQL, WebSockets and streams only: never on the lean path's way.
_NOT_ON_A_POST = frozenset(
    {
        "render_graphql_ide",
        "graphql_ide_html",
        "encode_json_string",
        "create_streaming_response",
        "on_ws_connect",
        "pick_websocket_subprotocol",
        "create_websocket_response",
        "get_websocket_headers",
        "reject_websocket",
        "is_websocket_origin_allowed",
        "websocket_adapter_class",
        "graphql_transport_ws_handler_class",
        "graphql_ws_handler_class",
        "multipart_transport_class",
    }
)
# What LearnGraphGraphQL changes of Strawberry's view on a POST's way: its __call__ and
# parse_http_body answer the bodies the lean path leaves to the view, its execute_single sets the
# 400 of refused introspection, which the lean path leaves to the view too, its JSON is orjson's,
# its create_response answers in the media type negotiated (the lean path's own answers take it too,
# and it leaves the view's create_response every request error).
_LEARNGRAPH_OWN = (
    "__call__",
    "parse_http_body",
    "decode_json",
    "execute_single",
    "encode_json",
    "create_response",
)
# The hooks whose work the lean path does in place, as these implementations do it: LearnGraphGraphQL's
# for those it changes, Strawberry's for the rest (so one added to LearnGraphGraphQL later steps
# the lean path aside as a subclass's does, until the lean path learns to do its work).
_DONE_IN_PLACE: dict[str, object] = {
    name: getattr(LearnGraphGraphQL if name in _LEARNGRAPH_OWN else GraphQL, name)
    for name in (
        *_LEARNGRAPH_OWN,
        "run",
        "request_adapter_class",
        "is_request_allowed",
        "should_render_graphql_ide",
        "is_websocket_request",
        "parse_json",
        "execute_operation",
        "process_result",
        "_handle_errors",
        "create_response",
    )
}
_RUNNABLE = (OperationType.QUERY, OperationType.MUTATION)
_IS_AWAITABLE = cast("Callable[[Any], TypeGuard[Awaitable[Any]]]", optimized_is_awaitable)


@dataclass(frozen=True)
class Prepared:
    """A document that parsed within the token limit, with its operations by name, each measured.
    Validated only when every operation's shape keeps the limits (else the view answers)."""

    document: DocumentNode
    operations: dict[str | None, OperationDefinitionNode]
    analyses: dict[str | None, Analysis]
    validated: bool
    introspects: bool  # asks for `__schema` or `__type`, which the settings may refuse
    # The operations whose answer the schema alone decides (`schema_only`), and each one's answer
    # once it has really run: the bytes every later request for it is sent.
    schema_only: frozenset[str | None] = frozenset()
    answers: dict[str | None, bytes] = field(default_factory=dict, compare=False)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name is None:
            # Without a name a document must hold one operation; else Strawberry answers why not.
            return next(iter(self.operations.values())) if len(self.operations) == 1 else None
        return self.operations.get(name)


class Documents:
    """Parsed and validated documents by query text, as OperationLimits holds them: a Prepared, the
    Refusal of a document over the token limit, or None for one that does not parse or validate."""

    def __init__(self, schema: Schema, limits: Limits, maxsize: int = DOCUMENT_CACHE_SIZE) -> None:
        self.schema = schema
        self.limits = limits
        self.get = functools.lru_cache(maxsize=maxsize)(self._prepare)

    def _prepare(self, query: str) -> Prepared | Refusal | None:
        try:
            document = self.limits.parse(query)
        except Refusal as refusal:
            return refusal
        except GraphQLError:
            return None
        operations: dict[str | None, OperationDefinitionNode] = {}
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations.setdefault(definition.name.value if definition.name else None, definition)
        analyses: dict[str | None, Analysis] = {}
        for name in operations:
            analysis = analyse(self.schema._schema, document, name)
            if analysis is not None:
                analyses[name] = analysis
        if any(self.limits.shape_refusal(a) for a in analyses.values()):
            # Not validated: on a hostile document validation costs far more than the refusal.
            return Prepared(document, operations, analyses, validated=False, introspects=False)
        if validate_document(self.schema._schema, document, tuple(specified_rules)):
            return None
        introspects = bool(validate(self.schema._schema, document, [NoSchemaIntrospectionCustomRule]))
        constant = frozenset(name for name, node in operations.items() if schema_only(node))
        return Prepared(document, operations, analyses, True, introspects, constant)


def schema_only(operation: OperationDefinitionNode) -> bool:
    """Whether the schema alone decides the operation's answer: a query without variables or
    directives selecting `__typename` only (aliases aside), no fragments. `{ __typename }` is the
    health probe load balancers send (Apollo's docs name it)."""
    return (
        operation.operation is OperationType.QUERY
        and not operation.variable_definitions
        and not operation.directives
        and all(
            isinstance(selection, FieldNode)
            and selection.name.value == "__typename"
            and not selection.directives
            and not selection.arguments
            for selection in operation.selection_set.selections
        )
    )


@dataclass(frozen=True)
class _Operation:
    prepared: Prepared
    operation_name: str | None
    key: str | None  # the operation's own name (None: the document's one anonymous operation)
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


class GraphQLEndpoint:
    """The ASGI app at /graphql: the lean path for what it can answer exactly as `view` would,
    `view` itself for the rest."""

    def __init__(
        self, view: LearnGraphGraphQL, *, limits: Limits | None = None, cache_size: int = DOCUMENT_CACHE_SIZE
    ) -> None:
        assert isinstance(view.schema, Schema)
        self.view = view
        self.schema = view.schema
        self.limits = limits or Limits()
        self.documents = Documents(self.schema, self.limits, cache_size)
        self.steps_aside_for = _steps_aside_for(view, self.schema)
        self.enabled = not self.steps_aside_for
        # A schema-only operation's kept answer skips the view's context, root value and sub-response
        # getters: only LearnGraphGraphQL's own, which set no header or status for any request, may be.
        self.keeps_answers = all(
            getattr(type(view), name) is getattr(LearnGraphGraphQL, name) for name in _CALLED
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (self.enabled and scope["type"] == "http" and scope["method"] == "POST" and _is_json(scope)):
            await self.view(scope, receive, send)
            return
        messages, body = await _read_body(receive)
        operation = self._lean_operation(body) if body is not None else None
        if operation is None:
            await self.view(scope, _replay(messages, receive), send)
        elif isinstance(operation, Refusal):
            await self._refuse(scope, _replay(messages, receive), send, operation)
        else:
            kept = operation.prepared.answers.get(operation.key) if self.keeps_answers else None
            if kept is None:
                await self._run(scope, _replay(messages, receive), send, operation)
            else:
                await self._send_kept(scope, send, operation, kept)

    def _lean_operation(self, body: bytes) -> _Operation | Refusal | None:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        query, name = data.get("query"), data.get("operationName")
        variables, extensions = data.get("variables"), data.get("extensions")
        if not (
            isinstance(query, str)
            and (name is None or isinstance(name, str))
            and (variables is None or isinstance(variables, dict))
            and (extensions is None or isinstance(extensions, dict))
        ):
            return None
        prepared = self.documents.get(query)
        if prepared is None or isinstance(prepared, Refusal):
            return prepared
        operation = prepared.operation(name)
        if operation is None or operation.operation not in _RUNNABLE:
            return None  # the view answers, a subscription's refusal among them
        analysis = prepared.analyses.get(name if name is not None else next(iter(prepared.operations)))
        if analysis is not None:
            refusal = self.limits.refusal(analysis, variables)
            if refusal is not None:
                return refusal
        if not prepared.validated or prepared.introspects:
            return None
        key = name if name is not None else next(iter(prepared.operations))
        return _Operation(prepared, name, key, variables, extensions)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, refusal: Refusal) -> None:
        # As the view answers a refusal: the process_result of an ExecutionResult, a 400.
        record = operations.current()
        if record is not None:
            record.refusal = str((refusal.extensions or {}).get("code"))
        view = self.view
        request = Request(scope, receive)
        try:
            sub_response = await view.get_sub_response(request)
        except HTTPException as exc:
            await PlainTextResponse(exc.reason, status_code=exc.status_code)(scope, receive, send)
            return
        sub_response.status_code = 400
        answer = await view.process_result(request, ExecutionResult(data=None, errors=[refusal]))
        await view.create_response(answer, sub_response)(scope, receive, send)

    async def _run(self, scope: Scope, receive: Receive, send: Send, operation: _Operation) -> None:
        record = operations.current()
        if record is not None:
            node = operation.prepared.operation(operation.operation_name)
            assert node is not None
            record.named(node.name.value if node.name else None, node.operation.value)
        view = self.view
        request = Request(scope, receive)
        # The view's hooks, in the order Strawberry calls them; a refusal they raise is answered
        # as the view's __call__ answers it.
        try:
            root_value: object = await view.get_root_value(request)  # type: ignore[func-returns-value]
            sub_response = await view.get_sub_response(request)
            context = await view.get_context(request, response=sub_response)
        except HTTPException as exc:
            await PlainTextResponse(exc.reason, status_code=exc.status_code)(scope, receive, send)
            return
        try:
            result = execute(
                self.schema._schema,
                operation.prepared.document,
                root_value=root_value,
                context_value=context,
                variable_values=operation.variables,
                operation_name=operation.operation_name,
                executor_class=self.schema.execution_context_class,
                is_awaitable=_IS_AWAITABLE,
                operation_extensions=operation.extensions,
            )
            if isawaitable(result):
                result = await result
        except Exception as exc:
            # As Strawberry answers an operation that raised: the error as is, data null.
            error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            self.schema._process_errors([error], None)
            await self._respond(
                scope, receive, send, {"data": None, "errors": [error.formatted]}, sub_response
            )
            return
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            # Logged raw before they are masked, as Strawberry's Schema.execute logs them.
            self.schema._process_errors(result.errors, None)
        errors = process_errors(result.errors or (), context)
        if errors:
            answer["errors"] = [error.formatted for error in errors]
        said = answer_extensions(context)
        if said:
            answer["extensions"] = said
        keep = operation.key in operation.prepared.schema_only and len(answer) == 1
        await self._respond(scope, receive, send, answer, sub_response, operation if keep else None)

    async def _send_kept(self, scope: Scope, send: Send, operation: _Operation, body: bytes) -> None:
        """A schema-only operation's answer, as it ran the first time (`_run` kept it)."""
        record = operations.current()
        if record is not None:
            record.named(operation.key, OperationType.QUERY.value)
        accept = None
        for key, value in scope["headers"]:
            if key == b"accept":
                accept = value.decode("latin-1")
                break
        headers = [(b"content-length", str(len(body)).encode("latin-1")), _MEDIA_TYPES[negotiate(accept)]]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _respond(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: dict[str, Any],
        sub_response: Response,
        keep: _Operation | None = None,
    ) -> None:
        if (
            sub_response.status_code is None
            and not sub_response.headers.raw
            and sub_response.background is None
            and not is_request_error(answer)
        ):
            body = orjson.dumps(answer)
            if keep is not None:
                # Data alone, no header, status or task: what every later request for it is sent.
                keep.prepared.answers[keep.key] = body
            media_type = _MEDIA_TYPES.get(sub_response.media_type or JSON) or _MEDIA_TYPES[JSON]
            headers = [(b"content-length", str(len(body)).encode("latin-1")), media_type]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        # The context getter or a resolver set a header, a status or a background task, or nothing
        # ran (variables that do not coerce): Strawberry's own response carries them.
        response = self.view.create_response(cast(GraphQLHTTPResponse, answer), sub_response)
        await response(scope, receive, send)


def _steps_aside_for(view: LearnGraphGraphQL, schema: Schema) -> list[str]:
    """Why the lean path cannot answer for this view and schema (nothing: it can). Decided once,
    when the endpoint is built."""
    reasons = []
    # A schema extension or directive the lean path does not do the work of, or a view streaming
    # over HTTP (SSE, multipart subscriptions pick their answer by the Accept header).
    reasons += [
        f"extension {type(ext).__name__}"
        for ext in schema.get_extensions()
        if not isinstance(ext, _DONE_HERE)
    ]
    reasons += [f"directive {directive.python_name}" for directive in schema.directives]
    if type(schema).execute is not Schema.execute:
        reasons.append(f"{type(schema).__name__}.execute")
    http_streams = set(view.protocols) - {GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL}
    reasons += [f"protocol {protocol}" for protocol in sorted(http_streams)]
    # The view's hooks: those done in place must be the implementations named, and the view may
    # add no hook of its own (one the lean path would not know to call) to Strawberry's.
    view_class = type(view)
    reasons += [
        f"hook {name}" for name, done in _DONE_IN_PLACE.items() if getattr(view_class, name) is not done
    ]
    known = _CALLED | _NOT_ON_A_POST | _DONE_IN_PLACE.keys()
    added = {
        name
        for klass in view_class.__mro__[: view_class.__mro__.index(GraphQL)]
        for name, value in vars(klass).items()
        if _is_hook(name, value) and name not in known
    }
    reasons += [f"hook {name}" for name in sorted(added)]
    reasons += [f"hook {name} (set on the view)" for name, value in vars(view).items() if callable(value)]
    return reasons


def _is_hook(name: str, value: object) -> bool:
    # A private name is a helper of the class's own hooks (Strawberry calls `_handle_errors`, known).
    if name.startswith("_") and name != "__call__":
        return False
    return callable(value) or isinstance(value, property | classmethod | staticmethod)


def _is_json(scope: Scope) -> bool:
    for key, value in scope["headers"]:
        if key == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False


async def _read_body(receive: Receive) -> tuple[list[Message], bytes | None]:
    """The request's messages as received, and its whole body (None if the client went away)."""
    messages: list[Message] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        if not message.get("more_body", False):
            break
    if len(messages) == 1:
        return messages, messages[0].get("body", b"")
    return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


__all__ = ["Documents", "GraphQLEndpoint", "Prepared"]
