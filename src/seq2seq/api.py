"""The Python API: `seq2seq.load(DIR)` and `Model.translate(...)`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .bundle import Bundle, load_bundle
from .decoding import Hypothesis, decode_ids

log = logging.getLogger("seq2seq")


class InputTooLong(ValueError):
    """An input longer than the model's data.max_source_length, refused in strict mode."""


@dataclass
class Translation:
    """One output: text, its tokens, summed log-probability, attention (output x source tokens)."""

    text: str
    tokens: list[str]
    score: float
    source_tokens: list[str]
    attention: list[list[float]] | None = None

    def to_dict(self, attention: bool = True) -> dict[str, Any]:
        """JSON-ready dict (attention only when asked for)."""
        out: dict[str, Any] = {"text": self.text, "tokens": self.tokens, "score": self.score}
        if attention:
            out["source_tokens"] = self.source_tokens
            out["attention"] = self.attention
        return out


class Model:
    """A trained model ready to translate; `seq2seq.load(run_dir)` returns one."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.config = bundle.config
        self.net = bundle.model
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

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Source texts to the id sequences the encoder reads (reversed if the model was trained so)."""
        return [self.source.encode(t) for t in texts]

    def decode(self, ids: list[int]) -> str:
        """Target ids to text."""
        return self.target.decode(ids)

    def translate(self, inputs: str | list[str], *, beam: int = 1, nbest: int = 1, sample: bool = False,
                  temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
                  alpha: float | None = None, min_length: int | None = None, max_length: int | None = None,
                  batch_size: int | None = None, strict: bool = False) -> list[list[Translation]]:
        """Translate each input; returns, per input, `nbest` Translations best first.

        beam=1 is greedy search; sample=True draws from the model (temperature, top-k, top-p, seed).
        """
        if "features" in (self.source.kind, self.target.kind):
            raise ValueError("this model has a feature side (data.source_type/target_type=features); "
                             "use Model.predict")
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        d = self.config.decode
        if nbest > 1 and not sample and beam < nbest:
            raise ValueError(f"nbest ({nbest}) needs beam >= nbest (beam={beam})")
        sources = [self._source_ids(t, strict) for t in texts]
        todo = [i for i, t in enumerate(texts) if t.strip()]
        strategy = "sample" if sample else ("beam" if beam > 1 else "greedy")
        results: list[list[Translation]] = [[] for _ in texts]
        rounds = nbest if sample else 1
        for r in range(rounds):
            hyps = decode_ids(self.net, [sources[i] for i in todo], strategy=strategy, beam_size=beam,
                              nbest=1 if sample else nbest, alpha=d.length_penalty if alpha is None else alpha,
                              min_length=d.min_length if min_length is None else min_length,
                              max_length=d.max_length if max_length is None else max_length,
                              max_length_a=d.max_length_a, max_length_b=d.max_length_b, temperature=temperature,
                              top_k=top_k, top_p=top_p, seed=None if seed is None else seed + r,
                              batch_size=batch_size or d.batch_size, keep_attention=True)
            for i, hs in zip(todo, hyps):
                results[i].extend(self._translation(texts[i], h) for h in hs)
        for i, t in enumerate(texts):
            if not t.strip():
                results[i] = [Translation("", [], 0.0, [], [])] * nbest
        return results

    def predict(self, inputs: list[Any], *, beam: int = 1, batch_size: int | None = None) -> list[Any]:
        """Outputs of a model with a feature side, one per input.

        Inputs: (steps, dim) or (steps,) arrays (or CSV notation `1 2 3`, `0.1 0.2; 0.3 0.4`) for a
        feature source, texts for a text source. Outputs: (steps, dim) numpy arrays in the original
        units for a feature target (length per decode.feature_length), texts for a text target
        (greedy, or beam search with beam > 1).
        """
        from .feature_eval import predict

        return predict(self, list(inputs), beam=beam, batch_size=batch_size or self.config.decode.batch_size)

    def _source_ids(self, text: str, strict: bool) -> list[int]:
        ids = self.source.encode(text)
        limit = self.config.data.max_source_length
        if limit and len(ids) > limit:
            if strict:
                raise InputTooLong(f"input of {len(ids)} tokens is longer than the model's "
                                   f"data.max_source_length={limit}: {text[:60]!r}")
            log.warning("input of %d tokens truncated to data.max_source_length=%d", len(ids), limit)
            ids = ids[-limit:] if self.source.reverse else ids[:limit]
        return ids

    def _translation(self, text: str, h: Hypothesis) -> Translation:
        tokens = self.target.vocab.decode(h.ids)
        source_tokens = self.source.tokens(text)
        attention = None
        if h.attention is not None:
            att = h.attention[:, : len(source_tokens)]
            # The encoder read a reversed source; show attention in reading order.
            attention = (att.flip(-1) if self.source.reverse else att).tolist()
        return Translation(self.target.tokenizer.detokenize(tokens), tokens, h.score, source_tokens, attention)


def load(run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Model:
    """Load a trained model from a run directory (`checkpoints/best` unless which="last")."""
    return Model(load_bundle(run_dir, which=which, device=device))
