"""The FastAPI app of `seq2seq serve`: /v1/translate, /v1/model, /health, /metrics, /docs and a page at /."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles

from ..config import DecodeConfig
from .admission import InFlight, InFlightLimit
from .auth import BearerAuth
from .batcher import Batcher, Overloaded, ShuttingDown
from .body_limit import BodyLimit
from .json_route import JsonBodyRoute
from .metrics import CountRequests, ServerMetrics
from .options import ServeOptions
from .schema import ApiError, TranslateRequest, TranslateResponse, model_info, request_options

log = logging.getLogger("seq2seq")
STATIC = Path(__file__).parent / "static"
CLIENT_GONE = 499  # nginx's code for a request whose client closed the connection first (nobody reads it)


async def _disconnected(receive: Callable[[], Awaitable[dict]]) -> None:
    """Return when the client has closed the connection (the body was read already, so only that can come)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def within(work: Awaitable[Any], request: Request, seconds: float) -> Any:
    """The result of `work`, unless `seconds` pass first (ApiError 504) or the client goes away (499): then the
    work is cancelled, which takes it out of the batcher's queue.

    The request's own task awaits the work and is cancelled by a timer or by a watcher of the connection (a
    task and `asyncio.wait` more per request would cost every request a good part of the event loop's time)."""
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    why: list[ApiError] = []

    def stop(error: ApiError) -> None:
        if not why:
            why.append(error)
            me.cancel()

    timer = loop.call_later(seconds, stop, ApiError(
        504, f"not done within {seconds * 1000:.0f} ms (--request-timeout or the request's timeout_ms)"))
    watcher = asyncio.ensure_future(_disconnected(request.receive))
    watcher.add_done_callback(
        lambda w: None if w.cancelled() else stop(ApiError(CLIENT_GONE, "client closed the connection")))
    try:
        return await work
    except asyncio.CancelledError:
        if not why:
            raise  # cancelled from outside (the server stopping): not ours to answer
        if hasattr(me, "uncancel"):
            me.uncancel()
        raise why[0] from None
    finally:
        timer.cancel()
        watcher.cancel()


def create_app(model: Any, options: ServeOptions | None = None, run_dir: str | Path | None = None,
               decode: DecodeConfig | None = None, api_key: str | None = None,
               cors_origins: Sequence[str] = ()) -> FastAPI:
    """The app serving `model` (a `seq2seq.Model`); `run_dir` feeds the training summary of /v1/model;
    `decode` (default: the run's decode section) is what a request's left-out decoding fields take; `api_key`
    (if any) is required as a Bearer token on every route but /health; `cors_origins` may call it from a page."""
    opts = options or ServeOptions()
    defaults = decode or model.config.decode
    info = model_info(model, run_dir, defaults)
    name = info["name"]
    batcher = Batcher(model, max_batch=opts.max_batch, wait_ms=opts.batch_wait_ms, max_queue=opts.max_queue,
                      floor=opts.max_inputs, queue_seconds=opts.max_queue_ms / 1000)
    # Requests in the server at once: the queue's bound plus a running batch, or --max-queue-ms of answers.
    in_flight = InFlight(None if opts.max_queue is None else opts.max_queue + opts.max_batch,
                         floor=max(opts.max_inputs, opts.max_batch), seconds=opts.max_queue_ms / 1000)
    metrics = ServerMetrics(batcher, opts.max_batch, in_flight)
    batcher.on_batch = metrics.batch

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    # FastAPI's OpenTelemetry hooks (recent versions) look the tracer and meter providers up on every request, a
    # cost an overloaded server pays for each refusal too; this server has /metrics instead.
    app = FastAPI(title="seq2seq", version="1", lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description=f"Translate with the encoder-decoder model `{name}`. Limits: "
                              f"{opts.max_inputs} inputs of {opts.max_input_chars} characters, "
                              f"{opts.max_body_bytes} body bytes, beam <= {opts.max_beam}, "
                              f"nbest <= {opts.max_nbest}, {opts.request_timeout:g} s per request."
                              + (" Every route but /health needs `Authorization: Bearer <key>`." if api_key else ""))
    app.state.batcher = batcher
    app.state.options = opts
    app.state.metrics = metrics
    app.state.in_flight = in_flight
    # Outermost last: CORS answers a browser's preflight, then the key is checked, then the requests in
    # flight are counted, then the body's size.
    app.add_middleware(BodyLimit, max_bytes=opts.max_body_bytes)
    app.add_middleware(InFlightLimit, state=in_flight, queue=batcher)
    if api_key:
        app.add_middleware(BearerAuth, key=api_key)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["authorization", "content-type"])
    app.add_middleware(CountRequests, metrics=metrics)
    # The key itself is checked by BearerAuth for every path; this only documents it in the OpenAPI schema.
    secured = [Security(HTTPBearer(auto_error=False, description="the server's --api-key"))] if api_key else []
    denied = {401: {"description": "missing or wrong API key"}} if api_key else {}

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        if e.status == 422:  # the shape of FastAPI's own validation errors
            detail: Any = [{"type": "value_error", "loc": ["body", e.field] if e.field else ["body"], "msg": e.message}]
        else:
            detail = e.message
        return JSONResponse({"detail": detail}, status_code=e.status, headers=e.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes each bad value back, which JSON cannot always carry (a NaN, a lone
        # surrogate) and a client does not need: the field and the reason are enough.
        detail = [{"type": err.get("type"), "loc": list(err.get("loc", ())), "msg": err.get("msg")}
                  for err in e.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def _internal(_: Request, e: Exception) -> JSONResponse:
        log.exception("request failed")  # the exception goes to the log, never to the client
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)

    async def translate(req: TranslateRequest, request: Request) -> dict[str, Any]:
        start = time.perf_counter()
        decode = request_options(req, model, opts, defaults)
        seconds = opts.request_timeout if req.timeout_ms is None else min(opts.request_timeout, req.timeout_ms / 1000)
        try:
            results = await within(batcher.translate(req.inputs, decode, attention=req.return_attention),
                                   request, seconds)
        except Overloaded as e:
            raise ApiError(503, str(e), headers={"Retry-After": str(e.retry_after)}) from None
        except ShuttingDown as e:
            raise ApiError(503, str(e), headers={"Retry-After": "1", "Connection": "close"}) from None
        outputs = [[t.to_dict(attention=req.return_attention) for t in hyps] for hyps in results]
        elapsed = time.perf_counter() - start
        metrics.latency.observe(elapsed)
        return {"outputs": outputs, "model": name, "elapsed_ms": round(elapsed * 1000, 3)}

    # The hot path: the route documents the body and answers, JsonBodyRoute handles them (see json_route.py).
    app.router.add_api_route(
        "/v1/translate", translate, methods=["POST"], route_class_override=JsonBodyRoute,
        response_model=TranslateResponse, response_model_exclude_none=True, summary="Translate texts",
        dependencies=secured,
        responses={400: {"description": "an invalid Content-Length header"}, **denied,
                   413: {"description": "a limit was exceeded (named)"},
                   422: {"description": "invalid request (malformed JSON included)"},
                   503: {"description": "queue full (Retry-After says when to try again) or shutting down"},
                   504: {"description": "not done within the deadline (--request-timeout, timeout_ms)"}})

    @app.get("/v1/model", summary="Architecture, vocabularies, training summary and limits", dependencies=secured,
             responses=denied)
    async def describe() -> dict[str, Any]:
        return {**info, "limits": {**dataclasses.asdict(opts), "queue_limit_now": batcher.max_queue,
                                   "in_flight_limit_now": in_flight.limit}}

    @app.get("/health", summary="Liveness (no key needed)")
    async def health() -> dict[str, Any]:
        return {"status": "draining" if batcher.draining else "ok", "model": name, "waiting": batcher.waiting,
                "queued_inputs": batcher.queued_inputs, "in_flight": in_flight.count, "requests": batcher.requests,
                "batches": batcher.calls}

    @app.get("/metrics", summary="Prometheus metrics (text format)", response_class=PlainTextResponse,
             dependencies=secured, responses=denied)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
