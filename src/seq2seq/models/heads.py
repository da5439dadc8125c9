"""Output heads: what the decoder reads as its previous output and how it scores the next one.

`TokenHead`: an embedding in, a softmax over the target vocabulary out, cross-entropy (the
language-model decoder of Saito, Deep Learning from Scratch 2). `VectorHead`: a linear layer in and out
over real vectors, squared or absolute error, and optionally a stop flag (the Keras encoder-decoder
example, `[1, 2, 3] -> [2, 3, 4]` with MSE). Each head also says how generation starts, what a step
feeds back, when a row ends and how long it may run, so the decoder and the search functions never ask
which kind of target they serve. `HEADS` maps `data.target_type` to the class.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config, DecodeConfig
from ..data.vocab import BOS, EOS, PAD
from ..search.rules import Choice, max_token_steps, max_vector_steps
from ..search.torch_ops import TorchOps
from .inputs import FeatureProjection, TokenEmbedding
from .linear import Linear, linear


class TokenHead(nn.Module):
    """Target vocabulary: embedding in, softmax out, cross-entropy.

    tie: output weights = the target embedding (Press & Wolf 2017); when the pre-output size differs
    from embedding_size a bias-free Linear projects to embedding_size first.
    """

    kind = "tokens"

    def __init__(self, vocab_size: int, embedding_size: int, tie: bool = False):
        super().__init__()
        self.vocab_size = vocab_size
        self.input = TokenEmbedding(vocab_size, embedding_size)
        self.tie = tie

    @classmethod
    def from_config(cls, cfg: Config, size: int) -> TokenHead:
        """The head for a vocabulary of `size` tokens."""
        return cls(size, cfg.model.embedding_size, cfg.model.tie_embeddings)

    def attach(self, pre_size: int) -> None:
        """Make the output layer, once the decoder knows the width of what it reads (the decoder calls this
        after making its own layers, so a seed draws every initial weight in one fixed order)."""
        if self.tie:
            embedding_size = self.input.embedding_dim
            self.tie_proj = Linear(pre_size, embedding_size, bias=False) if pre_size != embedding_size else None
            self.output_bias = nn.Parameter(torch.zeros(self.vocab_size))
        else:
            self.output = Linear(pre_size, self.vocab_size)

    def forward(self, pre: Tensor) -> Tensor:
        """Pre-output (..., P) -> scores (..., V) (logits)."""
        if self.tie:
            if self.tie_proj is not None:
                pre = self.tie_proj(pre)
            return linear(pre, self.input.weight, self.output_bias)
        return self.output(pre)

    def check(self, name: str, tgt_in: Tensor, batch: int | None = None) -> None:
        """Decoder inputs (B, T) ids."""
        self.input.check(name, tgt_in, batch)

    def teacher_inputs(self, tgt_in: Tensor) -> Tensor:
        """Gold decoder inputs as the decoder reads them: <s> then the target, unchanged."""
        return tgt_in

    def start(self, batch: int, device: torch.device) -> Tensor:
        """The first decoder input of generation: <s>. (B,)"""
        return torch.full((batch,), BOS, dtype=torch.long, device=device)

    def feedback(self, scores: Tensor) -> Tensor:
        """What scheduled sampling feeds back from a step's scores (B, V): the argmax token (B,)."""
        return scores.argmax(-1)

    def loss(self, scores: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed cross-entropy over non-<pad> targets and their count. scores: (B, T, V); tgt_out: (B, T)."""
        if scores.dim() != 3 or tgt_out.shape != scores.shape[:2]:
            raise ValueError(f"loss needs scores (B, T, V) and tgt_out (B, T), got "
                             f"{tuple(scores.shape)} and {tuple(tgt_out.shape)}")
        loss = F.cross_entropy(scores.reshape(-1, scores.size(-1)), tgt_out.reshape(-1), ignore_index=PAD,
                               reduction="sum", label_smoothing=label_smoothing)
        return loss, int((tgt_out != PAD).sum())

    def correct(self, scores: Tensor, tgt_out: Tensor) -> int:
        """Real target positions whose argmax is the gold token."""
        return int(((scores.argmax(-1) == tgt_out) & (tgt_out != PAD)).sum())

    @staticmethod
    def summary(loss: float, accuracy: float) -> dict[str, float]:
        """Teacher-forced metrics from the mean loss per token and the token accuracy."""
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "token_accuracy": accuracy}

    def choose(self, scores: Tensor, step: int, options: DecodeConfig) -> Choice:
        """Greedy: the most likely token; </s> is barred before decode.min_length tokens."""
        logp = scores.float().log_softmax(-1)
        if step < options.min_length:
            logp[:, EOS] = float("-inf")
        token = logp.argmax(-1)
        return Choice(token, token, logp.gather(1, token.unsqueeze(1)).squeeze(1), token == EOS)

    def blank(self, batch: int, like: Tensor) -> Tensor:
        """What a finished row emits: <pad>. (B,)"""
        return torch.full((batch,), PAD, dtype=torch.long, device=like.device)

    def max_steps(self, src_lengths: Tensor, options: DecodeConfig) -> tuple[Tensor, bool]:
        """Per-row step cap (B,) and whether a row may end on its own (at </s>: always)."""
        return max_token_steps(src_lengths, options, TorchOps(src_lengths.device)), True

    def finish(self, steps: Tensor) -> list[int]:
        """One row's emitted steps (L,) -> its output ids, without the closing </s>."""
        ids = steps.tolist()
        return ids[:-1] if ids and ids[-1] == EOS else ids


class VectorHead(nn.Module):
    """Real-valued targets: a Linear reads the previous vector (a learned start vector first), a Linear
    writes the next one, trained by squared (mse) or absolute (l1) error over real steps. With a stop
    flag one more output, trained with binary cross-entropy to fire at each sequence's last step, lets
    generation end on its own."""

    kind = "features"

    def __init__(self, dim: int, embedding_size: int, loss: str = "mse", stop_flag: bool = False,
                 target_length: int | None = None):
        super().__init__()
        self.dim = dim
        self.stop_flag = stop_flag
        self.loss_kind = loss
        self.target_length = target_length  # data.target_length, for decode.feature_length=fixed/auto
        self.input = FeatureProjection(dim, embedding_size)
        # The first decoder input: there is no previous output yet (the <s> of continuous targets).
        self.start_vector = nn.Parameter(torch.zeros(dim))

    @classmethod
    def from_config(cls, cfg: Config, size: int) -> VectorHead:
        """The head for vectors of dimension `size`."""
        return cls(size, cfg.model.embedding_size, cfg.train.feature_loss, cfg.model.stop_flag,
                   cfg.data.target_length)

    def attach(self, pre_size: int) -> None:
        """Make the output layer (see TokenHead.attach): the vector, then the stop flag's logit."""
        self.output = Linear(pre_size, self.dim + int(self.stop_flag))

    def forward(self, pre: Tensor) -> Tensor:
        """Pre-output (..., P) -> scores (..., D[+1]): the predicted vector, then the stop flag's logit."""
        return self.output(pre)

    def check(self, name: str, tgt_in: Tensor, batch: int | None = None) -> None:
        """Decoder inputs (B, T, D) vectors."""
        self.input.check(name, tgt_in, batch)

    def teacher_inputs(self, tgt_in: Tensor) -> Tensor:
        """Gold previous vectors (B, T, D) with step 0 replaced by the learned start vector."""
        start = self.start_vector.to(tgt_in.dtype).expand(tgt_in.size(0), 1, -1)
        return torch.cat([start, tgt_in[:, 1:]], 1)

    def start(self, batch: int, device: torch.device) -> Tensor:
        """The learned start vector for each row. (B, D)"""
        return self.start_vector.expand(batch, self.dim)

    def feedback(self, scores: Tensor) -> Tensor:
        """What scheduled sampling feeds back: the predicted vector (B, D), without the stop flag."""
        return scores[:, : self.dim].detach()

    def loss(self, scores: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed per-step error over real steps, and their count.

        scores: (B, T, D[+1]); tgt_out: (B, T, D) gold values, NaN at padded steps. Each real step adds the
        mean over D of the squared or absolute error, plus with a stop flag the binary cross-entropy of
        "this is the last step". label_smoothing has no meaning here and is ignored.
        """
        d = self.dim
        if scores.dim() != 3 or tgt_out.dim() != 3 or scores.shape[:2] != tgt_out.shape[:2] or tgt_out.size(2) != d:
            raise ValueError(f"loss needs scores (B, T, {d}{'+1' if self.stop_flag else ''}) and targets "
                             f"(B, T, {d}), got {tuple(scores.shape)} and {tuple(tgt_out.shape)}")
        real = ~torch.isnan(tgt_out[..., 0])
        diff = scores[..., :d].float() - tgt_out.nan_to_num(0.0)
        err = (diff.pow(2) if self.loss_kind == "mse" else diff.abs()).mean(-1)
        total = (err * real).sum()
        if self.stop_flag:
            last = F.one_hot((real.sum(1) - 1).clamp(min=0), real.size(1)).float()
            bce = F.binary_cross_entropy_with_logits(scores[..., d].float(), last, reduction="none")
            total = total + (bce * real).sum()
        return total, int(real.sum())

    def correct(self, scores: Tensor, tgt_out: Tensor) -> int:
        """Vectors are never exactly right: 0 (token accuracy has no meaning here)."""
        return 0

    @staticmethod
    def summary(loss: float, accuracy: float) -> dict[str, float]:
        """Teacher-forced metrics: the mean loss per step (perplexity and accuracy have no meaning here)."""
        return {"loss": loss}

    def choose(self, scores: Tensor, step: int, options: DecodeConfig) -> Choice:
        """The predicted vector is emitted and fed back; with a stop flag a row ends where it fires."""
        value = scores[:, : self.dim]
        ended = scores[:, self.dim] > 0 if self.stop_flag else torch.zeros_like(value[:, 0], dtype=torch.bool)
        return Choice(value, value, torch.zeros_like(value[:, 0]), ended)

    def blank(self, batch: int, like: Tensor) -> Tensor:
        """What a finished row emits: zeros. (B, D)"""
        return like.new_zeros(batch, self.dim)

    def max_steps(self, src_lengths: Tensor, options: DecodeConfig) -> tuple[Tensor, bool]:
        """How many vectors to generate per row (B,), and whether the stop flag may end a row earlier (see
        `search.rules.max_vector_steps`)."""
        return max_vector_steps(src_lengths, options, self.target_length, self.stop_flag, TorchOps(src_lengths.device))

    def finish(self, steps: Tensor) -> Any:
        """One row's emitted vectors (L, D), as they are."""
        return steps


# `data.target_type` -> the head that produces that kind of target.
HEADS: dict[str, type[TokenHead] | type[VectorHead]] = {"tokens": TokenHead, "features": VectorHead}
