"""create_app(): the gateway's routes and lifespan.

    app = create_app(load_settings())          # uvicorn gateway.server.app:... via `learngraph serve`

The lifespan builds one pooled client per enabled upstream, the caches and the identity
directory once; every request reads them from `app.state.services`. `LimitBody` refuses a body
over LEARNGRAPH_MAX_BODY_BYTES, then `RequireCaller` names the caller (`request.state.caller`),
both before a route reads a body.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Mapping

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp

from gateway.data.cache import EntityCache
from gateway.data.context import Services
from gateway.data.deliveries import InProcessDeliveries
from gateway.data.events import InProcessEventBus
from gateway.data.fairness import InProcessCallerCounters
from gateway.data.idempotency import InProcessIdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.errors import UpstreamError
from gateway.server.allowances import PerRequestAllowance
from gateway.server.auth import Authenticator, RequireCaller
from gateway.server.body_limit import LimitBody
from gateway.server.certificates import certificate
from gateway.server.fairness import CallerFairness
from gateway.server.graphiql import STATIC_PATH as GRAPHIQL_STATIC_PATH
from gateway.server.graphiql import static_files as graphiql_static_files
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint
from gateway.server.telemetry import Observe, metrics_endpoint
from gateway.server.webhooks import DamstraWebhooks, log_receiver_state
from gateway.settings import Settings
from gateway.sources import Source
from gateway.telemetry import tracing
from gateway.upstreams.registry import Upstreams
from resolvers.limits import Limits
from resolvers.schema import schema

READY_TIMEOUT_SECONDS = 5.0
GC_THRESHOLDS = (50_000, 20, 100)  # Python's own: (700, 10, 10)


def build_services(
    settings: Settings, transports: Mapping[Source, httpx.AsyncBaseTransport] | None = None
) -> Services:
    directory = (
        IdentityDirectory.load(settings.identity_file) if settings.identity_file else IdentityDirectory()
    )
    return Services(
        settings=settings,
        upstreams=Upstreams.open(settings, transports),
        cache=EntityCache(settings),
        directory=directory,
        events=InProcessEventBus(),
        idempotency=InProcessIdempotencyStore(settings.idempotency_window_seconds),
        deliveries=InProcessDeliveries(settings.webhook_max_age_seconds),
        fairness=InProcessCallerCounters(settings.caller_rate_limit, settings.caller_concurrency),
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _probe(services: Services, source: Source) -> None:
    await services.upstreams.client(source).probe()


async def readyz(request: Request) -> Response:
    """Ready when every enabled upstream answers a small authenticated read."""
    services: Services = request.app.state.services
    sources = services.upstreams.enabled()

    async def check(source: Source) -> dict[str, str]:
        try:
            await asyncio.wait_for(_probe(services, source), READY_TIMEOUT_SECONDS)
        except UpstreamError as exc:
            return {"status": "unavailable", "code": exc.code, "message": exc.message}
        except TimeoutError:
            return {"status": "unavailable", "code": "UPSTREAM_TIMEOUT", "message": "no answer in time"}
        return {"status": "ok"}

    results = dict(
        zip((s.name for s in sources), await asyncio.gather(*(check(s) for s in sources)), strict=True)
    )
    ready = all(r["status"] == "ok" for r in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "upstreams": results}, status_code=200 if ready else 503
    )


# What a browser's GraphQL client sends besides the safelisted headers.
CORS_HEADERS = ("content-type", "authorization", "x-api-key", "x-request-id")


def create_app(
    settings: Settings,
    *,
    services: Services | None = None,
    authenticator: Authenticator | None = None,
    graphiql_headers: Mapping[str, str] | None = None,
) -> Starlette:
    """The gateway. Pass `services` to share ones built outside (tests); else the lifespan builds them.
    Raises ConfigError when no caller could get in, or the API keys file does not parse.
    Introspection and the lean executor's shortcuts follow the settings of the services a request
    runs with (its context's); GraphiQL, CORS and the lean POST path follow `settings`."""
    authenticator = authenticator or Authenticator.from_settings(settings)
    graphql = LearnGraphGraphQL(
        schema,
        ide_headers=graphiql_headers,
        graphql_ide="graphiql" if settings.graphiql else None,  # off: a browser's GET is a 404
        allowed_origins=settings.cors_origins,  # pages that may open a WebSocket from elsewhere
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
    )
    http: ASGIApp = PerRequestAllowance(
        GraphQLEndpoint(graphql, limits=Limits.of(settings)) if settings.fast_paths else graphql
    )
    webhooks = DamstraWebhooks()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or build_services(settings)
        log_receiver_state(app.state.services.settings)
        authenticator.log_state()
        # The schema, clients and directory live as long as the process: keep them out of every
        # garbage collection (a full one over them cost 3-4 ms of each large request).
        gc.freeze()
        # A dashboard in flight holds tens of thousands of young objects (upstream answers, records,
        # futures) that a collection every 700 allocations walks again and again, to free almost
        # none (refcounting frees them): a third of Q1's CPU at 32 clients (issue 15, bench).
        gc.set_threshold(*GC_THRESHOLDS)
        traced = tracing.tracer is None and tracing.configure()  # when the OTEL_* variables ask
        try:
            yield
        finally:
            if traced:
                tracing.shutdown()
            await authenticator.aclose()
            if own:
                await app.state.services.upstreams.aclose()

    routes: list[BaseRoute] = [
        Route("/graphql", http, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/certificates/{schedule_id}", certificate),
        Route("/webhooks/damstra", webhooks.receive, methods=["POST"]),
        # On a port of its own instead when LEARNGRAPH_METRICS_PORT is set (`learngraph serve`).
        *([Route("/metrics", metrics_endpoint)] if settings.metrics_port is None else []),
    ]
    if settings.graphiql:
        # The page's scripts and styles, LearnGraph's own copies: no credential, nothing from elsewhere.
        routes.append(Mount(GRAPHIQL_STATIC_PATH, graphiql_static_files(), name="graphiql-static"))
    app = Starlette(
        routes=routes,
        # CORS before the door: a preflight is answered before any credential is asked for; then the body's
        # size (413) before the credential (401), as docs/contract.md §8 orders them.
        middleware=[
            # Outermost: the request id and the operation's metrics cover every answer, refusals too.
            # In JSON it writes a line per operation; in text uvicorn's access log is the one.
            Middleware(Observe, access_log=settings.log_format == "json"),
            *(
                [
                    Middleware(
                        CORSMiddleware,
                        allow_origins=settings.cors_origins,
                        allow_methods=["GET", "POST"],
                        allow_headers=CORS_HEADERS,
                    )
                ]
                if settings.cors_origins
                else []
            ),
            Middleware(LimitBody, max_bytes=settings.max_body_bytes),
            Middleware(RequireCaller, authenticator=authenticator),
            # Right behind the door: counts each caller's operations, whichever path runs them.
            Middleware(CallerFairness),
        ],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.webhooks = webhooks
    if services is not None:
        app.state.services = services
    return app
