"""GraphQL over HTTP and WebSocket at /graphql: Strawberry's ASGI app with our context,
orjson encoding, a GraphiQL that opens on a query showing the graph, and a 400 with a GraphQL
error (never a 500) for a request that is no GraphQL request or asks for refused introspection."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.types import ExecutionResult

from gateway.data.context import Context, Services
from resolvers.introspection import IntrospectionDisabled

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


class LearnGraphGraphQL(GraphQL[Context, None]):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except NotAGraphQLRequest as exc:
            # Raised while reading the body, before anything was sent. Strawberry would fail on
            # such a body with an AttributeError (a 500): it expects an object or a batch.
            error = {"message": str(exc), "extensions": {"code": "BAD_REQUEST"}}
            response = Response(self.encode_json({"errors": [error]}), 400, media_type="application/json")
            await response(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        services: Services = request.app.state.services
        return Context.build(services, request=request, response=response)

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

    async def execute_single(  # noqa: PLR0913 - Strawberry's signature
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        result = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data
        )
        if result.errors and any(isinstance(error, IntrospectionDisabled) for error in result.errors):
            sub_response.status_code = 400  # refused at validation: the client's request is at fault
        return result

    async def render_graphql_ide(self, request: Request) -> Response:
        html = self.graphql_ide_html
        start = html.index("const EXAMPLE_QUERY = `")
        end = html.index("`;", start)
        starter = STARTER_QUERY.replace("`", "\\`")
        html = html[:start] + f"const EXAMPLE_QUERY = `{starter}" + html[end:]
        return HTMLResponse(html)
