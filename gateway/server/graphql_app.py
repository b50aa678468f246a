"""GraphQL over HTTP and WebSocket at /graphql: Strawberry's ASGI app with our context,
orjson encoding, and a GraphiQL that opens on a query showing the graph.

The caller: an HTTP request's comes from `RequireCaller` in front of every route; a WebSocket's from
the credential in its `connection_init` payload (refused with 4403), and its subscriptions end with it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema import BaseSchema
from strawberry.types.unset import UNSET, UnsetType

from gateway.data.callers import Caller
from gateway.data.context import Context, Services
from gateway.server.auth import Authenticator, AuthUnavailable, Unauthenticated, caller_of, credentials
from gateway.server.auth.authenticate import has_credential
from gateway.server.auth.websocket import ExpiringLegacyWSHandler, ExpiringTransportWSHandler

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


class LearnGraphGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = ExpiringTransportWSHandler
    graphql_ws_handler_class = ExpiringLegacyWSHandler

    def __init__(
        self, schema: BaseSchema, *, ide_headers: Mapping[str, str] | None = None, **options: Any
    ) -> None:
        super().__init__(schema, **options)
        # Headers GraphiQL sends with every request it makes (`learngraph demo` gives it a token).
        self.ide_headers = dict(ide_headers or {})

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        services: Services = request.app.state.services
        return Context.build(services, request=request, response=response, caller=_caller(request, services))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        app_state = context.request.app.state
        authenticator: Authenticator = getattr(app_state, "authenticator", None) or Authenticator(
            allow_anonymous=context.services.settings.allow_anonymous
        )
        try:
            context.caller = await authenticator.authenticate(credentials(context.connection_params))
        except (Unauthenticated, AuthUnavailable) as exc:
            log.info("a WebSocket connection was refused: %s", exc.message)
            raise ConnectionRejectionError({"message": exc.message}) from None
        acknowledged: UnsetType = UNSET
        return acknowledged

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
        if self.ide_headers:
            headers = orjson.dumps(self.ide_headers).decode().replace("</", "<\\/")
            html = _replace_once(html, "const defaultHeaders = {};", f"const defaultHeaders = {headers};")
            # Subscriptions send them in their `connection_init` payload.
            html = _replace_once(
                html, "subscriptionUrl,", "subscriptionUrl, wsConnectionParams: defaultHeaders,"
            )
        return HTMLResponse(html)


def _caller(request: Request | WebSocket, services: Services) -> Caller:
    found = caller_of(request.scope)
    if found is not None:
        return found
    # Not behind RequireCaller: a WebSocket before its connection_init (on_ws_connect names the caller),
    # the GraphiQL page, or a bare view mounted without the door (tests).
    if services.settings.allow_anonymous and not has_credential(request.headers):
        return Caller.anonymous_admin()
    return Caller.unauthenticated()


def _replace_once(html: str, old: str, new: str) -> str:
    if html.count(old) != 1:
        raise RuntimeError(f"Strawberry's GraphiQL page changed: {old!r} is not there once")
    return html.replace(old, new)
