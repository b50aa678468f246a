"""The throughput reference: a raw Starlette JSON endpoint, served by uvicorn as `learngraph serve`
serves the gateway (`uvicorn.run(app, host=..., port=..., log_config=None)`).

    python -m bench.reference_app --port 8200      # POST /json {"query": "{ __typename }"}

It reads and parses the JSON body as a GraphQL server must, and answers what `{ __typename }` answers,
so the gap to Q4 is what GraphQL execution and the gateway's per-request set-up cost.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ANSWER = {"data": {"__typename": "Query"}}


async def answer(request: Request) -> Response:
    payload = await request.json()
    if not isinstance(payload, dict) or "query" not in payload:
        return JSONResponse({"errors": [{"message": "no query"}]}, status_code=400)
    return JSONResponse(ANSWER)


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(routes=[Route("/json", answer, methods=["POST"]), Route("/healthz", healthz)])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8200)
    args = parser.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_config=None)


if __name__ == "__main__":
    main()
