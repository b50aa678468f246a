"""The gateway's door: every HTTP request names its caller before a route reads its body.

    app = Starlette(routes=..., middleware=[Middleware(RequireCaller, authenticator=authenticator)])
    request.state.caller                  # the Caller, in every route behind the door

What needs no credential: OPTIONS (CORS preflights carry none), the probes and metrics, the webhook
receiver (it checks its own secret), and the GraphiQL page and its scripts and styles (no data in
them). Everything else,
unknown paths included, is 401 without a credential that holds, so a route added later is closed until
it is listed here. WebSockets pass: they authenticate with their `connection_init` payload.
"""

from __future__ import annotations

import logging

import orjson
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.data.callers import Caller
from gateway.server.auth.authenticate import CREDENTIAL_HEADERS, Authenticator
from gateway.server.auth.errors import AuthUnavailable, Unauthenticated
from gateway.server.graphiql import STATIC_PATH as GRAPHIQL_STATIC_PATH

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
OPEN_PREFIXES = ("/webhooks/", f"{GRAPHIQL_STATIC_PATH}/")
GRAPHQL_PATH = "/graphql"
_CREDENTIAL_KEYS = frozenset(name.encode("latin-1") for name in CREDENTIAL_HEADERS)


class RequireCaller:
    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _open(scope):
            await self.app(scope, receive, send)
            return
        try:
            caller = await self.authenticator.authenticate(credential_headers(scope))
        except Unauthenticated as exc:
            await _refuse(send, 401, "UNAUTHENTICATED", exc.message, [(b"www-authenticate", b"Bearer")])
            return
        except AuthUnavailable as exc:
            log.warning("a caller could not be authenticated: %s", exc.message)
            await _refuse(send, 503, "AUTHENTICATION_UNAVAILABLE", exc.message, [(b"retry-after", b"5")])
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


def credential_headers(scope: Scope) -> dict[str, str]:
    """The request's credential headers, each as Starlette's `Headers.get` reads it (the first of
    its name), without building a `Headers` over every header."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key in _CREDENTIAL_KEYS:
            found.setdefault(key.decode("latin-1"), value.decode("latin-1"))
    return found


def caller_of(scope: Scope) -> Caller | None:
    """The caller RequireCaller found for this request; None where it did not look."""
    caller = scope.get("state", {}).get("caller")
    return caller if isinstance(caller, Caller) else None


def _open(scope: Scope) -> bool:
    path: str = scope["path"]
    if scope["method"] == "OPTIONS" or path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return True
    return path == GRAPHQL_PATH and is_graphiql_page(scope)


def is_graphiql_page(scope: Scope) -> bool:
    """A browser asking for GraphiQL, as Strawberry decides it: a GET with no `query` that accepts HTML."""
    if scope["method"] != "GET" or QueryParams(scope["query_string"]).get("query") is not None:
        return False
    accept = Headers(scope=scope).get("accept", "")
    return "text/html" in accept or "*/*" in accept


async def _refuse(
    send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    # A GraphQL-shaped error, and never data: nothing ran.
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("latin-1")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
