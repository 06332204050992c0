"""The prediction API: the registered fastText model behind HTTP (Application 3).

``create_app()`` builds the FastAPI application; ``course serve`` runs it with
uvicorn (``uvicorn --factory course_lib.serving.app:create_app`` works too).  Which
model it serves comes from ``MLFLOW_MODEL_NAME`` and ``MLFLOW_MODEL_VERSION``
(see :mod:`course_lib.serving.model_service`), so the same image serves any trainee's
model and a new version is deployed by changing one environment variable.

Bad input never reaches the model: the pydantic models reject it with a 422
that names the field, and every error, whatever raised it, is answered as
``{"message": ..., "errors": [...]}`` without echoing a 100,000-character input
back.  Route functions are plain ``def``: FastAPI runs them in its thread pool,
so a long batch never blocks ``/health``.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from pydantic import Field, create_model
from starlette.exceptions import HTTPException

from course_lib.data.nomenclature import dotted_code, load_nomenclature
from course_lib.errors import CourseError
from course_lib.model.pyfunc import InvalidInput
from course_lib.serving.body_limit import BodySizeLimit
from course_lib.serving.limits import DEFAULT_PORT, max_body_bytes
from course_lib.serving.model_service import ModelService, ServingConfig
from course_lib.serving.prediction_log import PredictionLog, open_prediction_log
from course_lib.serving.request_log import RequestLogging
from course_lib.serving.schemas import (
    BLANK_MESSAGE,
    BatchRequest,
    BatchResponse,
    Description,
    ErrorItem,
    ErrorResponse,
    Health,
    PredictQuery,
    PredictResponse,
    Readiness,
    ServiceInfo,
)

log = logging.getLogger("course_lib.serving")

DESCRIPTION = """
Predicts the NAF rév. 2 subclass (the French version of NACE Rev. 2) of a
company from the free text describing its activity.

* `GET /predict` classifies one description; `POST /predict` a batch, in one
  model call.
* `GET /` tells which registered model version this process serves.
* `GET /health` answers as soon as the process runs; `GET /ready` answers 503
  until the model is loaded.
"""

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request is not valid UTF-8."},
    413: {"model": ErrorResponse, "description": "Too many descriptions, or too large a body."},
    422: {
        "model": ErrorResponse,
        "description": "A field is missing, blank, too long or out of range.",
    },
    503: {
        "model": ErrorResponse,
        "description": "The model is not loaded yet (or failed to load).",
    },
}


def create_app(
    service: ModelService | None = None,
    load: bool = True,
    prediction_log: PredictionLog | None = None,
) -> FastAPI:
    """The application; ``service`` defaults to the model chosen by the environment.

    Tests pass their own service (and ``load=False`` to load it themselves).
    The prediction log is opened when the application starts (from the
    environment, see :class:`~course_lib.serving.prediction_log.LogConfig`,
    unless one is given) and drained when it stops.
    """
    service = service or ModelService(ServingConfig.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.prediction_log = prediction_log or open_prediction_log()
        if load and not service.ready:
            service.start()
        if app.state.prediction_log is not None:
            # word counts need the model's vocabulary, known once it has loaded
            app.state.prediction_log.model_source = lambda: service.model
        yield
        service.stop()
        if app.state.prediction_log is not None:
            app.state.prediction_log.close()  # drains the queue: nothing lost on SIGTERM

    # /docs from the package's own copy of Swagger UI: the usual CDN is out of
    # reach on a laptop offline or in a cluster without egress. No /redoc: ReDoc
    # still fetches its logo from cdn.redoc.ly, and /docs is the course's page.
    app = FastAPIOffline(
        redoc_url=None,
        title="NACE activity code API",
        summary="fastText model from the MLflow registry, served by the MLOps course",
        description=DESCRIPTION,
        version="1.0",
        lifespan=lifespan,
        # Swagger UI's validator badge is an image fetched from validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    )
    app.state.service = service
    app.state.prediction_log = None
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes(service.config.max_batch))
    # Added last, so outermost: it times and logs every answer, the 413 above included.
    app.add_middleware(
        RequestLogging,
        prediction_log=lambda: app.state.prediction_log,
        model=lambda: (service.config.model_name, service.version or ""),
    )
    _add_error_handlers(app)
    _add_routes(app, service)
    return app


def _prediction(row: dict[str, Any], code: str, label: str) -> dict[str, Any]:
    """One ranked code as :class:`Prediction` documents it."""
    return {
        "nace": row["nace"],
        "code": code,
        "label": label,
        "probability": float(row["probability"]),
    }


def batch_request_model(max_batch: int) -> type[BatchRequest]:
    """:class:`BatchRequest` with this deployment's batch limit as the list's ``max_length``.

    The limit is set per deployment (``API_MAX_BATCH``).  Carried by the model,
    it is checked before a single description is validated (a list of a
    million non-strings is one error, not a million) and documented as
    ``maxItems`` in the schema that /docs and clients read.
    """
    return create_model(
        "BatchRequest",
        __base__=BatchRequest,
        __doc__=BatchRequest.__doc__,
        descriptions=(list[Description], Field(min_length=1, max_length=max_batch)),
    )


def _add_routes(app: FastAPI, service: ModelService) -> None:
    labels = load_nomenclature()
    shown: dict[str, tuple[str, str]] = {}

    def display(nace: str) -> tuple[str, str]:
        """Dotted code and label of a subclass, looked up once per code (732 at most)."""
        if nace not in shown:
            shown[nace] = (dotted_code(nace), labels.label(nace))
        return shown[nace]

    def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The answer's predictions as plain dicts: the route returns them as JSON directly.

        They follow :class:`Prediction` (the documented schema), built here without a
        pydantic object per code and without FastAPI validating the answer again: on a
        batch of 1,000 this halved the time spent outside the model.
        """
        return [_prediction(p, *display(p["nace"])) for p in rows]

    def predict(texts: list[str], k: int, request: Request) -> list[list[dict[str, Any]]]:
        if not service.ready:
            raise HTTPException(503, detail=f"the model is not ready: {service.detail}")
        try:
            rows = service.model.predict(texts, params={"k": k})
        except InvalidInput as exc:
            raise HTTPException(422, detail=str(exc)) from exc
        request.state.served = (texts, rows)  # for the prediction log (request_log.py)
        return [ranked(row) for row in rows]

    @app.get("/", response_model=ServiceInfo, tags=["service"])
    def info() -> ServiceInfo:
        """Which model this process serves: check it after each deployment."""
        return ServiceInfo(
            model_name=service.config.model_name,
            model_version=service.version,
            model_uri=service.uri,
            ready=service.ready,
        )

    @app.get("/health", response_model=Health, tags=["service"])
    def health() -> Health:
        """Liveness: the process answers (the model may still be loading)."""
        return Health(status="alive")

    @app.get(
        "/ready", response_model=Readiness, tags=["service"], responses={503: {"model": Readiness}}
    )
    def ready() -> JSONResponse:
        """Readiness: 200 once the model is loaded, 503 with the reason until then."""
        body = Readiness(ready=service.ready, status=service.status, detail=service.detail)
        return JSONResponse(body.model_dump(), status_code=200 if service.ready else 503)

    @app.get("/predict", response_model=PredictResponse, tags=["predict"], responses=ERRORS)
    def predict_one(query: Annotated[PredictQuery, Query()], request: Request) -> JSONResponse:
        """Classify one description (``nb_echoes_max``: how many ranked codes)."""
        _require_utf8_query(request)
        (predictions,) = predict([query.description], query.nb_echoes_max, request)
        return JSONResponse(
            {
                "model_version": service.version or "",
                "description": query.description,
                "predictions": predictions,
            }
        )

    def predict_batch(batch: BatchRequest, request: Request) -> JSONResponse:
        """Classify a batch of descriptions in one model call (at most ``API_MAX_BATCH``)."""
        predictions = predict(batch.descriptions, batch.nb_echoes_max, request)
        return JSONResponse(
            {
                "model_version": service.version or "",
                "results": [
                    {"description": text, "predictions": ranked_codes}
                    for text, ranked_codes in zip(batch.descriptions, predictions, strict=True)
                ],
            }
        )

    # The body's model is made for this deployment's limit, so it is set here rather
    # than written in the signature (FastAPI reads the annotation when registering).
    predict_batch.__annotations__["batch"] = batch_request_model(service.config.max_batch)
    app.post("/predict", response_model=BatchResponse, tags=["predict"], responses=ERRORS)(
        predict_batch
    )


def _require_utf8_query(request: Request) -> None:
    """Refuse percent-encoded bytes that are not UTF-8.

    Starlette decodes them with replacement characters, so "caf%E9" (Latin-1)
    would be classified as "caf�" without a word of warning.
    """
    try:
        unquote_to_bytes(request.scope.get("query_string", b"").decode("latin-1")).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(
            400,
            detail=f"the query string is not valid UTF-8 (byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start}): percent-encode the description's UTF-8 bytes",
        ) from exc


BODY_UNREADABLE = "There was an error parsing the body"
"""FastAPI's own detail when a body cannot be decoded at all; the cause says why."""
ERRORS_SHOWN = 10
"""Errors listed in one answer, at most: the count says how many there were."""
EXAMPLE_BODY = '{"descriptions": ["coiffure mixte"], "nb_echoes_max": 1}'


def _unreadable_body(cause: BaseException | None) -> str:
    """Why ``json.loads`` gave up on a body, in words (FastAPI chains the cause)."""
    if isinstance(cause, RecursionError):
        return (
            f"the body is too deeply nested to read: send a flat JSON object such as {EXAMPLE_BODY}"
        )
    if isinstance(cause, UnicodeDecodeError):
        return "the body could not be read: send JSON encoded in UTF-8"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "the body holds a number too long to read: nb_echoes_max is a number from 1 to 50"
    return f"the body could not be read as JSON: send a JSON object such as {EXAMPLE_BODY}"


def _too_many(errors: list[dict[str, Any]]) -> str | None:
    """The 413 message when the batch is over this deployment's limit, else None."""
    for error in errors:
        if error.get("type") == "too_long" and tuple(error.get("loc", ())) == (
            "body",
            "descriptions",
        ):
            ctx = error.get("ctx", {})
            limit, sent = ctx.get("max_length"), ctx.get("actual_length")
            return (
                f"{sent} descriptions in one request; the limit is {limit}: "
                f"send them in chunks of at most {limit}"
            )
    return None


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        too_many = _too_many(list(raw))
        if too_many:
            return JSONResponse(ErrorResponse(message=too_many).model_dump(), status_code=413)
        errors = [_error_item(error) for error in raw[:ERRORS_SHOWN]]
        summary = "; ".join(f"{e.location}: {e.message}" for e in errors[:5])
        if len(raw) > len(errors):
            summary += f" ({len(raw):,} errors in all, the first {len(errors)} listed)"
        body = ErrorResponse(message=f"invalid request: {summary}", errors=errors)
        return JSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if message == BODY_UNREADABLE:
            message = _unreadable_body(exc.__cause__)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # GET and POST /predict are two routes; Starlette's Allow names only the first.
            headers["Allow"] = ", ".join(_methods(app, request.scope.get("path", "")))
            message = f"method {request.method} not allowed; use {headers['Allow']}"
        body = ErrorResponse(message=message)
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = ErrorResponse(message="internal error: the server log has the details")
        return JSONResponse(body.model_dump(), status_code=500)


def _methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route of ``path`` accepts (HEAD and OPTIONS aside)."""
    methods = {
        method
        for route in app.routes
        if getattr(route, "path", None) == path
        for method in getattr(route, "methods", ()) or ()
    }
    return sorted(methods - {"HEAD", "OPTIONS"})


def _error_item(error: dict[str, Any]) -> ErrorItem:
    """One pydantic error, without its ``input`` (which may be huge or binary)."""
    location = ".".join(str(part) for part in error.get("loc", ()))[:100]
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "string_pattern_mismatch":  # the only pattern: NOT_BLANK
        message = BLANK_MESSAGE
    if error.get("type") == "json_invalid":
        location = "body"
        message = f"the body is not valid JSON: send a JSON object such as {EXAMPLE_BODY}"
    return ErrorItem(location=location, message=message.removeprefix("Value error, "))


def serve(
    config: ServingConfig,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    root_path: str = "",
    status: Callable[[str], object] = print,
) -> None:
    """``course serve``: run the API under uvicorn in this process until stopped.

    With no ``MLFLOW_TRACKING_URI``, the course's local tracking server is used
    (started for the API's lifetime if none runs).  The server is not asked
    whether it answers first: a pod must start, and say on ``/ready`` why it is
    not ready, even while the registry is down, rather than crash-loop.
    """
    import uvicorn

    from course_lib.tracking.server import tracking_server

    if root_path and not root_path.startswith("/"):
        raise CourseError(f"--root-path {root_path!r} must start with '/', e.g. /proxy/{port}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    # uvicorn re-raises SIGTERM once it has shut down; exiting through Python
    # (not the default handler) lets the temporary MLflow server be stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with tracking_server(check=False) as uri:
        status(f"serving {config.wanted_uri()} from {uri} on http://{host}:{port}{root_path}")
        application = create_app(ModelService(config))
        uvicorn.run(application, host=host, port=port, root_path=root_path, log_level="info")
    status("API stopped")
