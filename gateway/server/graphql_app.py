"""GraphQL over HTTP and WebSocket at /graphql: Strawberry's ASGI app with our context,
orjson encoding, a GraphiQL that opens on a query showing the graph, and a 400 with a GraphQL
error (never a 500) for a request that is no GraphQL request or asks for refused introspection.

An answer takes the media type the client accepts (`gateway.server.media`): the sub-response carries
the one negotiated, and `create_response` gives a request error under
`application/graphql-response+json` its 400 and drops its `data`.

The caller: an HTTP request's comes from `RequireCaller` in front of every route; a WebSocket's from
the credential in its `connection_init` payload (refused with 4403), and its subscriptions end with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter
from graphql import GraphQLError, OperationDefinitionNode, OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter, GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema import BaseSchema
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from gateway.data.callers import Caller
from gateway.data.context import Context, Services
from gateway.server.auth import Authenticator, AuthUnavailable, Unauthenticated, caller_of, credentials
from gateway.server.auth.authenticate import has_credential
from gateway.server.auth.websocket import ExpiringLegacyWSHandler, ExpiringTransportWSHandler
from gateway.server.graphiql import render_page
from gateway.server.media import JSON, as_request_error, is_request_error, negotiate
from gateway.telemetry import operation as operations
from resolvers.introspection import IntrospectionDisabled
from resolvers.limits import Limits, Refusal, SubscriptionNeedsWebSocket

log = logging.getLogger(__name__)

STARTER_QUERY = """# LearnGraph: one graph over DAMSTRA, LearningLogin, Training Records and iScout.
# Press the play button; then explore the Docs panel on the left.
{
  groups(first: 3) {
    totalCount
    edges {
      node {
        name
        members(first: 3) {
          edges {
            node {
              fullName
              accounts { source nativeId }
              schedules(status: [OVERDUE, DUE], first: 3) {
                edges { node { status dueDate lesson { name } } }
              }
              completions(first: 3) {
                edges { node { source completedAt lesson { name code } } }
              }
            }
          }
        }
      }
    }
  }
}
"""

_JSON_KINDS = {str: "a string", int: "a number", float: "a number", bool: "a boolean", list: "a list"}


class NotAGraphQLRequest(Exception):
    """A body that parsed as JSON but holds no GraphQL request: answered 400, `BAD_REQUEST`."""


class TextFrames(ASGIWebSocketAdapter):
    """Every WebSocket message as a text frame. Strawberry sends what `encode_json` gives, and orjson's
    bytes went out as binary frames, which a browser's graphql-ws cannot read (GraphiQL's subscriptions
    failed with "Message is missing the 'type' property"); the protocol's messages are JSON text."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(self.view.encode_json_string(message))
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class LearnGraphGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = ExpiringTransportWSHandler
    graphql_ws_handler_class = ExpiringLegacyWSHandler
    websocket_adapter_class = TextFrames

    def __init__(
        self, schema: BaseSchema, *, ide_headers: Mapping[str, str] | None = None, **options: Any
    ) -> None:
        super().__init__(schema, **options)
        # Headers GraphiQL sends with every request it makes, subscriptions' `connection_init` included
        # (`learngraph demo` gives it a token).
        self.ide_headers = dict(ide_headers or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except NotAGraphQLRequest as exc:
            # Raised while reading the body, before anything was sent. Strawberry would fail on
            # such a body with an AttributeError (a 500): it expects an object or a batch.
            error = {"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}
            media_type = negotiate(Request(scope).headers.get("accept"))
            response = Response(self.encode_json({"errors": [error]}), 400, media_type=media_type)
            await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        services: Services = request.app.state.services
        return Context.build(services, request=request, response=response, caller=_caller(request, services))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        app_state = context.request.app.state
        authenticator: Authenticator = getattr(app_state, "authenticator", None) or Authenticator(
            allow_anonymous=context.services.settings.allow_anonymous
        )
        try:
            context.act_as(await authenticator.authenticate(credentials(context.connection_params)))
        except (Unauthenticated, AuthUnavailable) as exc:
            log.info("a WebSocket connection was refused: %s", exc.message)
            raise ConnectionRejectionError({"message": exc.message}) from None
        acknowledged: UnsetType = UNSET
        return acknowledged

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # The answer's media type, chosen once (the lean path reads it too).
        sub_response.media_type = negotiate(request.headers.get("accept"))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = sub_response.media_type or JSON
        request_error = (
            media_type != JSON and isinstance(response_data, dict) and is_request_error(response_data)
        )
        if request_error:
            response_data = cast(GraphQLHTTPResponse, as_request_error(cast(dict[str, Any], response_data)))
        response = super().create_response(response_data, sub_response)
        if media_type != JSON:
            response.headers["content-type"] = media_type
            if request_error and response.status_code < 400:
                response.status_code = 400  # nothing ran: the request is at fault
        return response

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if (
            request.method == "POST"
            and "application/json" in parse_content_type(request.content_type or "")[0]
        ):
            # Read twice (the body is kept): Strawberry parses it again below.
            self._check_request(self.parse_json(await request.get_body()))
        return await super().parse_http_body(request)

    def _check_request(self, data: Any) -> None:
        if isinstance(data, dict):
            return
        batching = self.schema.config.batching_config is not None
        if batching and isinstance(data, list) and data and all(isinstance(item, dict) for item in data):
            return
        kind = "null" if data is None else _JSON_KINDS.get(type(data), type(data).__name__)
        expected = "an object (or a list of them)" if batching else "an object"
        raise NotAGraphQLRequest(
            f"A GraphQL request is {expected} holding a `query` (and `variables`, `operationName`, "
            f"`extensions` if any); the body is {kind}"
        )

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        chosen = _chosen_operation(request_data, context)
        record = operations.current()
        if record is not None and chosen is not None:
            record.named(chosen.name.value if chosen.name else None, chosen.operation.value)
        if chosen is not None and chosen.operation is OperationType.SUBSCRIPTION:
            # Strawberry would run it as a query and fail inside (a 200 with INTERNAL_SERVER_ERROR).
            sub_response.status_code = 400
            return ExecutionResult(data=None, errors=[SubscriptionNeedsWebSocket()])
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        refused = [error for error in result.errors or () if isinstance(error, _REFUSED)]
        if refused:
            sub_response.status_code = 400  # refused before it ran: the client's request is at fault
            if record is not None and isinstance(refused[0], Refusal):
                record.refusal = str((refused[0].extensions or {}).get("code"))
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        # LearnGraph's own page and copies of its scripts (gateway/server/graphiql), not Strawberry's,
        # which loads them from a CDN.
        return HTMLResponse(render_page(starter_query=STARTER_QUERY, headers=self.ide_headers))


# Refused at validation or by a limit, before anything ran.
_REFUSED = (IntrospectionDisabled, Refusal)


def _chosen_operation(request_data: GraphQLRequestData, context: Context) -> OperationDefinitionNode | None:
    """The operation the request asks to run (None for a document that does not parse, or names no
    single operation: the view answers its error)."""
    if not request_data.query:
        return None
    try:
        document = Limits.of(context.services.settings).parse(request_data.query)
    except GraphQLError:
        return None
    name = request_data.operation_name
    definitions = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in definitions if name is None or (o.name is not None and o.name.value == name)]
    return chosen[0] if len(chosen) == 1 else None


def _caller(request: Request | WebSocket, services: Services) -> Caller:
    found = caller_of(request.scope)
    if found is not None:
        return found
    # Not behind RequireCaller: a WebSocket before its connection_init (on_ws_connect names the caller),
    # the GraphiQL page, or a bare view mounted without the door (tests).
    if services.settings.allow_anonymous and not has_credential(request.headers):
        return Caller.anonymous_admin()
    return Caller.unauthenticated()
