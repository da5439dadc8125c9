"""The Python API: `seq2seq.load(DIR)` (or `load_ensemble([DIR, ...])`), `Model.translate(...)` and
`Model.score(...)`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .bundle import Bundle, load_bundle
from .config import ConfigError, DecodeConfig
from .data.copying import encode_pair, resolve
from .decoding import Hypothesis, decode_options, generate
from .decoding.scoring import score_pairs
from .ensembling import load_members

log = logging.getLogger("seq2seq")


class InputTooLong(ValueError):
    """An input longer than the model's data.max_source_length, refused in strict mode."""


@dataclass
class Translation:
    """One output: its text (CSV notation for vectors), its steps' labels (tokens), summed log-probability,
    the source's labels, attention (output steps x source steps; averaged over heads), for vector targets
    the values, and with several attention heads each head's map (heads x output steps x source steps)."""

    text: str
    tokens: list[str]
    score: float
    source_tokens: list[str]
    attention: list[list[float]] | None = None
    values: np.ndarray | None = None
    head_attention: list[list[list[float]]] | None = None

    def to_dict(self, attention: bool = True) -> dict[str, Any]:
        """JSON-ready dict (attention only when asked for)."""
        out: dict[str, Any] = {"text": self.text, "tokens": self.tokens, "score": self.score}
        if attention:
            out["source_tokens"] = self.source_tokens
            out["attention"] = self.attention
        return out


@dataclass
class Score:
    """A given target's log-probability under the model: the sum, and per token (the target's tokens and </s>)."""

    score: float
    tokens: list[str]
    token_scores: list[float]


class Model:
    """A trained model ready to use; `seq2seq.load(run_dir)` returns one, `seq2seq.load_ensemble(run_dirs)` one
    whose `net` averages several runs' step probabilities (config and sides: the first run's)."""

    def __init__(self, bundle: Bundle, net: torch.nn.Module | None = None):
        self.bundle = bundle
        self.config = bundle.config
        self.net = bundle.model if net is None else net
        self.source = bundle.source
        self.target = bundle.target

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> Model:
        """Move the weights (e.g. to "cuda"); returns self."""
        self.net.to(device)
        return self

    def encode(self, inputs: list[Any]) -> list[Any]:
        """Raw inputs to what the encoder reads (reversed if the model was trained so)."""
        return [self.source.encode(x) for x in inputs]

    def decode(self, output: Any) -> Any:
        """A generated output to a raw value (text, or vectors in the original units)."""
        return self.target.decode(output)

    def decode_options(self, options: DecodeConfig | None = None, **overrides: Any) -> DecodeConfig:
        """The run's decoding defaults (or `options`) with `overrides` applied and checked (see
        `decoding.decode_options` for the names: DecodeConfig's fields, beam, sample, alpha)."""
        return decode_options(options or self.config.decode, self.config.data.target_type, **overrides)

    def translate(self, inputs: Any, options: DecodeConfig | None = None, *, strict: bool = False,
                  **overrides: Any) -> list[list[Translation]]:
        """Per input, its outputs best first (decode.nbest of them for beam search and sampling).

        Inputs are texts for a token source, (steps, dim) arrays or CSV notation for a feature source.
        The run's decoding defaults apply unless `options` or keyword overrides change them, e.g.
        `beam=5, nbest=2`, `sample=True, temperature=0.8, seed=1`, `alpha=0.6`, `max_length=50`.
        """
        batch = [inputs] if isinstance(inputs, str) else list(inputs)
        opts = self.decode_options(options, **overrides)
        sources = [self._source(x, strict) for x in batch]
        todo = [i for i, s in enumerate(sources) if len(s) > 0]
        hyps = generate(self.net, self.source, [sources[i] for i in todo], opts, keep_attention=True)
        results: list[list[Translation]] = [[Translation("", [], 0.0, [], [])] * opts.nbest for _ in batch]
        for i, hs in zip(todo, hyps):
            results[i] = [self._translation(batch[i], h) for h in hs]
        return results

    def predict(self, inputs: list[Any], options: DecodeConfig | None = None, **overrides: Any) -> list[Any]:
        """The best output of each input as a raw value: a text, or a (steps, dim) array in the original units
        (for a vector target its length follows decode.feature_length)."""
        return [t[0].text if t[0].values is None else t[0].values
                for t in self.translate(list(inputs), options, **overrides)]

    def score(self, sources: list[Any], targets: list[str], *, batch_size: int = 64) -> list[Score]:
        """Each (source, target) pair's log-probability under the model, teacher-forced (token targets)."""
        if self.config.data.target_type != "tokens":
            raise ConfigError("score needs token targets (data.target_type=tokens): vectors have no probability")
        if len(sources) != len(targets):
            raise ValueError(f"score needs one target per source, got {len(sources)} sources and {len(targets)} "
                             f"targets")
        pairs = [encode_pair(self.source, self.target, s, t) for s, t in zip(sources, targets)]
        out = []
        for (source, target), logp in zip(pairs, score_pairs(self.net, self.source, self.target, pairs, batch_size)):
            tokens = self.target.output_labels(resolve(self.source, target, source)) + ["</s>"]
            out.append(Score(sum(logp), tokens, logp))
        return out

    def _source(self, raw: Any, strict: bool) -> Any:
        if isinstance(raw, str) and not raw.strip():
            return []
        encoded = self.source.encode(raw)
        limit = self.config.data.max_source_length
        if limit and len(encoded) > limit:
            if strict:
                shown = raw[:60] if isinstance(raw, str) else f"{len(raw)} steps"
                raise InputTooLong(f"input of {len(encoded)} steps is longer than the model's "
                                   f"data.max_source_length={limit}: {shown!r}")
            log.warning("input of %d steps truncated to data.max_source_length=%d", len(encoded), limit)
            encoded = self.source.reversal.keep_first(encoded, limit)
        return encoded

    def _translation(self, raw: Any, h: Hypothesis) -> Translation:
        value = self.target.decode(h.output)
        source_tokens = self.source.labels(raw)
        attention = heads = None
        if h.attention is not None:
            weights = self.source.reversal.reading_order(h.attention[..., : len(source_tokens)])
            if weights.dim() == 3:  # (steps, heads, S)
                heads = weights.transpose(0, 1).tolist()
                weights = weights.mean(1)
            attention = weights.tolist()
        return Translation(self.target.format(value), self.target.output_labels(h.output), h.score, source_tokens,
                           attention, None if isinstance(value, str) else value, heads)


def load(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Model:
    """Load a trained model from a run directory (`checkpoints/best` unless which="last")."""
    return Model(load_bundle(run_dir, which=which, device=device))


def load_ensemble(run_dirs: list[str | Path], which: str = "best", device: str | torch.device = "cpu") -> Model:
    """Several runs sharing their source and target sides as one model averaging their step probabilities
    (greedy, sampling and beam search alike); the first run's decode section gives the defaults. Runs whose
    vocabularies differ are refused naming both."""
    if len(run_dirs) == 1:
        return load(run_dirs[0], which, device)
    first, ensemble = load_members(list(run_dirs), which, device)
    return Model(first, ensemble)
