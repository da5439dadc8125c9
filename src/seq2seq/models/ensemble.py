"""Ensembles: several models that read one source and write one target vocabulary, decoded as one.

At every step the members' output distributions are averaged, p(y) = 1/M sum_m p_m(y) (the ensembles
of Sutskever et al. 2014 and most NMT systems since); the ensemble offers the decoding interface of a
single model (`encode`, `init_state`, `step`, `head`, and a teacher-forced `forward` and `loss`), so greedy,
sampling, beam search, scoring and evaluation run on it unchanged. Its state and memory hold one per
member and select rows of all of them at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .decoder import DecoderState, Memory, StepOutput
from .encoder import EncoderOutput
from .heads import TokenHead, VectorHead
from .seq2seq import ModelOutput, Seq2Seq


@dataclass(frozen=True)
class EnsembleState:
    """Each member's decoder state."""

    members: tuple[DecoderState, ...]

    def index_select(self, idx: Tensor) -> EnsembleState:
        """Batch rows `idx` (K,) of every member's state."""
        return EnsembleState(tuple(s.index_select(idx) for s in self.members))


@dataclass(frozen=True)
class EnsembleMemory:
    """Each member's memory."""

    members: tuple[Memory, ...]

    def index_select(self, idx: Tensor) -> EnsembleMemory:
        """Batch rows `idx` (K,) of every member's memory."""
        return EnsembleMemory(tuple(m.index_select(idx) for m in self.members))


class Ensemble(nn.Module):
    """Models of one target vocabulary (and one source) decoded together by averaging their step
    probabilities. The scores a step emits are log(mean_m p_m) (B, V), which every search reads like logits;
    the attention is the members' averaged weights (B, S), None if no member attends."""

    def __init__(self, models: list[Seq2Seq]):
        super().__init__()
        if len({type(m.head) for m in models}) != 1 or not isinstance(models[0].head, TokenHead):
            raise ValueError("an ensemble needs models with token targets (probabilities to average)")
        if len({m.decoder.copy is None for m in models}) != 1:
            raise ValueError("an ensemble cannot mix copy models (extended vocabularies) with others")
        self.members = nn.ModuleList(models)

    @property
    def head(self) -> TokenHead | VectorHead:
        """The first member's head: every member's says the same about tokens, starts and ends."""
        return self.members[0].head

    def encode(self, src: Tensor, src_lengths: Tensor) -> tuple[EncoderOutput, ...]:
        """Each member's encoding of the same source batch."""
        return tuple(m.encode(src, src_lengths) for m in self.members)

    def init_state(self, encodings: tuple[EncoderOutput, ...]) -> tuple[EnsembleState, EnsembleMemory]:
        """Each member's initial state and memory."""
        pairs = [m.init_state(e) for m, e in zip(self.members, encodings)]
        return EnsembleState(tuple(p[0] for p in pairs)), EnsembleMemory(tuple(p[1] for p in pairs))

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> ModelOutput:
        """Teacher-forced scores (B, T, V) of a gold prefix tgt_in (B, T), step by step (what evaluation and
        scoring read), and the attention (B, T, S) or None."""
        state, memory = self.init_state(self.encode(src, src_lengths))
        steps, maps = [], []
        for t in range(tgt_in.size(1)):
            out = self.step(tgt_in[:, t], state, memory)
            state = out.state
            steps.append(out.scores)
            maps.append(out.attention)
        return ModelOutput(torch.stack(steps, 1), None if maps[0] is None else torch.stack(maps, 1))

    def loss(self, scores: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed cross-entropy of the averaged distribution over real target steps, and their count."""
        return self.head.loss(scores, tgt_out, label_smoothing)

    def step(self, prev: Tensor, state: EnsembleState, memory: EnsembleMemory) -> StepOutput:
        """prev: (B,) -> StepOutput(log of the mean probabilities (B, V), the members' states, attention)."""
        outs = [m.step(prev, s, mem) for m, s, mem in zip(self.members, state.members, memory.members)]
        logp = torch.stack([o.scores.float().log_softmax(-1) for o in outs])
        scores = torch.logsumexp(logp, 0) - math.log(len(outs))
        maps = [o.attention for o in outs if o.attention is not None]
        attention = torch.stack(maps).mean(0) if maps else None
        return StepOutput(scores, EnsembleState(tuple(o.state for o in outs)), attention)
