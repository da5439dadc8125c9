"""The exporter's view of a model: state and memory flattened to named tensors and back, and each tensor's batch,
source-length and growing axes found by probing - for the RNN models and for a model with a cache of past
steps (the shape of a Transformer decoder's state)."""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from seq2seq.export.graphs import BATCH, CANDIDATES, GROWING, MEMORY, flatten, probe, unflatten
from seq2seq.models.decoder import DecoderState, StepOutput


def test_flatten_leaves_out_none_and_unflatten_restores():
    state = DecoderState(torch.zeros(1, 2, 3), None, torch.ones(2, 4))
    flat = flatten("state", state)
    assert list(flat) == ["state.hidden", "state.feed"]
    back = unflatten(DecoderState, "state", flat)
    assert back.cell is None and torch.equal(back.feed, state.feed)


def test_probe_finds_the_axes_of_an_attention_model(tiny_bundle):
    found = probe(tiny_bundle("luong", ["model.decoder_hidden=12"]).model.eval(), 1)
    assert found.axes["state.hidden"] == {1: BATCH} and found.axes["state.feed"] == {0: BATCH}
    assert found.axes["memory.keys"] == {0: BATCH, 1: MEMORY} and found.axes["attention"] == {0: BATCH, 1: MEMORY}
    assert found.axes["top_tokens"] == {0: BATCH, 1: CANDIDATES}
    assert found.step_inputs == ["prev", "state.hidden", "state.cell", "state.feed", "memory.outputs", "memory.mask",
                                 "memory.keys", "memory.fixed_context", "candidates"]


def test_probe_of_a_listener_counts_memory_steps(tiny_bundle):
    model = tiny_bundle("las", ["model.decoder_hidden=12"]).model.eval()
    found = probe(model, 2 ** 3)
    assert found.axes["memory.mask"] == {0: BATCH, 1: MEMORY}
    assert found.encoder_inputs[0].shape[1] == 4 * 8 + 3


@dataclass(frozen=True)
class CacheState:
    cache: Tensor  # (B, T, H): every step so far


@dataclass(frozen=True)
class Memory:
    outputs: Tensor  # (B, S, H)


class CachingModel(nn.Module):
    """A decoder whose state grows by one step per step, through the same encode/init_state/step interface."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Module()
        self.encoder.input = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 10)
        self.head = self
        self.kind = "tokens"

    def start(self, batch: int, device: torch.device) -> Tensor:
        return torch.full((batch,), 2, dtype=torch.long, device=device)

    def encode(self, src: Tensor, lengths: Tensor) -> Tensor:
        return self.encoder.input(src)

    def init_state(self, enc: Tensor) -> tuple[CacheState, Memory]:
        return CacheState(enc[:, :1] * 0), Memory(enc)

    def step(self, prev: Tensor, state: CacheState, memory: Memory) -> StepOutput:
        cache = torch.cat([state.cache, self.encoder.input(prev).unsqueeze(1)], 1)
        return StepOutput(self.out(cache.mean(1) + memory.outputs.mean(1)), CacheState(cache), None)


def test_probe_finds_a_growing_state_axis():
    found = probe(CachingModel(), 1)
    assert found.axes["state.cache"] == {0: BATCH, 1: GROWING}
    assert found.axes["memory.outputs"] == {0: BATCH, 1: MEMORY}
    assert "attention" not in found.step_outputs
