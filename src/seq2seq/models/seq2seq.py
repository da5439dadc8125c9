"""Seq2Seq: encoder + bridge + decoder with its head (each side recurrent or a Transformer), the loss, and
`build_model` (config in, module out)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import Config, ModelConfig, validate
from .bridge import Bridge
from .decoder import Decoder, DecoderState, Memory, StepOutput
from .encoder import Encoder, EncoderOutput
from .heads import HEADS, TokenHead, VectorHead
from .inputs import TokenEmbedding
from .transformer import TransformerDecoder, TransformerEncoder, TransformerMemory, TransformerState

# model.encoder_type / model.decoder_type -> the class; each takes (model config, side kind or head, size).
ENCODERS: dict[str, type[Encoder] | type[TransformerEncoder]] = {"rnn": Encoder, "transformer": TransformerEncoder}
DECODERS: dict[str, type[Decoder] | type[TransformerDecoder]] = {"rnn": Decoder, "transformer": TransformerDecoder}


@dataclass(frozen=True)
class ModelOutput:
    """scores: (B, T, V) logits, or (B, T, D[+1]) predicted vectors; attention: (B, T, S) weights or None."""

    scores: Tensor
    attention: Tensor | None


def _check_lengths(lengths: Tensor, src: Tensor) -> None:
    if not isinstance(lengths, Tensor) or lengths.dim() != 1 or lengths.size(0) != src.size(0):
        shape = tuple(lengths.shape) if isinstance(lengths, Tensor) else type(lengths).__name__
        raise ValueError(f"src_lengths must be ({src.size(0)},) to match src {tuple(src.shape)}, got {shape}")
    if lengths.dtype.is_floating_point or lengths.dtype == torch.bool:
        raise ValueError(f"src_lengths must be integers, got {lengths.dtype}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1 or hi > src.size(1):
        raise ValueError(f"src_lengths must lie in [1, {src.size(1)}] (the padded source length), "
                         f"got min {lo}, max {hi}")


class Seq2Seq(nn.Module):
    """Encoder-decoder model. `encode`, `init_state` and `step` are what generation uses."""

    def __init__(self, config: ModelConfig, encoder: Encoder | TransformerEncoder, bridge: Bridge | None,
                 decoder: Decoder | TransformerDecoder):
        """bridge: None for a decoder without a recurrent state (a Transformer's)."""
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.bridge = bridge
        self.decoder = decoder

    @property
    def head(self) -> TokenHead | VectorHead:
        """The decoder's output head (what a target is: tokens or vectors)."""
        return self.decoder.head

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src: (B, S) ids or (B, S, D) features (a copy model: (B, S, 2), each id beside its extended target
        id, see `pointer`); src_lengths: (B,) real lengths in [1, S]."""
        copy = self.decoder.copy
        src, source_map = (src, None) if copy is None else copy.split(src)
        self.encoder.input.check("src", src)
        _check_lengths(src_lengths, src)
        enc = self.encoder(src, src_lengths)
        return enc if source_map is None else dataclasses.replace(enc, source_map=source_map)

    def init_state(self, enc: EncoderOutput) -> tuple[DecoderState | TransformerState, Memory | TransformerMemory]:
        """The decoder's initial state (bridge) and its read-only memory (attention keys precomputed once)."""
        if isinstance(self.decoder, TransformerDecoder):
            return self.decoder.init_state(enc)
        hidden, cell = self.bridge(enc.final)
        dec = self.decoder
        keys = None if dec.attention is None else dec.attention.precompute(enc.outputs)
        memory = Memory(enc.outputs, enc.mask, keys, enc.final.hidden[-1], enc.source_map)
        return dec.initial_state(hidden, cell, memory), memory

    def step(self, prev: Tensor, state: DecoderState | TransformerState,
             memory: Memory | TransformerMemory) -> StepOutput:
        """prev: (B,) previous tokens or (B, D) vectors -> StepOutput(scores, state, attention (B, S) or None,
        and for a Transformer decoder each head's attention (B, H, S))."""
        return self.decoder.step(prev, state, memory)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> ModelOutput:
        """src: (B, S[, D]); src_lengths: (B,); tgt_in: (B, T) target ids starting with <s>, or (B, T, D)
        previous gold vectors (step 0 is ignored: the head's start vector is read there).

        teacher_forcing < 1 is scheduled sampling (Bengio et al. 2015): at each step and for each row the
        gold previous output is fed with that probability, else the model's own previous prediction
        (torch's global RNG decides). Returns ModelOutput(scores (B, T, ...), attention (B, T, S) or None).
        """
        self.head.check("tgt_in", tgt_in, src.size(0) if isinstance(src, Tensor) else None)
        state, memory = self.init_state(self.encode(src, src_lengths))
        return self._decode(self.head.teacher_inputs(tgt_in), state, memory, teacher_forcing)

    def _decode(self, tgt_in: Tensor, state: DecoderState | TransformerState, memory: Memory | TransformerMemory,
                teacher_forcing: float) -> ModelOutput:
        """Decode the whole target prefix: in one sequence call when teacher-forced, else step by step
        feeding, per step and row, the gold input with probability teacher_forcing, else the head's feedback."""
        if teacher_forcing >= 1.0:
            scores, attn, _ = self.decoder.forward_sequence(tgt_in, state, memory)
            return ModelOutput(scores, attn)
        steps, attns = [], []
        prev = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            out = self.decoder.step(prev, state, memory)
            state = out.state
            steps.append(out.scores)
            attns.append(out.attention)
            if t + 1 < tgt_in.size(1):
                own = self.head.feedback(out.scores)
                gold = torch.rand(own.size(0), device=own.device) < teacher_forcing
                prev = torch.where(gold.view(-1, *[1] * (own.dim() - 1)), tgt_in[:, t + 1], own)
        attention = None if attns[0] is None else torch.stack(attns, 1)
        return ModelOutput(torch.stack(steps, 1), attention)

    def loss(self, scores: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed loss over real target steps and their count (see the head's `loss`)."""
        return self.head.loss(scores, tgt_out, label_smoothing)


def build_model(cfg: Config | ModelConfig, src_size: int, tgt_size: int) -> Seq2Seq:
    """The one factory: a config (validated here too) and each side's size -> Seq2Seq.

    A side's size is its vocabulary size for tokens and its vector dimension for features, as
    `data.source_type` / `data.target_type` say (a bare ModelConfig means tokens on both sides).
    """
    full = cfg if isinstance(cfg, Config) else Config(model=cfg)
    if not isinstance(full.model, ModelConfig):
        raise TypeError(f"build_model needs a ModelConfig, got {type(full.model).__name__}")
    validate(full)
    m, d = full.model, full.data
    for name, size, kind in (("src_size", src_size, d.source_type), ("tgt_size", tgt_size, d.target_type)):
        smallest = 1 if kind == "features" else 2
        if not isinstance(size, int) or isinstance(size, bool) or size < smallest:
            raise ValueError(f"{name} must be an integer >= {smallest} for a {kind} side, got {size!r}")
    encoder = ENCODERS[m.encoder_type](m, d.source_type, src_size)
    bridge = (Bridge(m.bridge, m.cell, encoder.output_size, encoder.final_layers, m.decoder_hidden, m.decoder_layers)
              if m.decoder_type == "rnn" else None)
    head = HEADS[d.target_type].from_config(full, tgt_size)
    model = Seq2Seq(m, encoder, bridge, DECODERS[m.decoder_type](m, head, encoder.output_size))
    for layer in model.modules():
        if isinstance(layer, TokenEmbedding):
            layer.word_dropout = m.word_dropout
    if m.share_embeddings:
        if src_size != tgt_size:
            raise ValueError(f"model.share_embeddings=true needs one vocabulary: src_size {src_size} != tgt_size "
                             f"{tgt_size}")
        # One weight for both sides (Press & Wolf 2017), drawn once: the target's, which the output layer ties to.
        model.encoder.input.weight = head.input.weight
    return model
