"""The body's size, checked before anything else (docs/contract.md §8's order: 413, then 401, then 400).

    app = Starlette(middleware=[..., Middleware(LimitBody, max_bytes=1_048_576), Middleware(RequireCaller, ...)])

A request whose `Content-Length` is over `max_bytes` is answered 413 (`REQUEST_TOO_LARGE`) before a
byte of it is read or its credential looked at. Any other body (chunked, without a length) is counted
as the app inside reads it: past `max_bytes` the read stops and the answer is the same 413, so no more
than `max_bytes` of a body is ever held. (A chunked body without a credential meets RequireCaller's 401
first: nothing reads it to learn its size.)
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(Exception):
    """Raised into the app reading the body, when it grows past the limit."""


class LimitBody:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            if declared > self.max_bytes:
                await self._refuse(send)
                return
            # The server reads no more than the length declared (h11 and httptools hold a body to
            # its Content-Length): nothing to count.
            await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = {
            "message": f"The request body is larger than {self.max_bytes} bytes",
            "extensions": {"code": "REQUEST_TOO_LARGE", "maxBytes": self.max_bytes},
        }
        body = orjson.dumps({"errors": [error]})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("latin-1")),
                    (b"connection", b"close"),  # the rest of the body is not read
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses it itself
    return None
