"""What both engines share in front of generation: raw inputs -> encoded sources (checked, truncated) ->
the engine's `generate` -> Translations (texts, tokens, scores, attention in reading order).

`Translator` is that front; `api.Model` (PyTorch) and `engine.OnnxModel` (onnxruntime) supply `generate`
and `parameter_count`, so a run and its exported copy answer `translate` and `predict` the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import Config, DecodeConfig
from ..config.overrides import decode_options
from ..data.sides import Side
from ..data.text_checks import text_problem
from ..search.hypothesis import Hypothesis

log = logging.getLogger("seq2seq")


class InputError(ValueError):
    """An input the model cannot take (not text or numbers as its source reads them, a NUL byte, too long);
    the message says why, and `Translator.translate` prefixes it with the input's index."""


class InputTooLong(InputError):
    """An input longer than decode.max_source_length (refused unless decode.truncate_source)."""


@dataclass
class Translation:
    """One output: its text (CSV notation for vectors), its steps' labels (tokens), summed log-probability,
    the source's labels, attention (output steps x source steps), for vector targets the values, and for
    multi-head attention each head's map (heads x output steps x source steps; `attention` is their mean)."""

    text: str
    tokens: list[str]
    score: float
    source_tokens: list[str]
    attention: list[list[float]] | None = None
    values: np.ndarray | None = None
    head_attention: list[list[list[float]]] | None = None

    def to_dict(self, attention: bool = True) -> dict[str, Any]:
        """JSON-ready dict (attention only when asked for; per-head maps where the model has heads)."""
        out: dict[str, Any] = {"text": self.text, "tokens": self.tokens, "score": self.score}
        if attention:
            out["source_tokens"] = self.source_tokens
            out["attention"] = self.attention
            if self.head_attention is not None:
                out["head_attention"] = self.head_attention
        return out


class Translator:
    """A trained model ready to use, whichever engine runs it: `config`, both sides and `generate`."""

    engine: ClassVar[str] = ""

    def __init__(self, config: Config, source: Side, target: Side):
        self.config = config
        self.source = source
        self.target = target

    @property
    def parameter_count(self) -> int:
        """The model's number of weights."""
        raise NotImplementedError

    def generate(self, sources: Sequence[Any], options: DecodeConfig,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Per encoded source, its hypotheses best first, with attention when asked (what the engine does)."""
        raise NotImplementedError

    def encode(self, inputs: list[Any]) -> list[Any]:
        """Raw inputs to what the encoder reads (reversed if the model was trained so)."""
        return [self.source.encode(x) for x in inputs]

    def decode(self, output: Any) -> Any:
        """A generated output to a raw value (text, or vectors in the original units)."""
        return self.target.decode(output)

    def decode_options(self, options: DecodeConfig | None = None, **overrides: Any) -> DecodeConfig:
        """The run's decoding defaults (or `options`) with `overrides` applied and checked (see
        `config.overrides.decode_options` for the names: DecodeConfig's fields, beam, sample, alpha)."""
        return decode_options(options or self.config.decode, self.config.data.target_type, **overrides)

    def translate(self, inputs: Any, options: DecodeConfig | None = None, *, attention: bool = False,
                  tokenized: bool = False, **overrides: Any) -> list[list[Translation]]:
        """Per input, its outputs best first (decode.nbest of them for beam search and sampling).

        Inputs are texts for a token source, (steps, dim) arrays or CSV notation for a feature source.
        The run's decoding defaults apply unless `options` or keyword overrides change them, e.g.
        `beam=5, nbest=2`, `sample=True, temperature=0.8, seed=1`, `alpha=0.6`, `max_length=50`.
        Every input is checked before any is translated (InputError naming the first bad one); attention
        weights are kept only with `attention=True` (they take outputs x source steps of memory each).
        Word-level outputs are readable text unless `tokenized=True` (spaced tokens, as BLEU scorers want).
        """
        batch = [inputs] if isinstance(inputs, str) else list(inputs)
        opts = self.decode_options(options, **overrides)
        sources = self.check_inputs(batch, opts)
        todo = [i for i, s in enumerate(sources) if len(s) > 0]
        hyps = self.generate([sources[i] for i in todo], opts, keep_attention=attention)
        results: list[list[Translation]] = [[Translation("", [], 0.0, [], [] if attention else None)] * opts.nbest
                                            for _ in batch]
        for i, hs in zip(todo, hyps):
            results[i] = [self._translation(batch[i], len(sources[i]), h, tokenized) for h in hs]
        return results

    def predict(self, inputs: list[Any], options: DecodeConfig | None = None, **overrides: Any) -> list[Any]:
        """The best output of each input as a raw value: a text, or a (steps, dim) array in the original units
        (for a vector target its length follows decode.feature_length)."""
        return [t[0].text if t[0].values is None else t[0].values
                for t in self.translate(list(inputs), options, **overrides)]

    def check_inputs(self, inputs: list[Any], options: DecodeConfig | None = None) -> list[Any]:
        """Each input encoded for the encoder (see `encode_input`); InputError naming the first bad one."""
        opts = options or self.config.decode
        encoded, cut = [], 0
        for i, raw in enumerate(inputs):
            try:
                steps, full = self._encode(raw, opts)
            except InputError as e:
                raise type(e)(f"input {i}: {e}") from None
            encoded.append(steps)
            cut += full > len(steps)
        if cut:
            log.warning("%d input(s) cut to decode.max_source_length=%d steps (decode.truncate_source=true)", cut,
                        opts.max_source_length)
        return encoded

    def encode_input(self, raw: Any, options: DecodeConfig | None = None) -> Any:
        """One input as the encoder reads it ([] for a blank text): a text without NUL bytes or lone surrogates
        for a token source, numbers (an array or CSV notation) for a feature source, at most
        decode.max_source_length steps (cut to that with decode.truncate_source); InputError otherwise."""
        return self._encode(raw, options or self.config.decode)[0]

    def _encode(self, raw: Any, opts: DecodeConfig) -> tuple[Any, int]:
        """`encode_input`, and the input's length before any cut."""
        if isinstance(raw, str):
            problem = text_problem(raw)
            if problem is not None:
                raise InputError(problem)
            if not raw.strip():
                return [], 0
        elif self.source.kind == "tokens":
            raise InputError(f"expected a text, got {type(raw).__name__}")
        try:
            encoded = self.source.encode(raw)
        except (ValueError, TypeError) as e:
            hint = (f" (the model reads sequences of {self.source.size}-value vectors: values separated by spaces, "
                    f"steps by ';')" if self.source.kind == "features" else "")
            raise InputError(f"{e}{hint}") from None
        limit, full = opts.max_source_length, len(encoded)
        if full > limit:
            if not opts.truncate_source:
                raise InputTooLong(f"{full} source steps, more than decode.max_source_length={limit}; "
                                   f"raise it, or set decode.truncate_source=true to cut long inputs")
            encoded = self.source.reversal.keep_first(encoded, limit)
        return encoded, full

    def _translation(self, raw: Any, steps: int, h: Hypothesis, tokenized: bool = False) -> Translation:
        value = self.target.decode(h.output)
        source_tokens = self.source.labels(raw)[:steps]  # a cut input (decode.truncate_source) shows what was kept
        attention = heads = None
        if h.attention is not None:
            attention = self.source.reversal.reading_order(h.attention[:, : len(source_tokens)]).tolist()
        if h.head_attention is not None:
            heads = self.source.reversal.reading_order(h.head_attention[..., : len(source_tokens)]).tolist()
        return Translation(self.target.format(value, tokenized), self.target.output_labels(h.output), h.score,
                           source_tokens, attention, None if isinstance(value, str) else value, heads)
