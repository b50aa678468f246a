"""GET /certificates/{scheduleId}: a completed DAMSTRA schedule's PDF certificate, passed through.

It reads through the data layer like any query, so the caller's access rules decide it too.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.data.callers import Caller
from gateway.data.context import Context, Services
from gateway.errors import Forbidden, InvalidNativeId, UpstreamError, UpstreamNotFound
from gateway.server.auth import caller_of


async def certificate(request: Request) -> Response:
    services: Services = request.app.state.services
    caller = caller_of(request.scope) or Caller.unauthenticated()
    context = Context.build(services, request, caller=caller)
    try:
        pdf = await context.listings.certificate(request.path_params["schedule_id"])
    except InvalidNativeId as exc:
        return JSONResponse({"error": str(exc), "code": exc.code}, status_code=400)
    except Forbidden as exc:  # someone the caller may not see
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=403)
    except UpstreamNotFound as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=404)
    except UpstreamError as exc:
        return JSONResponse({"error": exc.message, "code": exc.code}, status_code=502)
    return Response(pdf, media_type="application/pdf")
