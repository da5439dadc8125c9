"""Decoder: previous output -> RNN stack -> (attention) -> head, over a whole sequence or one step at a time."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from ..config import ModelConfig
from .alignment import AlignmentFeatures
from .attention import Attention
from .attentional import AttentionalOutput, InputFeeding
from .context import ContextFeeding
from .dropout import Dropout
from .heads import TokenHead, VectorHead
from .linear import shared_transposes
from .pointer import PointerGenerator
from .rnn import StackedRNN


@dataclass(frozen=True)
class DecoderState:
    """The decoder's recurrent state, an explicit value: passed in, returned, never mutated.

    hidden: (L_dec, B, Hd); cell: (L_dec, B, Hd) for LSTM else None;
    feed: (B, F) the previous step's attentional vector with input feeding, else None;
    attention: (B, S) the previous step's attention weights with location-aware attention, else None;
    coverage: (B, S) the running sum of all earlier steps' weights with model.coverage, else None.
    """

    hidden: Tensor
    cell: Tensor | None = None
    feed: Tensor | None = None
    attention: Tensor | None = None
    coverage: Tensor | None = None

    def index_select(self, idx: Tensor) -> DecoderState:
        """Batch rows `idx` (K,), e.g. to reorder beams. Returns a new state of batch K."""
        return DecoderState(self.hidden.index_select(1, idx), _rows(self.cell, idx, 1), _rows(self.feed, idx),
                            _rows(self.attention, idx), _rows(self.coverage, idx))


def _rows(x: Tensor | None, idx: Tensor, dim: int = 0) -> Tensor | None:
    return None if x is None else x.index_select(dim, idx)


@dataclass(frozen=True)
class Memory:
    """What the decoder reads from the encoder, fixed for a batch.

    outputs: (B, S, He) encoder outputs (attention values); mask: (B, S) bool, True at real steps;
    keys: (B, S, K) precomputed attention keys, or None without attention;
    fixed_context: (B, He) the fixed-length context vector = the encoder's top-layer final state
    (what context feeding passes on; not to be confused with attention's per-step context);
    source_map: (B, S) each source position's id in the extended target vocabulary (model.copy), else None.
    """

    outputs: Tensor
    mask: Tensor
    keys: Tensor | None
    fixed_context: Tensor
    source_map: Tensor | None = None

    def index_select(self, idx: Tensor) -> Memory:
        """Batch rows `idx` (K,), e.g. to repeat each sentence per beam."""
        return Memory(self.outputs.index_select(0, idx), self.mask.index_select(0, idx), _rows(self.keys, idx),
                      self.fixed_context.index_select(0, idx), _rows(self.source_map, idx))


@dataclass(frozen=True)
class StepOutput:
    """One decoder step: scores (B, V) or (B, D[+1]) (with model.copy: log-probabilities (B, V + S) over the
    extended vocabulary), the decoder's new state (a DecoderState, or a Transformer decoder's
    TransformerState), attention weights (B, S) or None, and for multi-head attention each head's weights
    (B, H, S), of which `attention` is the mean."""

    scores: Tensor
    state: Any
    attention: Tensor | None
    head_attention: Tensor | None = None


@dataclass(frozen=True)
class _Attended:
    """What attending gives for one step (B, ...) or a sequence (B, T, ...).

    pre: what the head reads (before dropout); h: the top RNN output; shown: the attention reported
    (weights, or each head's); weights: (B, [T,] S) averaged over heads; context: the attention context;
    feed: what input feeding passes on.
    """

    pre: Tensor
    h: Tensor
    shown: Tensor | None = None
    weights: Tensor | None = None
    context: Tensor | None = None
    feed: Tensor | None = None


def _stack(reads: list[_Attended]) -> _Attended:
    """Per-step reads -> one read of the sequence (steps on dim 1)."""
    return _Attended(*(None if getattr(reads[0], f.name) is None
                       else torch.stack([getattr(r, f.name) for r in reads], 1) for f in fields(_Attended)))


def pre_output_size(cfg: ModelConfig, memory_size: int) -> int:
    """The width of what the head reads: the attentional output (or the RNN state) plus peeky's context."""
    if cfg.attention == "none":
        size = cfg.decoder_hidden
    else:
        size = cfg.decoder_hidden if cfg.attention_output == "tanh" else memory_size + cfg.decoder_hidden
    return size + ContextFeeding(cfg.feed_context, memory_size).output_size


class Decoder(nn.Module):
    """A conditional RNN language model over the target: reads the previous output through the head's
    input layer, the fixed context as context feeding says, attends to the encoder outputs, and scores
    the next output through the head. Context feeding, attention (with its alignment features), the
    attentional output, input feeding and the pointer-generator are each their own named part (see
    `context`, `attention`, `alignment`, `attentional`, `pointer`)."""

    def __init__(self, cfg: ModelConfig, head: TokenHead | VectorHead, memory_size: int):
        """head: its input layer made, its output layer attached here (see TokenHead.attach)."""
        super().__init__()
        self.head = head
        self.hidden_size = cfg.decoder_hidden
        self.num_layers = cfg.decoder_layers
        self.dropout = Dropout(cfg.dropout)
        self.context_feeding = ContextFeeding(cfg.feed_context, memory_size)
        self.attention = None
        if cfg.attention != "none":
            features = None
            if cfg.attention == "location" or cfg.coverage:
                features = AlignmentFeatures(cfg.decoder_hidden, cfg.attention == "location", cfg.coverage,
                                             cfg.location_channels, cfg.location_kernel)
            self.attention = Attention(cfg.attention, cfg.decoder_hidden, memory_size, cfg.attention_heads, features)
        feed_size = cfg.decoder_hidden if cfg.attention_output == "tanh" else memory_size
        self.input_feeding = InputFeeding(feed_size) if cfg.input_feeding and self.attention is not None else None
        input_size = cfg.embedding_size + self.context_feeding.input_size
        rnn_in = input_size + (self.input_feeding.size if self.input_feeding is not None else 0)
        self.rnn = StackedRNN(cfg.cell, rnn_in, cfg.decoder_hidden, cfg.decoder_layers, False, cfg.dropout,
                              cfg.residual)
        self.attentional_output = (None if self.attention is None
                                   else AttentionalOutput(cfg.attention_output, memory_size, cfg.decoder_hidden))
        head.attach(pre_output_size(cfg, memory_size))
        self.copy = (PointerGenerator(head.vocab_size, memory_size + cfg.decoder_hidden + input_size)
                     if cfg.copy else None)

    # -- pieces shared by the whole-sequence and the step path (2-D or 3-D tensors alike) --

    def _inputs(self, prev: Tensor, memory: Memory) -> Tensor:
        """Previous outputs (B, [T]) ids or (B, [T,] D) vectors -> RNN input without the feed (B, [T,] I)."""
        if self.copy is not None:
            prev = self.copy.known(prev)
        return self.context_feeding.join_input(self.dropout(self.head.input(prev)), memory.fixed_context)

    def _attend(self, h: Tensor, memory: Memory, state: DecoderState | None = None) -> _Attended:
        """Top RNN outputs h (B, [T,] Hd) -> what attention reads there; `state` gives the alignment
        history to a stepwise score (h then (B, Hd))."""
        if self.attention is None:
            return _Attended(self.context_feeding.join_output(h, memory.fixed_context), h)
        previous, coverage = (None, None) if state is None else (state.attention, state.coverage)
        context, weights, per_head = self.attention(h, memory.keys, memory.outputs, memory.mask, previous, coverage)
        pre, feed = self.attentional_output(context, h)
        shown = per_head if self.attention.heads > 1 else weights
        return _Attended(self.context_feeding.join_output(pre, memory.fixed_context), h, shown, weights, context, feed)

    def _score(self, read: _Attended, x: Tensor, memory: Memory) -> Tensor:
        """A read (B, [T,] ...) and the RNN inputs x -> scores (B, [T,] V or D[+1]; V + S with copy)."""
        scores = self.head(self.dropout(read.pre))
        if self.copy is None:
            return scores
        return self.copy(scores, torch.cat([read.context, read.h, x], -1), read.weights, memory.source_map)

    def _next(self, hidden: Tensor, cell: Tensor | None, read: _Attended, state: DecoderState) -> DecoderState:
        """The state after a step: the recurrence's, the feed, and the alignment history a stepwise score reads."""
        features = None if self.attention is None else self.attention.features
        return DecoderState(hidden, cell, read.feed if self.input_feeding is not None else None,
                            read.weights if features is not None and features.location else None,
                            state.coverage + read.weights if features is not None and features.coverage else None)

    def initial_feed(self, batch: int, like: Tensor) -> Tensor | None:
        """Zeros (B, F) for the first input-feeding step, else None."""
        return self.input_feeding.initial(batch, like) if self.input_feeding is not None else None

    def initial_state(self, hidden: Tensor, cell: Tensor | None, memory: Memory) -> DecoderState:
        """The state before the first step: the bridge's (hidden, cell), a zero feed, and the alignment
        history before any step (see AlignmentFeatures.initial)."""
        previous = coverage = None
        if self.attention is not None and self.attention.features is not None:
            previous, coverage = self.attention.features.initial(memory.mask, memory.outputs)
        return DecoderState(hidden, cell, self.initial_feed(memory.outputs.size(0), memory.outputs), previous, coverage)

    # -- the two paths --

    def step(self, prev: Tensor, state: DecoderState, memory: Memory) -> StepOutput:
        """prev: (B,) previous tokens or (B, D) vectors. Returns scores, the new state and the attention."""
        x = self._inputs(prev, memory)
        rnn_in = x if self.input_feeding is None else self.input_feeding.join(x, state.feed)
        h, (hidden, cell) = self.rnn.step(rnn_in, (state.hidden, state.cell))
        read = self._attend(h, memory, state)
        heads = read.shown if self.attention is not None and self.attention.heads > 1 else None
        return StepOutput(self._score(read, x, memory), self._next(hidden, cell, read, state), read.weights, heads)

    def forward_sequence(self, tgt_in: Tensor, state: DecoderState,
                         memory: Memory) -> tuple[Tensor, Tensor | None, DecoderState]:
        """Teacher-forced decoding of a whole target prefix.

        tgt_in: (B, T) ids or (B, T, D) vectors, as the head reads them. Returns scores (B, T, ...),
        attention (B, T, S) (per head: (B, T, N, S)) or None, and the state after T steps. One RNN call
        for the whole sequence unless input feeding (each input then depends on the previous step's
        output), which steps the recurrence and attention; a stepwise score (location, coverage) steps
        attention alone after one RNN call. All steps are scored at once after the loop.
        """
        x = self._inputs(tgt_in, memory)
        stepwise = self.attention is not None and self.attention.stepwise
        if self.input_feeding is None:
            tops, (hidden, cell) = self.rnn(x, None, (state.hidden, state.cell))
            if not stepwise:
                read = self._attend(tops, memory)
                return self._score(read, x, memory), read.shown, DecoderState(hidden, cell)
        # Only the recurrence and attention are stepped: the output layer runs once over (B, T, P) after the
        # loop, one large matmul instead of T small ones; on a 10k vocabulary it is about half of all FLOPs.
        reads = []
        with shared_transposes():  # the steps' backward passes share one transposed copy of each weight
            for t in range(tgt_in.size(1)):
                if self.input_feeding is not None:
                    h, (hidden, cell) = self.rnn.step(self.input_feeding.join(x[:, t], state.feed),
                                                      (state.hidden, state.cell))
                else:
                    h = tops[:, t]
                read = self._attend(h, memory, state)
                state = self._next(hidden, cell, read, state)
                reads.append(read)
        read = _stack(reads)
        return self._score(read, x, memory), read.shown, state
