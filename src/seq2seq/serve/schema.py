"""The request and response bodies of /v1/translate, the checks a request passes before it is queued, and what
/v1/model describes."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..config import ConfigError, DecodeConfig
from ..inference.translator import InputError, InputTooLong
from .options import ServeOptions


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
    timeout_ms: int | None = Field(None, ge=1, le=86_400_000, description="answer 504 if not done within this "
                                   "many milliseconds (capped by the server's --request-timeout)")


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

    def __init__(self, status: int, message: str, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


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
