"""Request ids, latency and refusals: the ASGI middleware between the API and its log.

It sits outside every other part of the application, so what it measures is
what a client waits for (validation and serialisation included), and it
sees every answer, including the 413 the body-size guard sends before
FastAPI reads anything.

- **Request id.** An incoming ``X-Request-ID`` is kept (a proxy or the
  client may already have one to trace the request across services) if it is
  a sane token; otherwise the API makes one.  Either way it is returned in the
  answer's ``X-Request-ID`` header and written on every line of the request.
- **Predictions.** A route that classified descriptions leaves them in
  ``request.state.served``; the middleware adds the latency and queues them.
- **Refusals.** Any other answer with a status of 400 or more on a route
  other than the health probes is logged as ``refused``, with the status and
  the API's own message (read from the error body, which the API keeps small),
  never the request's body.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from course_lib.serving.log_records import Refused, Served
from course_lib.serving.prediction_log import PredictionLog

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._:/+=-]{1,128}")
NOT_LOGGED = frozenset({"/health", "/ready"})
"""Probes: Kubernetes calls them every few seconds; a 503 there is not a refusal."""
ERROR_BODY_BYTES = 4_096
ROUTE_CHARS = 200
"""A scanner's 10,000-character path is cut: a log line never grows with the input."""


def request_id_of(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's ``X-Request-ID`` if it is a short token, else a new random one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER and _SANE_ID.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


def refusal_reason(body: bytes, status: int) -> str:
    """The API's message from an error body ``{"message": ...}``, else the status."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else f"HTTP {status}"


class RequestLogging:
    """Pure ASGI middleware (no extra task per request, unlike ``BaseHTTPMiddleware``)."""

    def __init__(
        self,
        app: ASGIApp,
        prediction_log: Callable[[], PredictionLog | None],
        model: Callable[[], tuple[str, str]],
    ) -> None:
        self.app = app
        self.prediction_log = prediction_log
        self.model = model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope.get("headers", []))
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        answer: dict[str, Any] = {"status": 500, "latency": 0.0, "body": b""}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["latency"] = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode("ascii")),
                ]
            elif message["type"] == "http.response.body" and answer["status"] >= 400:
                answer["body"] = (answer["body"] + message.get("body", b""))[:ERROR_BODY_BYTES]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            answer["latency"] = (time.perf_counter() - started) * 1000
            answer["body"] = b'{"message": "internal error"}'
            self._record(scope, state, request_id, {**answer, "status": 500})
            raise
        self._record(scope, state, request_id, answer)

    def _record(
        self, scope: Scope, state: dict[str, Any], request_id: str, answer: dict[str, Any]
    ) -> None:
        prediction_log = self.prediction_log()
        path = scope.get("path", "")
        if prediction_log is None or path in NOT_LOGGED:
            return
        route = f"{scope.get('method', '')} {path}"[:ROUTE_CHARS]
        served = state.get("served")
        name, version = self.model()
        if served is not None and answer["status"] < 400:
            texts, predictions = served
            prediction_log.submit(
                Served(
                    request_id=request_id,
                    route=route,
                    model_name=name,
                    model_version=version,
                    texts=texts,
                    predictions=predictions,
                    latency_ms=answer["latency"],
                )
            )
        elif answer["status"] >= 400:
            prediction_log.submit(
                Refused(
                    request_id=request_id,
                    route=route,
                    status=answer["status"],
                    reason=refusal_reason(answer["body"], answer["status"]),
                    model_name=name,
                    model_version=version,
                    latency_ms=answer["latency"],
                )
            )
