"""Transformer decoder: masked self-attention over the outputs so far, cross-attention to the encoder, with a
key/value cache for step-by-step generation."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...config import ModelConfig
from ..decoder import StepOutput
from ..encoder import EncoderOutput
from ..heads import TokenHead, VectorHead
from .attention import MultiHeadAttention
from .embedding import TransformerInput
from .feedforward import PositionwiseFeedForward
from .positions import make_positions
from .residual import PreNormResidual

KeyValues = tuple[Tensor, Tensor]  # one layer's keys and values, each (B, H, L, d_k)


@dataclass(frozen=True)
class TransformerState:
    """The decoder's state between steps, an explicit value: the self-attention keys and values of the steps
    decoded so far, every layer's stacked, each (layers, B, H, steps, d_k); a step appends one position.

    Its position is the cache's length (`position`), not a number of its own, so an exported step graph reads
    it as a shape. All rows of a batch are at the same position (generation steps them together)."""

    keys: Tensor
    values: Tensor

    @property
    def position(self) -> int:
        """How many steps have been decoded: the position of the next one."""
        return self.keys.size(3)

    def layer(self, i: int) -> KeyValues:
        """Layer i's cached keys and values, each (B, H, steps, d_k)."""
        return self.keys[i], self.values[i]

    def index_select(self, idx: Tensor) -> TransformerState:
        """Batch rows `idx` (K,), e.g. to reorder beams. Returns a new state of batch K."""
        return TransformerState(self.keys.index_select(1, idx), self.values.index_select(1, idx))


@dataclass(frozen=True)
class TransformerMemory:
    """What the decoder reads from the encoder, fixed for a batch: mask (B, S) True at real steps, and every
    layer's cross-attention keys and values, stacked, each (layers, B, H, S, d_k), projected once per batch."""

    mask: Tensor
    cross_keys: Tensor
    cross_values: Tensor

    def layer(self, i: int) -> KeyValues:
        """Layer i's cross-attention keys and values, each (B, H, S, d_k)."""
        return self.cross_keys[i], self.cross_values[i]

    def index_select(self, idx: Tensor) -> TransformerMemory:
        """Batch rows `idx` (K,), e.g. to repeat each sentence per beam."""
        return TransformerMemory(self.mask.index_select(0, idx), self.cross_keys.index_select(1, idx),
                                 self.cross_values.index_select(1, idx))


class TransformerDecoderLayer(nn.Module):
    """Masked self-attention, cross-attention to the encoder outputs, position-wise feed-forward, each in a
    pre-norm residual block. x: (B, T, D) -> (B, T, D)."""

    def __init__(self, cfg: ModelConfig, memory_size: int):
        super().__init__()
        size, heads = cfg.transformer_size, cfg.transformer_heads
        self.attend_self = PreNormResidual(size, cfg.dropout)
        self.self_attention = MultiHeadAttention(size, heads, cfg.attention_dropout)
        self.attend_source = PreNormResidual(size, cfg.dropout)
        self.cross_attention = MultiHeadAttention(size, heads, cfg.attention_dropout, key_size=memory_size)
        self.transform = PreNormResidual(size, cfg.dropout)
        self.feed_forward = PositionwiseFeedForward(size, cfg.transformer_ff_size, cfg.activation_dropout)

    def forward(self, x: Tensor, past: KeyValues, cross: KeyValues, mask: Tensor,
                need_weights: bool) -> tuple[Tensor, KeyValues, Tensor | None]:
        """x: (B, T, D) the next T positions; past: this layer's cache of the positions before them;
        cross: its encoder keys and values; mask: (B, S). Returns the output, the cache with the T new
        positions appended, and with need_weights the cross-attention weights (B, H, T, S)."""
        h = self.attend_self.norm(x)
        keys, values = self.self_attention.keys_values(h)
        keys, values = torch.cat([past[0], keys], 2), torch.cat([past[1], values], 2)
        x = self.attend_self(x, self.self_attention(h, keys, values, causal=True)[0])
        attended, weights = self.cross_attention(self.attend_source.norm(x), *cross, key_mask=mask,
                                                 need_weights=need_weights)
        x = self.attend_source(x, attended)
        return self.transform(x, self.feed_forward(self.transform.norm(x))), (keys, values), weights


class TransformerDecoder(nn.Module):
    """The Transformer decoder (Vaswani et al. 2017), pre-norm, under the same interface as the recurrent one:
    reads the previous outputs through the head's input layer, scores the next one through the head.

    Teacher forcing runs all target steps at once under a causal mask; generation steps one position at a
    time, appending each layer's keys and values to the state's cache, so a step projects only the new
    position and attends over the cached ones (no re-run of the prefix). State and memory are flat tensors
    (every layer's stacked), which the ONNX exporter names as graph inputs and outputs as it does an RNN's.
    The attention maps it reports are the last layer's cross-attention: per head, and their mean as
    `attention`.
    """

    copy = None  # copy attention is the recurrent decoder's; validation refuses model.copy with this decoder

    def __init__(self, cfg: ModelConfig, head: TokenHead | VectorHead, memory_size: int):
        """head: its input layer made, its output layer attached here; memory_size: the encoder's output size."""
        super().__init__()
        self.head = head
        size = cfg.transformer_size
        self.heads, self.head_size = cfg.transformer_heads, size // cfg.transformer_heads
        self.embed = TransformerInput(head.input, cfg.embedding_size, size,
                                      make_positions(cfg.positions, size, cfg.max_positions), cfg.dropout)
        self.layers = nn.ModuleList(TransformerDecoderLayer(cfg, memory_size) for _ in range(cfg.decoder_layers))
        self.norm = nn.LayerNorm(size)
        head.attach(size)

    def init_state(self, enc: EncoderOutput) -> tuple[TransformerState, TransformerMemory]:
        """An empty cache, and each layer's cross-attention keys and values of the encoder outputs."""
        outputs = enc.outputs
        shape = (len(self.layers), outputs.size(0), self.heads, 0, self.head_size)
        keys, values = zip(*(layer.cross_attention.keys_values(outputs) for layer in self.layers))
        return (TransformerState(outputs.new_zeros(shape), outputs.new_zeros(shape)),
                TransformerMemory(enc.mask, torch.stack(keys), torch.stack(values)))

    def _run(self, prev: Tensor, state: TransformerState,
             memory: TransformerMemory) -> tuple[Tensor, Tensor, TransformerState]:
        """prev: (B, T) ids or (B, T, D) vectors at positions state.position ... -> scores (B, T, ...),
        the last layer's cross-attention weights (B, H, T, S) and the state T positions further."""
        x = self.embed(self.head.input(prev), state.position)
        keys, values = [], []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x, (k, v), weights = layer(x, state.layer(i), memory.layer(i), memory.mask, need_weights=i == last)
            keys.append(k)
            values.append(v)
        return self.head(self.norm(x)), weights, TransformerState(torch.stack(keys), torch.stack(values))

    def step(self, prev: Tensor, state: TransformerState, memory: TransformerMemory) -> StepOutput:
        """prev: (B,) previous tokens or (B, D) vectors. Returns scores, the new state, the heads' mean
        attention (B, S) and each head's (B, H, S)."""
        scores, weights, state = self._run(prev.unsqueeze(1), state, memory)
        heads = weights[:, :, 0]
        return StepOutput(scores[:, 0], state, heads.mean(1), heads)

    def forward_sequence(self, tgt_in: Tensor, state: TransformerState,
                         memory: TransformerMemory) -> tuple[Tensor, Tensor, TransformerState]:
        """Teacher-forced decoding of a whole target prefix at once: tgt_in (B, T) ids or (B, T, D) vectors.
        Returns scores (B, T, ...), the heads' mean attention (B, T, S) and the state after T steps."""
        scores, weights, state = self._run(tgt_in, state, memory)
        return scores, weights.mean(1), state
