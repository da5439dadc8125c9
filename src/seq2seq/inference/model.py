"""The Python API of the PyTorch engine: `Model` over a run directory's checkpoint (`seq2seq.load` picks the
engine; see `inference.load`), `load_ensemble` for several runs as one model, and `Model.score` for given
targets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..config import ConfigError, DecodeConfig
from ..data.copying import encode_pair, resolve
from ..decoding import Hypothesis, generate
from ..decoding.scoring import score_pairs
from ..kernels import for_generation
from ..runs.bundle import Bundle, load_bundle
from ..runs.ensembling import load_members
from .translator import InputError, InputTooLong, Translation, Translator

log = logging.getLogger("seq2seq")

__all__ = ["InputError", "InputTooLong", "Model", "Score", "Translation", "load_ensemble"]


@dataclass
class Score:
    """A given target's log-probability under the model: the sum, and per token (the target's tokens and </s>)."""

    score: float
    tokens: list[str]
    token_scores: list[float]


class Model(Translator):
    """A trained model on PyTorch; `seq2seq.load(run_dir)` returns one, `seq2seq.load_ensemble(run_dirs)` one
    whose `net` averages several runs' step probabilities (config and sides: the first run's)."""

    engine = "torch"

    def __init__(self, bundle: Bundle, net: torch.nn.Module | None = None):
        super().__init__(bundle.config, bundle.source, bundle.target)
        self.bundle = bundle
        self.net = bundle.model if net is None else net
        self.kernels = "auto"  # the decode.kernels mode generation's kernels were last chosen for

    @classmethod
    def from_run(cls, run_dir: str | Path, which: str = "best", device: str | torch.device = "cpu") -> Model:
        """A run directory's checkpoint (`checkpoints/best` unless which="last") on PyTorch, with the CPU kernels
        of its shapes chosen for this machine (`decode.kernels`); `seq2seq.load` is the front door."""
        return _with_kernels(cls(load_bundle(run_dir, which=which, device=device)))

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.net.parameters()).device

    @property
    def parameter_count(self) -> int:
        """The model's number of weights."""
        return sum(p.numel() for p in self.net.parameters())

    def to(self, device: str | torch.device) -> Model:
        """Move the weights (e.g. to "cuda"); returns self."""
        self.net.to(device)
        return self

    def generate(self, sources: Sequence[Any], options: DecodeConfig,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Per encoded source, its hypotheses best first, with attention when asked."""
        if options.kernels != self.kernels:  # e.g. `translate --set decode.kernels=blas`
            _with_kernels(self, options)
        return generate(self.net, self.source, sources, options, keep_attention=keep_attention)

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


def _with_kernels(model: Model, options: DecodeConfig | None = None) -> Model:
    """Decide generation's kernels for the model's shapes here (for the run's decode section, or `options`)
    and log what was chosen."""
    options = options or model.config.decode
    for line in for_generation(options, model.net, model.device).lines():
        log.info("%s", line)
    model.kernels = options.kernels
    return model


def load_ensemble(run_dirs: list[str | Path], which: str = "best", device: str | torch.device = "cpu") -> Model:
    """Several runs sharing their source and target sides as one model averaging their step probabilities
    (greedy, sampling and beam search alike); the first run's decode section gives the defaults. Runs whose
    vocabularies differ are refused naming both."""
    if len(run_dirs) == 1:
        return Model.from_run(run_dirs[0], which, device)
    first, ensemble = load_members(list(run_dirs), which, device)
    return _with_kernels(Model(first, ensemble))
