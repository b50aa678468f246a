"""create_app(): the gateway's routes and lifespan.

    app = create_app(load_settings())          # uvicorn gateway.server.app:... via `learngraph serve`

The lifespan builds one pooled client per enabled upstream, the caches and the identity
directory once; every request reads them from `app.state.services`. With `LEARNGRAPH_REDIS_URL` the
events, idempotency keys and cache invalidations are shared through Redis (`gateway.data.shared`).
`RequireCaller` in front of every route names the caller (`request.state.caller`) before a route
reads a body. `app.state.lifecycle` says whether the process is starting, serving or draining.
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
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp

from gateway.data.cache import EntityCache
from gateway.data.context import Services
from gateway.data.events import InProcessEventBus
from gateway.data.idempotency import IdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.data.shared.bus import RedisEventBus
from gateway.data.shared.codec import ObjectCodec
from gateway.data.shared.idempotency import RedisKeys
from gateway.data.shared.invalidation import share_invalidations
from gateway.data.shared.link import RedisLink
from gateway.errors import UpstreamError
from gateway.server.auth import Authenticator, RequireCaller
from gateway.server.certificates import certificate
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint
from gateway.server.lifecycle import Lifecycle, Phase
from gateway.server.webhooks import damstra_webhook, log_receiver_state
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.registry import Upstreams
from resolvers.schema import schema

READY_TIMEOUT_SECONDS = 5.0
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
            idempotency=IdempotencyStore(window),
        )
    link = RedisLink.from_url(settings.redis_url.get_secret_value())
    share_invalidations(cache, link)
    return Services(
        settings=settings,
        upstreams=Upstreams.open(settings, transports),
        cache=cache,
        directory=directory,
        events=RedisEventBus(link),
        idempotency=IdempotencyStore(window, shared=RedisKeys(link), codec=ObjectCodec(ANSWER_MODULES)),
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
    healthy = all(r["status"] == "ok" for r in results.values()) and redis["status"] != "unavailable"
    # "degraded": serving, with some answers partial (an upstream) or some writes refused (Redis).
    status = "ready" if healthy else "degraded"
    return JSONResponse({"status": status, "upstreams": results, "redis": redis})


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
    )
    http: ASGIApp = GraphQLEndpoint(graphql) if settings.fast_paths else graphql

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
        # The schema, clients and directory live as long as the process: keep them out of every
        # garbage collection (a full one over them cost 3-4 ms of each large request).
        gc.freeze()
        try:
            with lifecycle.drain_on_signals():
                lifecycle.serving()
                yield
                lifecycle.drain()
        finally:
            await authenticator.aclose()
            if own:
                await built.upstreams.aclose()
                if built.shared is not None:
                    await built.shared.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", http, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/certificates/{schedule_id}", certificate),
            Route("/webhooks/damstra", damstra_webhook, methods=["POST"]),
        ],
        # CORS outermost: a preflight is answered before any credential is asked for.
        middleware=[
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
            Middleware(RequireCaller, authenticator=authenticator),
        ],
        lifespan=lifespan,
    )
    app.state.authenticator = authenticator
    app.state.lifecycle = lifecycle
    if services is not None:
        app.state.services = services
    return app
