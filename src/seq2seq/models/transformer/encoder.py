"""Transformer encoder: source ids or feature vectors -> (convolutional front end) -> self-attention stack."""

from __future__ import annotations

from torch import Tensor, nn

from ...config import ModelConfig
from ..encoder import EncoderOutput, FinalState
from ..inputs import INPUTS
from ..masks import length_mask
from .attention import MultiHeadAttention
from .embedding import TransformerInput
from .feedforward import PositionwiseFeedForward
from .positions import make_positions
from .residual import PreNormResidual
from .subsampling import ConvSubsampling


class TransformerEncoderLayer(nn.Module):
    """Self-attention over the real source steps, then the position-wise feed-forward, each in a pre-norm
    residual block. x: (B, S, D) -> (B, S, D)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        size = cfg.transformer_size
        self.attend = PreNormResidual(size, cfg.dropout)
        self.attention = MultiHeadAttention(size, cfg.transformer_heads, cfg.attention_dropout)
        self.transform = PreNormResidual(size, cfg.dropout)
        self.feed_forward = PositionwiseFeedForward(size, cfg.transformer_ff_size, cfg.activation_dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x: (B, S, D); mask: (B, S) True at real steps."""
        h = self.attend.norm(x)
        keys, values = self.attention.keys_values(h)
        x = self.attend(x, self.attention(h, keys, values, mask)[0])
        return self.transform(x, self.feed_forward(self.transform.norm(x)))


class TransformerEncoder(nn.Module):
    """The Transformer encoder (Vaswani et al. 2017), pre-norm, under the same interface as the recurrent one.

    Its outputs (B, S', D) feed any decoder's attention. It has no recurrent final state: `final` holds the
    mean of the outputs over each row's real steps, (1, B, D) - what the linear bridge of a recurrent
    decoder projects, and the fixed context its context feeding reads. Feature sources can be shortened
    first by model.subsample_layers strided convolutions (S' = ceil(S / 2**layers)).
    """

    final_layers = 1  # the one pooled vector in `final`

    def __init__(self, cfg: ModelConfig, source_kind: str, source_size: int):
        """source_kind: data.source_type; source_size: the source vocabulary size or vector dimension."""
        super().__init__()
        size = cfg.transformer_size
        self.input = INPUTS[source_kind](source_size, cfg.embedding_size)
        self.subsampling = (ConvSubsampling(cfg.embedding_size, cfg.subsample_layers)
                            if cfg.subsample_layers else None)
        self.embed = TransformerInput(self.input, cfg.embedding_size, size,
                                      make_positions(cfg.positions, size, cfg.max_positions), cfg.dropout)
        self.layers = nn.ModuleList(TransformerEncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.norm = nn.LayerNorm(size)
        self.output_size = size

    def forward(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src: (B, S) ids or (B, S, D) features; src_lengths: (B,) real lengths (>= 1). Returns EncoderOutput
        with outputs (B, S', D), zeros at padded steps."""
        x = self.input(src)
        lengths = src_lengths.to(src.device)
        if self.subsampling is not None:
            x, lengths = self.subsampling(x, lengths)
        mask = length_mask(lengths, x.size(1))
        x = self.embed(x)
        for layer in self.layers:
            x = layer(x, mask)
        outputs = self.norm(x) * mask.unsqueeze(-1).to(x.dtype)
        pooled = outputs.sum(1) / lengths.unsqueeze(1).to(outputs.dtype)
        return EncoderOutput(outputs, mask, FinalState(pooled.unsqueeze(0), None))
