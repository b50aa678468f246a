"""create_app(): the gateway's routes and lifespan.

    app = create_app(load_settings())          # uvicorn gateway.server.app:... via `learngraph serve`

The lifespan builds one pooled client per enabled upstream, the caches and the identity
directory once; every request reads them from `app.state.services`. With `LEARNGRAPH_REDIS_URL` the
events, idempotency keys, webhook deliveries and cache invalidations are shared through Redis
(`gateway.data.shared`). `LimitBody` refuses a body over LEARNGRAPH_MAX_BODY_BYTES, then
`RequireCaller` names the caller (`request.state.caller`), both before a route reads a body.
`app.state.lifecycle` says whether the process is starting, serving or draining.
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
from gateway.data.idempotency import InProcessIdempotencyStore, SharedIdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.data.shared.bus import RedisEventBus
from gateway.data.shared.codec import ObjectCodec
from gateway.data.shared.deliveries import RedisDeliveries
from gateway.data.shared.idempotency import RedisKeys
from gateway.data.shared.invalidation import share_invalidations
from gateway.data.shared.link import RedisLink
from gateway.data.sync_hooks import status_json, sync_status
from gateway.errors import UpstreamError
from gateway.index.store import TrainingIndex
from gateway.server.allowances import PerRequestAllowance
from gateway.server.auth import Authenticator, RequireCaller
from gateway.server.body_limit import LimitBody
from gateway.server.certificates import certificate
from gateway.server.direct_route import DirectRoute
from gateway.server.fairness import CallerFairness
from gateway.server.graphiql import STATIC_PATH as GRAPHIQL_STATIC_PATH
from gateway.server.graphiql import static_files as graphiql_static_files
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint
from gateway.server.index_sync import start_index_sync
from gateway.server.lifecycle import Lifecycle, Phase
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
# What a stored mutation answer may be built of, when another replica reads it back: the payload
# types (resolvers) and what they hold (records, people, sources).
ANSWER_MODULES = ("resolvers", "gateway")


def build_services(
    settings: Settings, transports: Mapping[Source, httpx.AsyncBaseTransport] | None = None
) -> Services:
    directory = (
        IdentityDirectory.load(settings.identity_file) if settings.identity_file else IdentityDirectory()
    )
    cache = EntityCache(settings)
    window = settings.idempotency_window_seconds
    if settings.redis_url is None:
        return Services(
            settings=settings,
            upstreams=Upstreams.open(settings, transports),
            cache=cache,
            directory=directory,
            events=InProcessEventBus(),
            idempotency=InProcessIdempotencyStore(window),
            deliveries=InProcessDeliveries(settings.webhook_max_age_seconds),
            fairness=InProcessCallerCounters(settings.caller_rate_limit, settings.caller_concurrency),
        )
    link = RedisLink.from_url(settings.redis_url.get_secret_value())
    share_invalidations(cache, link)
    return Services(
        settings=settings,
        upstreams=Upstreams.open(settings, transports),
        cache=cache,
        directory=directory,
        events=RedisEventBus(link),
        idempotency=SharedIdempotencyStore(window, RedisKeys(link), ObjectCodec(ANSWER_MODULES)),
        deliveries=RedisDeliveries(link, settings.webhook_max_age_seconds),
        fairness=InProcessCallerCounters(settings.caller_rate_limit, settings.caller_concurrency),
        shared=link,
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _probe(services: Services, source: Source) -> None:
    await services.upstreams.client(source).probe()


async def readyz(request: Request) -> Response:
    """503 only when this process cannot serve: starting, draining, or no upstream configured. Else 200,
    with each upstream's state (a small authenticated read) and Redis's: one vendor's outage must not
    take every replica out of the load balancer, and reads go on without Redis."""
    lifecycle: Lifecycle = request.app.state.lifecycle
    services: Services | None = getattr(request.app.state, "services", None)
    if lifecycle.phase is not Phase.SERVING or services is None:
        phase = Phase.STARTING if services is None else lifecycle.phase
        return JSONResponse({"status": phase.value}, status_code=503)
    sources = services.upstreams.enabled()
    if not sources:
        message = "no upstream is configured (LEARNGRAPH_<SOURCE>_URL)"
        return JSONResponse({"status": "misconfigured", "message": message}, status_code=503)

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
    redis = services.shared.status() if services.shared is not None else {"status": "not configured"}
    # The training index's sync of each source, as Query.syncStatus tells it.
    sync = {status.source.name: status_json(status) for status in await sync_status(services)}
    healthy = all(r["status"] == "ok" for r in results.values()) and redis["status"] != "unavailable"
    # "degraded": serving, with some answers partial (an upstream) or some writes refused (Redis).
    status = "ready" if healthy else "degraded"
    return JSONResponse({"status": status, "upstreams": results, "redis": redis, "sync": sync})


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

    lifecycle = Lifecycle(Phase.SERVING if services is not None else Phase.STARTING)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        lifecycle.phase = Phase.STARTING
        built: Services = services or build_services(settings)
        app.state.services = built
        log_receiver_state(built.settings)
        authenticator.log_state()
        if own and built.shared is not None:
            await built.shared.start()
        if own and built.index is None:
            # Migrated to the newest schema before the first request (gateway/index/migrate.py).
            built.index = await TrainingIndex.from_settings(built.settings)
        syncing = await start_index_sync(built) if own else None
        # The schema, clients and directory live as long as the process: keep them out of every
        # garbage collection (a full one over them cost 3-4 ms of each large request).
        gc.freeze()
        # A dashboard in flight holds tens of thousands of young objects (upstream answers, records,
        # futures) that a collection every 700 allocations walks again and again, to free almost
        # none (refcounting frees them): a third of Q1's CPU at 32 clients (issue 15, bench).
        gc.set_threshold(*GC_THRESHOLDS)
        traced = tracing.tracer is None and tracing.configure()  # when the OTEL_* variables ask
        try:
            with lifecycle.drain_on_signals():
                lifecycle.serving()
                yield
                lifecycle.drain()
        finally:
            if traced:
                tracing.shutdown()
            await authenticator.aclose()
            if syncing is not None:
                await syncing.aclose()
            if own:
                await built.upstreams.aclose()
                if built.index is not None:
                    await built.index.close()
                if built.shared is not None:
                    await built.shared.aclose()

    graphql_route = Route("/graphql", http, methods=["GET", "POST"])
    routes: list[BaseRoute] = [
        graphql_route,
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
            # Innermost: /graphql without the router's walk (Starlette's way for every other route).
            Middleware(DirectRoute, route=graphql_route),
        ],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.lifecycle = lifecycle
    app.state.webhooks = webhooks
    if services is not None:
        app.state.services = services
    return app
