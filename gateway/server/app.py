"""create_app(): the gateway's routes and lifespan.

    app = create_app(load_settings())          # uvicorn gateway.server.app:... via `learngraph serve`

The lifespan builds one pooled client per enabled upstream, the caches and the identity
directory once; every request reads them from `app.state.services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Mapping

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from gateway.data.cache import EntityCache
from gateway.data.context import Context, Services
from gateway.data.events import InProcessEventBus
from gateway.data.idempotency import IdempotencyStore
from gateway.data.identity import IdentityDirectory
from gateway.errors import Forbidden, InvalidNativeId, UpstreamError, UpstreamNotFound
from gateway.server.graphql_app import LearnGraphGraphQL
from gateway.server.graphql_http import GraphQLEndpoint
from gateway.server.webhooks import damstra_webhook, log_receiver_state
from gateway.settings import Settings
from gateway.sources import Source
from gateway.upstreams.registry import Upstreams
from resolvers.schema import schema

READY_TIMEOUT_SECONDS = 5.0


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
        idempotency=IdempotencyStore(settings.idempotency_window_seconds),
    )


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _probe(services: Services, source: Source) -> None:
    upstreams = services.upstreams
    if source is Source.DAMSTRA:
        await upstreams.need_damstra().search_users(max_results=1)
    elif source is Source.LEARNINGLOGIN:
        await upstreams.need_learninglogin().list_train_sessions()
    elif source is Source.TRAINING_RECORDS:
        await upstreams.need_training_records().list_records(limit=1)
    else:
        await upstreams.need_iscout().list_completions(limit=1)


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


async def certificate(request: Request) -> Response:
    """A completed DAMSTRA schedule's PDF certificate, passed through; 403 for someone the caller may not see."""
    services: Services = request.app.state.services
    try:
        pdf = await Context.build(services, request).listings.certificate(request.path_params["schedule_id"])
    except InvalidNativeId as exc:
        return JSONResponse({"error": str(exc), "code": exc.code}, status_code=400)
    except Forbidden as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=403)
    except UpstreamNotFound as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=404)
    except UpstreamError as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=502)
    return Response(pdf, media_type="application/pdf")


def create_app(settings: Settings, *, services: Services | None = None) -> Starlette:
    """The gateway. Pass `services` to share ones built outside (tests); else the lifespan builds them."""
    graphql = LearnGraphGraphQL(schema)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = services is None
        app.state.services = services or build_services(settings)
        log_receiver_state(app.state.services.settings)
        # The schema, clients and directory live as long as the process: keep them out of every
        # garbage collection (a full one over them cost 3-4 ms of each large request).
        gc.freeze()
        try:
            yield
        finally:
            if own:
                await app.state.services.upstreams.aclose()

    app = Starlette(
        routes=[
            Route("/graphql", GraphQLEndpoint(graphql), methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/certificates/{schedule_id}", certificate),
            Route("/webhooks/damstra", damstra_webhook, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    return app
