"""A cap on request bodies, checked before a byte is parsed.

FastAPI reads a whole body into memory before validating it, so without a cap
one 2 GB upload could get the pod killed for exceeding its memory limit, a
5xx for every client at once. The cap is generous: a full batch of the longest
descriptions, in the widest UTF-8, still fits.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_lib.serving.schemas import ErrorResponse


def too_large(size: int, limit: int) -> HTTPException:
    return HTTPException(
        413,
        detail=f"the request body has {size:,} bytes or more; the limit is {limit:,}: "
        "send fewer or shorter descriptions per request",
    )


class BodySizeLimit:
    """Pure ASGI middleware: 413 on a declared Content-Length over the limit, or as
    soon as a chunked body passes it (the route's error handler answers)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await _answer_413(send, int(declared), self.max_bytes)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large(received, self.max_bytes)
            return message

        await self.app(scope, limited, send)


async def _answer_413(send: Send, size: int, limit: int) -> None:
    body = ErrorResponse(message=too_large(size, limit).detail).model_dump_json().encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
