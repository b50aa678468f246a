"""GraphQL over HTTP and WebSocket at /graphql: Strawberry's ASGI app with our context,
orjson encoding, and a GraphiQL that opens on a query showing the graph."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway.data.context import Context, Services

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


class LearnGraphGraphQL(GraphQL[Context, None]):
    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        services: Services = request.app.state.services
        return Context.build(services, request=request, response=response)

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        html = self.graphql_ide_html
        start = html.index("const EXAMPLE_QUERY = `")
        end = html.index("`;", start)
        starter = STARTER_QUERY.replace("`", "\\`")
        html = html[:start] + f"const EXAMPLE_QUERY = `{starter}" + html[end:]
        return HTMLResponse(html)
