"""A route reached straight from the door: the gateway's hot route skips Starlette's exception
middleware and its walk over every route.

    Route("/graphql", http, methods=["GET", "POST"])            # the route, as routed
    Middleware(DirectRoute, route=graphql_route)                  # innermost: reaches it directly

A request the route matches in full (its path exactly, one of its methods, no `root_path`) is handed
to the route's app with the scope the router would have given it (`router`, `route`, `endpoint`,
`path_params`); everything else takes Starlette's way. The exception middleware has nothing to do for
it: the app has no exception handlers, and the route's app answers its own errors (an unexpected
exception still meets Starlette's ServerErrorMiddleware, outermost, a 500).
"""

from __future__ import annotations

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send


class DirectRoute:
    def __init__(self, app: ASGIApp, route: Route) -> None:
        assert not route.param_convertors, "a route with path parameters is left to the router"
        # A function endpoint's wrapper reads the exception middleware's handlers from the scope.
        assert route.app is route.endpoint, "an ASGI app's route only"
        self.app = app
        self.route = route
        self.methods = frozenset(route.methods or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.route.path
            or scope["method"] not in self.methods
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = scope["app"].router
        scope["route"] = self.route
        scope["endpoint"] = self.route.endpoint
        scope["path_params"] = {}
        await self.route.app(scope, receive, send)
