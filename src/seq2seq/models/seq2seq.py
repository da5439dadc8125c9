"""Seq2Seq: encoder + bridge + decoder, the masked loss, and `build_model` (config in, module out)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seq2seq.config import Config, ModelConfig
from seq2seq.models.bridge import Bridge
from seq2seq.models.decoder import Decoder, DecoderState, Memory, StepOutput
from seq2seq.models.encoder import Encoder, EncoderOutput
from seq2seq.models.features import check_features

PAD_ID = 0  # the data package's PAD; embeddings use padding_idx=0 and the loss ignores it


@dataclass(frozen=True)
class ModelOutput:
    """logits: (B, T, V); attention: (B, T, S) weights, or None without attention."""

    logits: Tensor
    attention: Tensor | None


def _check_ids(name: str, x: Tensor, batch: int | None = None) -> None:
    """A (B, L) integer tensor of token ids, with L >= 1."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a tensor of token ids, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be (batch, length), got shape {tuple(x.shape)}")
    if x.dtype not in (torch.long, torch.int32, torch.int64):
        raise ValueError(f"{name} must hold integer token ids (torch.long), got {x.dtype}")
    if x.size(1) == 0:
        raise ValueError(f"{name} has length 0")
    if batch is not None and x.size(0) != batch:
        raise ValueError(f"{name} has batch size {x.size(0)}, the source has {batch}")


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
    """Encoder-decoder model. `encode` and `init_state`/`step` are what generation uses."""

    def __init__(self, config: ModelConfig, encoder: Encoder, bridge: Bridge, decoder: Decoder):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.bridge = bridge
        self.decoder = decoder

    def encode(self, src: Tensor, src_lengths: Tensor) -> EncoderOutput:
        """src: (B, S) ids or (B, S, D) features; src_lengths: (B,) real lengths in [1, S]. Returns EncoderOutput."""
        if self.encoder.source_features:
            check_features("src", src, self.encoder.embed.in_features)
        else:
            _check_ids("src", src)
        _check_lengths(src_lengths, src)
        return self.encoder(src, src_lengths)

    def init_state(self, enc: EncoderOutput) -> tuple[DecoderState, Memory]:
        """The decoder's initial state (bridge) and its read-only memory (keys precomputed once)."""
        hidden, cell = self.bridge(enc.final)
        dec = self.decoder
        keys = None if dec.attention is None else dec.attention.precompute(enc.outputs)
        memory = Memory(enc.outputs, enc.mask, keys, enc.final.hidden[-1])
        return DecoderState(hidden, cell, dec.initial_feed(enc.outputs.size(0), enc.outputs)), memory

    def step(self, prev: Tensor, state: DecoderState, memory: Memory) -> StepOutput:
        """prev: (B,) previous token ids -> StepOutput(logits (B, V), state, attention (B, S) or None)."""
        return self.decoder.step(prev, state, memory)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor,
                teacher_forcing: float = 1.0) -> ModelOutput:
        """src: (B, S); src_lengths: (B,); tgt_in: (B, T) target ids starting with BOS.

        teacher_forcing < 1 is scheduled sampling: at each step and for each sentence the gold
        previous token is fed with that probability, else the argmax of the model's own previous
        prediction (torch's global RNG decides). Returns ModelOutput(logits (B, T, V),
        attention (B, T, S) or None).
        """
        _check_ids("tgt_in", tgt_in, src.size(0) if isinstance(src, Tensor) else None)
        state, memory = self.init_state(self.encode(src, src_lengths))
        return self._decode(tgt_in, state, memory, teacher_forcing)

    def _own_input(self, logits: Tensor) -> Tensor:
        """What scheduled sampling feeds back from a step's output: the argmax token (B,)."""
        return logits.argmax(-1)

    def _decode(self, tgt_in: Tensor, state: DecoderState, memory: Memory, teacher_forcing: float) -> ModelOutput:
        """Decode the whole target prefix: in one sequence call when teacher-forced, else step by step
        feeding, per step and row, the gold input with probability teacher_forcing and else `_own_input`."""
        if teacher_forcing >= 1.0:
            logits, attn, _ = self.decoder.forward_sequence(tgt_in, state, memory)
            return ModelOutput(logits, attn)
        logits, attns = [], []
        prev = tgt_in[:, 0]
        for t in range(tgt_in.size(1)):
            out = self.decoder.step(prev, state, memory)
            state = out.state
            logits.append(out.logits)
            attns.append(out.attention)
            if t + 1 < tgt_in.size(1):
                own = self._own_input(out.logits)
                gold = torch.rand(own.size(0), device=own.device) < teacher_forcing
                prev = torch.where(gold.view(-1, *[1] * (own.dim() - 1)), tgt_in[:, t + 1], own)
        attention = None if attns[0] is None else torch.stack(attns, 1)
        return ModelOutput(torch.stack(logits, 1), attention)

    @staticmethod
    def loss(logits: Tensor, tgt_out: Tensor, label_smoothing: float = 0.0) -> tuple[Tensor, int]:
        """Summed cross-entropy over non-PAD targets and their count.

        logits: (B, T, V); tgt_out: (B, T) gold next tokens, PAD (0) ignored.
        Returns (sum_loss: scalar tensor, n_tokens: int).
        """
        if logits.dim() != 3 or tgt_out.shape != logits.shape[:2]:
            raise ValueError(f"loss needs logits (B, T, V) and tgt_out (B, T), got "
                             f"{tuple(logits.shape)} and {tuple(tgt_out.shape)}")
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt_out.reshape(-1),
                               ignore_index=PAD_ID, reduction="sum", label_smoothing=label_smoothing)
        return loss, int((tgt_out != PAD_ID).sum())


def build_model(cfg: Config | ModelConfig, src_vocab_size: int, tgt_vocab_size: int) -> Seq2Seq:
    """The one factory: a model config (validated here too) and vocabulary sizes -> Seq2Seq.

    A whole Config also brings data.source_type / target_type: a `features` side's size is its vector
    size, and feature targets make a ContinuousSeq2Seq (trained with train.feature_loss).
    """
    full = cfg if isinstance(cfg, Config) else Config(model=cfg)
    cfg = full.model
    if not isinstance(cfg, ModelConfig):
        raise TypeError(f"build_model needs a ModelConfig, got {type(cfg).__name__}")
    full.validate()  # refuses impossible combinations, naming the key
    src_features, tgt_features = full.data.source_type == "features", full.data.target_type == "features"
    for name, size, features in (("src_vocab_size", src_vocab_size, src_features),
                                 ("tgt_vocab_size", tgt_vocab_size, tgt_features)):
        if not isinstance(size, int) or size < (1 if features else 2):
            raise ValueError(f"{name} must be an integer >= {1 if features else 2}, got {size!r}")
    encoder = Encoder(cfg, src_vocab_size, source_features=src_features)
    bridge = Bridge(cfg.bridge, cfg.cell, encoder.output_size, cfg.encoder_layers,
                    cfg.decoder_hidden, cfg.decoder_layers)
    if tgt_features:
        from seq2seq.models.continuous import ContinuousSeq2Seq

        decoder = Decoder(cfg, tgt_vocab_size + int(cfg.stop_flag), encoder.output_size, input_size=tgt_vocab_size)
        return ContinuousSeq2Seq(cfg, encoder, bridge, decoder, tgt_vocab_size, loss=full.train.feature_loss,
                                 feature_length=full.decode.feature_length, target_length=full.data.target_length)
    decoder = Decoder(cfg, tgt_vocab_size, encoder.output_size)
    return Seq2Seq(cfg, encoder, bridge, decoder)
