"""The FastAPI app of `seq2seq serve`: /v1/translate, /v1/model, /health, /docs and a page at /."""

from __future__ import annotations

import dataclasses
import json
import re
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable
from typing import Any

import uvicorn

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ..config import ConfigError, DecodeConfig
from ..loading import load
from ..translation import InputError, InputTooLong
from .batcher import Batcher

log = logging.getLogger("seq2seq")
STATIC = Path(__file__).parent / "static"


@dataclass
class ServeOptions:
    """Limits and batching of the server (each one a `seq2seq serve` option)."""

    max_inputs: int = 64
    max_input_chars: int = 1000
    max_body_bytes: int = 1_000_000
    max_beam: int = 16
    max_nbest: int | None = None  # None: the same as max_beam
    max_output_length: int = 1000
    batch_wait_ms: float = 5.0
    max_batch: int = 64
    threads: int = 1  # the engine's intra-op threads; more rarely helps small RNNs and competes with the event loop

    def __post_init__(self) -> None:
        if self.max_nbest is None:
            self.max_nbest = self.max_beam
        for name in ("max_inputs", "max_input_chars", "max_body_bytes", "max_beam", "max_nbest",
                     "max_output_length", "max_batch", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"--batch-wait-ms must be >= 0, got {self.batch_wait_ms}")


class SampleOptions(BaseModel):
    """Sampling instead of search; nbest draws per input."""

    model_config = ConfigDict(extra="forbid", strict=True)
    temperature: float = Field(1.0, ge=1e-6, description="softmax temperature (>= 1e-6)")
    top_k: int = Field(0, ge=0, description="sample from the k most likely tokens (0 = all)")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus mass in (0, 1]")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="same seed, same request: same outputs "
                             "(left out: a fresh seed each request)")


class TranslateRequest(BaseModel):
    """What to translate and how; a decoding field left out keeps the server's default (GET /v1/model)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={
        "examples": [{"inputs": ["hello", "world"], "beam": 5, "nbest": 2, "return_attention": False}]})
    inputs: list[str] = Field(description="texts to translate (at most --max-inputs, each at most "
                                          "--max-input-chars characters)")
    beam: int | None = Field(None, ge=1, description="beam width (1 = greedy; at most --max-beam)")
    nbest: int | None = Field(None, ge=1, description="outputs per input, best first (<= beam unless sampling)")
    max_length: int | None = Field(None, ge=1, description="cap on output tokens (default: the model's)")
    sample: SampleOptions | None = Field(None, description="sample instead of beam search")
    return_attention: bool = Field(False, description="add source_tokens and attention to each output (and "
                                                      "head_attention for a model with multi-head attention)")


class Output(BaseModel):
    text: str
    tokens: list[str]
    score: float
    source_tokens: list[str] | None = None
    attention: list[list[float]] | None = None
    head_attention: list[list[list[float]]] | None = Field(
        None, description="each head's attention (heads x output steps x source steps); `attention` is their mean")


class TranslateResponse(BaseModel):
    outputs: list[list[Output]]
    model: str
    elapsed_ms: float


class ApiError(Exception):
    """An answer other than 200, with a message naming the limit or the field."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class BodyLimit:
    """ASGI middleware: 413 when a request body is over the limit, by Content-Length or by bytes read."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await self._answer(send, 400, "invalid Content-Length header")
                return
            if size > self.max_bytes:
                await self._answer(send, 413, f"request body too large: {size} bytes > --max-body-bytes "
                                              f"{self.max_bytes}")
                return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._answer(send, 413, f"request body too large: more than {self.max_bytes} bytes "
                                              f"(--max-body-bytes {self.max_bytes})")
                return
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _answer(send: Any, status: int, message: str) -> None:
        payload = json.dumps({"detail": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": payload})


# decode.<key> named in a refusal -> the request field that set it
_FIELDS = {"beam_size": "beam", "strategy": "beam", "nbest": "nbest", "max_length": "max_length",
           "temperature": "sample", "top_k": "sample", "top_p": "sample", "seed": "sample"}


def _field_of(message: str) -> str | None:
    """The request field a `decode.<key>` refusal is about."""
    match = re.search(r"decode\.(\w+)", message)
    return _FIELDS.get(match.group(1)) if match else None


def model_info(model: Any, run_dir: str | Path | None, decode: DecodeConfig | None = None) -> dict[str, Any]:
    """What GET /v1/model answers: architecture, vocabularies, size and a training summary."""
    cfg = model.config
    info: dict[str, Any] = {
        "name": Path(run_dir).name if run_dir else "model",
        "preset": cfg.preset,
        "model": dataclasses.asdict(cfg.model),
        "tokenizers": {"source": cfg.source_tokenizer, "target": cfg.target_tokenizer},
        "reverse_source": cfg.data.reverse_source,
        "max_source_length": cfg.data.max_source_length,
        # A side's size: its vocabulary for tokens, its vector dimension for features.
        "source": {"type": cfg.data.source_type, "size": model.source.size},
        "target": {"type": cfg.data.target_type, "size": model.target.size},
        "parameters": model.parameter_count,
        "engine": model.engine,
        "decode": dataclasses.asdict(decode or cfg.decode),
        "training": None,
        "test": None,
    }
    if run_dir is not None:
        metrics = Path(run_dir) / "metrics.jsonl"
        try:
            lines = [ln for ln in metrics.read_text(encoding="utf-8").splitlines() if ln.strip()]
            last = json.loads(lines[-1]) if lines else None
        except (OSError, ValueError):
            last = None
        if isinstance(last, dict):
            keys = ("epoch", "step", "valid_exact_match", "valid_loss", "valid_perplexity",
                    "valid_token_accuracy", "valid_bleu", "valid_chrf")
            info["training"] = {k: last[k] for k in keys if k in last}
            info["training"]["evaluations"] = len(lines)
        try:
            info["test"] = json.loads((Path(run_dir) / "test_metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
    return info


def request_options(req: TranslateRequest, model: Any, opts: ServeOptions, defaults: DecodeConfig) -> DecodeConfig:
    """The decoding options of a request (the server's defaults with its fields), within the server's limits,
    its inputs checked as `Model.translate` checks them; ApiError 413 or 422 naming the limit or the field
    otherwise."""
    if len(req.inputs) > opts.max_inputs:
        raise ApiError(413, f"too many inputs: {len(req.inputs)} > --max-inputs {opts.max_inputs}")
    for i, text in enumerate(req.inputs):
        if len(text) > opts.max_input_chars:
            raise ApiError(413, f"input {i} too long: {len(text)} characters > --max-input-chars "
                                f"{opts.max_input_chars}")
    decode = _decode_options(req, model, opts, defaults)
    for i, text in enumerate(req.inputs):
        try:
            model.encode_input(text, decode)
        except InputTooLong as e:
            raise ApiError(413, f"input {i} too long: {e}") from None
        except InputError as e:
            raise ApiError(422, f"input {i}: {e}", "inputs") from None
    return decode


def _decode_options(req: TranslateRequest, model: Any, opts: ServeOptions, defaults: DecodeConfig) -> DecodeConfig:
    s = req.sample
    overrides = {"beam": req.beam, "nbest": req.nbest, "max_length": req.max_length}
    if s is not None:
        overrides.update(sample=True, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, seed=s.seed)
    try:
        decode = model.decode_options(defaults, **overrides)
    except ConfigError as e:
        raise ApiError(422, str(e), _field_of(str(e))) from None
    beam = decode.beam_size if decode.strategy == "beam" else 1
    for name, value, most, flag in (("beam", beam, opts.max_beam, "--max-beam"),
                                    ("nbest", decode.nbest, opts.max_nbest, "--max-nbest"),
                                    ("max_length", decode.max_length, opts.max_output_length, "--max-output-length")):
        if value > most:
            raise ApiError(422, f"{name} {value} out of range: 1..{most} ({flag} {most})", name)
    return decode


def create_app(model: Any, options: ServeOptions | None = None, run_dir: str | Path | None = None,
               decode: DecodeConfig | None = None) -> FastAPI:
    """The app serving `model` (a `seq2seq.Model`); `run_dir` feeds the training summary of /v1/model;
    `decode` (default: the run's decode section) is what a request's left-out decoding fields take."""
    opts = options or ServeOptions()
    defaults = decode or model.config.decode
    info = model_info(model, run_dir, defaults)
    name = info["name"]
    batcher = Batcher(model, max_batch=opts.max_batch, wait_ms=opts.batch_wait_ms)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(title="seq2seq", version="1", lifespan=lifespan,
                  description=f"Translate with the RNN encoder-decoder model `{name}`. Limits: "
                              f"{opts.max_inputs} inputs of {opts.max_input_chars} characters, "
                              f"{opts.max_body_bytes} body bytes, beam <= {opts.max_beam}, "
                              f"nbest <= {opts.max_nbest}.")
    app.state.batcher = batcher
    app.state.options = opts
    app.add_middleware(BodyLimit, max_bytes=opts.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, e: ApiError) -> JSONResponse:
        if e.status == 422:  # the shape of FastAPI's own validation errors
            detail: Any = [{"type": "value_error", "loc": ["body", e.field] if e.field else ["body"], "msg": e.message}]
        else:
            detail = e.message
        return JSONResponse({"detail": detail}, status_code=e.status)

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

    @app.post("/v1/translate", response_model=TranslateResponse, response_model_exclude_none=True,
              summary="Translate texts", responses={400: {"description": "a body that cannot be read as JSON"},
                                                    413: {"description": "a limit was exceeded (named)"},
                                                    422: {"description": "invalid request"}})
    async def translate(req: TranslateRequest) -> dict[str, Any]:
        start = time.perf_counter()
        decode = request_options(req, model, opts, defaults)
        results = await batcher.translate(req.inputs, decode, attention=req.return_attention)
        outputs = [[t.to_dict(attention=req.return_attention) for t in hyps] for hyps in results]
        return {"outputs": outputs, "model": name, "elapsed_ms": round((time.perf_counter() - start) * 1000, 3)}

    @app.get("/v1/model", summary="Architecture, vocabularies, training summary and limits")
    async def describe() -> dict[str, Any]:
        return {**info, "limits": dataclasses.asdict(opts)}

    @app.get("/health", summary="Liveness")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": name, "waiting": batcher.waiting, "requests": batcher.requests,
                "batches": batcher.calls}

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def serve(run_dir: str | Path, host: str = "127.0.0.1", port: int = 8000, options: ServeOptions | None = None,
          which: str = "best", log_level: str = "info",
          decode: Callable[[DecodeConfig, str], DecodeConfig] | None = None, engine: str = "auto") -> None:
    """Load the run's (or an exported) model on `engine` (see `seq2seq.load`) and serve it until interrupted;
    `decode(run's decode section, target type)` gives the server's decoding defaults (the command line's
    decoding flags)."""
    opts = options or ServeOptions()
    model = load(run_dir, which=which, engine=engine, threads=opts.threads)
    defaults = decode(model.config.decode, model.config.data.target_type) if decode is not None else None
    app = create_app(model, opts, run_dir, defaults)
    shown = f"[{host}]" if ":" in host else host
    print(f"serving {run_dir} at http://{shown}:{port}/  (API docs: http://{shown}:{port}/docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level == "debug")
