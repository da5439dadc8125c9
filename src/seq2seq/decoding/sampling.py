"""Sampling: draw each token from the model's distribution, reshaped by temperature, top-k and top-p."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import DecodeConfig
from ..data.vocab import EOS
from ..models.heads import Choice
from ..search.hypothesis import Hypothesis
from .stepping import run_steps


def filter_logits(logits: Tensor, top_k: int, top_p: float) -> Tensor:
    """Mask all but the top-k tokens (Fan et al. 2018) and the smallest set holding top_p of the mass
    (nucleus sampling, Holtzman et al. 2020). (N, V) -> (N, V)"""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        # Keep a token while the mass before it is below top_p; the most likely one always survives (top_p = 0
        # would otherwise drop every token).
        drop = (probs.cumsum(-1) - probs) >= top_p
        drop[..., 0] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.inference_mode()
def sample(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
           generator: torch.Generator | None = None, keep_attention: bool = False) -> list[Hypothesis]:
    """One drawn hypothesis per row (token targets); its score is the tokens' log-probability under the model.

    Every row stays in the batch to the end, so that the generator's draws, and so the outputs for a
    seed, do not depend on when other rows finish.
    """
    caps, _ = model.head.caps(src_lengths, options)

    def pick(scores: Tensor, step: int) -> Choice:
        logits = filter_logits(scores.float() / options.temperature, options.top_k, options.top_p)
        if step < options.min_length:
            logits[:, EOS] = float("-inf")
        token = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        logp = scores.float().log_softmax(-1)
        if step < options.min_length:
            logp[:, EOS] = float("-inf")
        return Choice(token, token, logp.gather(1, token.unsqueeze(1)).squeeze(1), token == EOS)

    return run_steps(model, src, src_lengths, caps, True, pick, compact=False, keep_attention=keep_attention)
