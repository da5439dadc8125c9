"""Continuous targets: the seq2seq model whose decoder emits real vectors (the seed's Keras example).

The decoder is the usual one (bridge, attention, peeky, input feeding all apply) with a Linear
reading the previous output instead of an embedding and a linear head to the target size instead of
the vocabulary; the first step reads a learned start vector. Training minimises MSE or L1 over the
real (unpadded) steps; an optional stop flag (one more output, trained with binary cross-entropy to
fire at each sequence's last step) lets generation end on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.models.bridge import Bridge
from seq2seq.models.decoder import Decoder
from seq2seq.models.encoder import Encoder
from seq2seq.models.features import check_features
from seq2seq.models.seq2seq import ModelOutput, Seq2Seq


@dataclass(frozen=True)
class Generated:
    """values: (B, T, D) generated vectors (normalised units); lengths: (B,) real steps of each row;
    attention: (B, T, S') or None."""

    values: Tensor
    lengths: Tensor
    attention: Tensor | None


class ContinuousSeq2Seq(Seq2Seq):
    """Encoder-decoder over real-valued target vectors; `logits` of ModelOutput are the predicted values
    (B, T, D), plus a last column of stop-flag logits (B, T, D+1) with a stop flag."""

    def __init__(self, config: ModelConfig, encoder: Encoder, bridge: Bridge, decoder: Decoder, target_dim: int,
                 loss: str = "mse", feature_length: str = "auto", target_length: int | None = None):
        super().__init__(config, encoder, bridge, decoder)
        if loss not in ("mse", "l1"):
            raise ValueError(f"unknown feature loss {loss!r}; allowed: mse, l1")
        self.target_dim = target_dim
        self.stop_flag = config.stop_flag
        self.loss_kind = loss
        # Generation length defaults (decode.feature_length, data.target_length); see feature_eval.output_steps.
        self.feature_length, self.target_length = feature_length, target_length
        # The first decoder input: there is no previous output yet (the BOS of continuous targets).
        self.start = nn.Parameter(torch.zeros(target_dim))

    def _with_start(self, tgt_in: Tensor) -> Tensor:
        """tgt_in (B, T, D) with its first step replaced by the learned start vector."""
        start = self.start.to(tgt_in.dtype).expand(tgt_in.size(0), 1, -1)
        return torch.cat([start, tgt_in[:, 1:]], 1)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> ModelOutput:
        """src: (B, S[, D]); src_lengths: (B,); tgt_in: (B, T, D) previous gold outputs (step 0 is ignored:
        the start vector is read there). teacher_forcing < 1 feeds the model's own previous output with
        probability 1 - teacher_forcing per step and sequence. Returns ModelOutput(values (B, T, D[+1]), attention)."""
        check_features("tgt_in", tgt_in, self.target_dim)
        if tgt_in.size(0) != src.size(0):
            raise ValueError(f"tgt_in has batch size {tgt_in.size(0)}, the source has {src.size(0)}")
        state, memory = self.init_state(self.encode(src, src_lengths))
        return self._decode(self._with_start(tgt_in), state, memory, teacher_forcing)

    def _own_input(self, logits: Tensor) -> Tensor:
        """Scheduled sampling feeds back the predicted values (B, D), without the stop flag."""
        return logits[:, : self.target_dim].detach()

    def loss(self, logits: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed per-step error over real steps, and their count.

        logits: (B, T, D[+1]) predictions; tgt_out: (B, T, D) gold values, NaN at padded steps (as
        `collate_mixed` pads). Each real step adds the mean over D of the squared (mse) or absolute (l1)
        error, plus with a stop flag the binary cross-entropy of "this is the last step".
        label_smoothing has no meaning here and is ignored.
        """
        d = self.target_dim
        if logits.dim() != 3 or tgt_out.dim() != 3 or logits.shape[:2] != tgt_out.shape[:2] or tgt_out.size(2) != d:
            raise ValueError(f"loss needs predictions (B, T, {d}{'+1' if self.stop_flag else ''}) and targets "
                             f"(B, T, {d}), got {tuple(logits.shape)} and {tuple(tgt_out.shape)}")
        real = ~torch.isnan(tgt_out[..., 0])
        gold = tgt_out.nan_to_num(0.0)
        diff = logits[..., :d].float() - gold
        err = (diff.pow(2) if self.loss_kind == "mse" else diff.abs()).mean(-1)
        total = (err * real).sum()
        if self.stop_flag:
            lengths = real.sum(1)
            last = F.one_hot((lengths - 1).clamp(min=0), real.size(1)).to(logits.dtype)
            bce = F.binary_cross_entropy_with_logits(logits[..., d].float(), last.float(), reduction="none")
            total = total + (bce * real).sum()
        return total, int(real.sum())

    @torch.inference_mode()
    def generate(self, src: Tensor, src_lengths: Tensor, steps: Tensor, use_stop: bool = False,
                 keep_attention: bool = False) -> Generated:
        """Auto-regressive generation feeding each output back in.

        src: (B, S[, D]); src_lengths: (B,); steps: (B,) how many vectors to emit (the cap when
        use_stop, which ends a row at the first step whose stop flag is > 0.5).
        """
        enc = self.encode(src, src_lengths)
        state, memory = self.init_state(enc)
        batch, d = src.size(0), self.target_dim
        steps = steps.to(src.device)
        prev = self.start.expand(batch, d)
        lengths = steps.clone()
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        values, attns = [], []
        for t in range(int(steps.max())):
            out = self.decoder.step(prev, state, memory)
            state = out.state
            value = out.logits[:, :d]
            values.append(value)
            if keep_attention and out.attention is not None:
                attns.append(out.attention.float())
            if use_stop:
                stop = (out.logits[:, d] > 0) & ~finished
                lengths = torch.where(stop, torch.full_like(lengths, t + 1), lengths)
                finished = finished | stop
            finished = finished | (t + 1 >= steps)
            prev = value
            if bool(finished.all()):
                break
        stacked = torch.stack(values, 1)
        return Generated(stacked, lengths.clamp(max=stacked.size(1)), torch.stack(attns, 1) if attns else None)
