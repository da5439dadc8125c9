"""Decoder: target embedding -> RNN stack -> (attention) -> output layer, whole-sequence or one step."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seq2seq.config import ModelConfig
from seq2seq.models.attention import Attention
from seq2seq.models.rnn import StackedRNN


@dataclass(frozen=True)
class DecoderState:
    """The decoder's recurrent state, an explicit value: passed in, returned, never mutated.

    hidden: (L_dec, B, Hd); cell: (L_dec, B, Hd) for LSTM else None;
    feed: (B, F) the previous step's attentional vector with input feeding, else None.
    """

    hidden: Tensor
    cell: Tensor | None = None
    feed: Tensor | None = None

    def index_select(self, idx: Tensor) -> DecoderState:
        """Batch rows `idx` (K,), e.g. to reorder beams. Returns a new state of batch K."""
        return DecoderState(self.hidden.index_select(1, idx),
                            None if self.cell is None else self.cell.index_select(1, idx),
                            None if self.feed is None else self.feed.index_select(0, idx))


@dataclass(frozen=True)
class Memory:
    """What the decoder reads from the encoder, fixed for a batch.

    outputs: (B, S, He) encoder outputs (attention values); mask: (B, S) bool, True at real tokens;
    keys: (B, S, K) precomputed attention keys or None without attention;
    context: (B, He) fixed context vector = the encoder's top-layer final hidden state.
    """

    outputs: Tensor
    mask: Tensor
    keys: Tensor | None
    context: Tensor

    def index_select(self, idx: Tensor) -> Memory:
        """Batch rows `idx` (K,), e.g. to repeat each sentence per beam."""
        return Memory(self.outputs.index_select(0, idx), self.mask.index_select(0, idx),
                      None if self.keys is None else self.keys.index_select(0, idx),
                      self.context.index_select(0, idx))


@dataclass(frozen=True)
class StepOutput:
    """One decoder step: logits (B, V), the new state, attention weights (B, S) or None."""

    logits: Tensor
    state: DecoderState
    attention: Tensor | None


class Decoder(nn.Module):
    """Conditional RNN language model over the target vocabulary.

    feed_context: init (context only through the bridge), input (fixed context vector
    concatenated to every input), peeky (to every input and to the output layer; seed 002).
    attention_output: concat (output layer on [c; h], textbook ch. 8) or tanh
    (h~ = tanh(W_c [c; h]), output layer on h~; Luong, seed 003).
    input_feeding: the previous step's attentional vector joins the next input - h~ (size Hd)
    with attention_output=tanh (Luong), the context c (size He) with attention_output=concat
    (LAS: the attention output goes to the lower layer at the next step); zeros at the first step.
    tie_embeddings: output weights = target embedding; when the pre-output size differs from
    embedding_size a bias-free Linear projects to embedding_size first.
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int, context_size: int, input_size: int | None = None):
        """input_size: continuous targets - the previous output's size, read by a Linear instead of the
        embedding; vocab_size is then the output layer's size (the value head)."""
        super().__init__()
        if cfg.feed_context not in ("init", "input", "peeky"):
            raise ValueError(f"unknown feed_context {cfg.feed_context!r}; allowed: init, input, peeky")
        if cfg.attention_output not in ("concat", "tanh"):
            raise ValueError(f"unknown attention_output {cfg.attention_output!r}; allowed: concat, tanh")
        hd = cfg.decoder_hidden
        self.feed_context = cfg.feed_context
        self.input_feeding = cfg.input_feeding
        self.attention_output = cfg.attention_output
        self.hidden_size = hd
        self.num_layers = cfg.decoder_layers
        self.embed = (nn.Embedding(vocab_size, cfg.embedding_size, padding_idx=0) if input_size is None
                      else nn.Linear(input_size, cfg.embedding_size))
        self.dropout = nn.Dropout(cfg.dropout)

        self.attention = None if cfg.attention == "none" else Attention(cfg.attention, hd, context_size)
        if self.input_feeding and self.attention is None:
            raise ValueError("input_feeding needs attention")
        self.feed_size = (hd if self.attention_output == "tanh" else context_size) if self.input_feeding else 0
        rnn_in = cfg.embedding_size + (context_size if self.feed_context != "init" else 0) + self.feed_size
        self.rnn = StackedRNN(cfg.cell, rnn_in, hd, cfg.decoder_layers, False, cfg.dropout, cfg.residual)

        if self.attention is None:
            pre = hd
        elif self.attention_output == "tanh":
            self.combine = nn.Linear(context_size + hd, hd, bias=False)
            pre = hd
        else:
            pre = context_size + hd
        if self.feed_context == "peeky":
            pre += context_size
        self.tie_embeddings = cfg.tie_embeddings
        if self.tie_embeddings:
            self.tie_proj = nn.Linear(pre, cfg.embedding_size, bias=False) if pre != cfg.embedding_size else None
            self.out_bias = nn.Parameter(torch.zeros(vocab_size))
        else:
            self.out = nn.Linear(pre, vocab_size)

    # -- pieces shared by the whole-sequence and the step path (2-D or 3-D tensors alike) --

    def _inputs(self, tokens: Tensor, memory: Memory, feed: Tensor | None) -> Tensor:
        """tokens (B, T) or (B,) -> RNN input (B, T, I) or (B, I)."""
        x = self.dropout(self.embed(tokens))
        parts = [x]
        if self.feed_context != "init":
            parts.append(memory.context if x.dim() == 2
                         else memory.context.unsqueeze(1).expand(-1, x.size(1), -1))
        if self.input_feeding:
            parts.append(feed)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else x

    def _attend(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """h: (B, T, Hd) or (B, Hd) top RNN outputs -> pre-output (.., P) before dropout, attention, feed."""
        attn = feed = None
        if self.attention is None:
            parts = [h]
        else:
            context, attn = self.attention(h, memory.keys, memory.outputs, memory.mask)
            if self.attention_output == "tanh":
                h_tilde = torch.tanh(self.combine(torch.cat([context, h], dim=-1)))
                parts, feed = [h_tilde], h_tilde
            else:
                parts, feed = [context, h], context
        if self.feed_context == "peeky":
            parts.append(memory.context if h.dim() == 2
                         else memory.context.unsqueeze(1).expand(-1, h.size(1), -1))
        return (torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]), attn, feed

    def _project(self, pre: Tensor) -> Tensor:
        """Pre-output (.., P) -> logits (.., V)."""
        pre = self.dropout(pre)
        if self.tie_embeddings:
            if self.tie_proj is not None:
                pre = self.tie_proj(pre)
            return nn.functional.linear(pre, self.embed.weight, self.out_bias)
        return self.out(pre)

    def _outputs(self, h: Tensor, memory: Memory) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """h: (B, T, Hd) or (B, Hd) top RNN outputs -> logits (.., V), attention (.., S), feed."""
        pre, attn, feed = self._attend(h, memory)
        return self._project(pre), attn, feed

    def initial_feed(self, batch: int, like: Tensor) -> Tensor | None:
        """Zeros (B, F) for the first input-feeding step, else None."""
        return like.new_zeros(batch, self.feed_size) if self.input_feeding else None

    # -- the two paths --

    def step(self, prev: Tensor, state: DecoderState, memory: Memory) -> StepOutput:
        """prev: (B,) previous tokens. Returns logits (B, V), the new state, attention (B, S) or None."""
        x = self._inputs(prev, memory, state.feed)
        h, (hidden, cell) = self.rnn.step(x, (state.hidden, state.cell))
        logits, attn, feed = self._outputs(h, memory)
        return StepOutput(logits, DecoderState(hidden, cell, feed if self.input_feeding else None), attn)

    def forward_sequence(self, tgt_in: Tensor, state: DecoderState,
                         memory: Memory) -> tuple[Tensor, Tensor | None, DecoderState]:
        """Teacher-forced decoding of a whole target prefix.

        tgt_in: (B, T) ids (BOS first). Returns logits (B, T, V), attention (B, T, S) or None,
        and the state after T steps. One RNN call for the whole sequence unless input feeding
        (each input then depends on the previous step's output), which steps the recurrence and
        attention and projects to the vocabulary once afterwards.
        """
        if self.input_feeding:
            # Only the recurrence is stepped. The inputs of all steps are embedded at once and the
            # output layer runs once over (B, T, P) after the loop: one large matmul instead of T
            # small ones, and on a 10k vocabulary the output layer is about half of all FLOPs
            # (measured 1.24x faster training, luong preset on Multi30k, one thread).
            x = self.dropout(self.embed(tgt_in))
            if self.feed_context != "init":
                x = torch.cat([x, memory.context.unsqueeze(1).expand(-1, x.size(1), -1)], dim=-1)
            hidden, cell, feed = state.hidden, state.cell, state.feed
            pres, attns = [], []
            for t in range(tgt_in.size(1)):
                h, (hidden, cell) = self.rnn.step(torch.cat([x[:, t], feed], dim=-1), (hidden, cell))
                pre, attn, feed = self._attend(h, memory)
                pres.append(pre)
                attns.append(attn)
            logits = self._project(torch.stack(pres, 1))
            return logits, torch.stack(attns, 1), DecoderState(hidden, cell, feed)
        x = self._inputs(tgt_in, memory, None)
        h, (hidden, cell) = self.rnn(x, None, (state.hidden, state.cell))
        logits, attn, _ = self._outputs(h, memory)
        return logits, attn, DecoderState(hidden, cell, None)
