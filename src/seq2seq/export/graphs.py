"""The two graphs an exported model is made of, as modules over any model with `encode`, `init_state`, `step`
and a `head`:

- encoder: (src, src_lengths) -> start (the first decoder input), state.* (the initial decoder state) and
  memory.* (what every step reads, attention keys included);
- step: (prev, state.*, memory.*) -> scores (log-probabilities for a token head, the vectors for a vector
  head), state.* (the new state) and attention (when the model attends); a token head's step also takes
  `candidates` and gives each row's best len(candidates) log-probabilities and tokens (`top_scores`,
  `top_tokens`), so that greedy and beam search never copy a (B, V) array out of the graph.

The decoder state and memory are dataclasses of tensors; each field that is not None becomes one named graph
input or output (`state.hidden`, `memory.keys`, ...). Which axis of each is the batch, which the source length
and which grows with every step is found by running the model on batches that differ in one of them and
comparing a step's state before and after (`probe`), so a new architecture exports without telling the
exporter its tensors' layout.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

BATCH, SOURCE, MEMORY, CANDIDATES, GROWING = "batch", "source_steps", "memory_steps", "candidates", "decoder_steps"


def flatten(prefix: str, value: Any) -> dict[str, Tensor]:
    """A dataclass of tensors -> {"prefix.field": tensor}, fields that are None left out."""
    return {f"{prefix}.{f.name}": getattr(value, f.name) for f in dataclasses.fields(value)
            if getattr(value, f.name) is not None}


def unflatten(cls: type, prefix: str, tensors: dict[str, Tensor]) -> Any:
    """Inverse of `flatten` (missing fields are None)."""
    return cls(**{f.name: tensors.get(f"{prefix}.{f.name}") for f in dataclasses.fields(cls)})


def run_encoder(model: nn.Module, src: Tensor, src_lengths: Tensor) -> tuple[dict[str, Tensor], type, type]:
    """encode + init_state + the head's first input: every encoder output by name, and the classes of the decoder
    state and memory. src: (B, S) ids or (B, S, D) features; src_lengths: (B,)."""
    state, memory = model.init_state(model.encode(src, src_lengths))
    start = model.head.start(src.size(0), src.device)
    return {"start": start, **flatten("state", state), **flatten("memory", memory)}, type(state), type(memory)


class EncoderGraph(nn.Module):
    """`run_encoder` with its outputs in the order of `names`."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, src: Tensor, src_lengths: Tensor) -> tuple[Tensor, ...]:
        """The outputs as a tuple in `names` order."""
        out, _, _ = run_encoder(self.model, src, src_lengths)
        return tuple(out[n] for n in self.names)


class StepGraph(nn.Module):
    """One decoder step over flattened state and memory; inputs and outputs in the orders given."""

    def __init__(self, model: nn.Module, state_cls: type, memory_cls: type, inputs: list[str], names: list[str]):
        super().__init__()
        self.model = model
        self.state_cls, self.memory_cls = state_cls, memory_cls
        self.inputs = inputs
        self.names = names
        self.log_probs = model.head.kind == "tokens"

    def outputs(self, prev: Tensor, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
        """Every output by name. prev: (B,) tokens or (B, D) vectors."""
        out = self.model.step(prev, unflatten(self.state_cls, "state", tensors),
                              unflatten(self.memory_cls, "memory", tensors))
        # Token scores leave the graph as log-probabilities: every search reads those, and onnxruntime's fused
        # LogSoftmax is cheaper than numpy's.
        scores = out.scores.float().log_softmax(-1) if self.log_probs else out.scores
        found = {"scores": scores}
        if self.log_probs:
            # ONNX's TopK takes its K at run time, but the tracer follows sizes, not values: K is the length of
            # the `candidates` input (its values are never read).
            found["top_scores"], found["top_tokens"] = scores.topk(tensors["candidates"].size(0), -1)
        found.update(flatten("state", out.state))
        if out.attention is not None:
            found["attention"] = out.attention
        return found

    def forward(self, prev: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        """The outputs as a tuple in `names` order."""
        out = self.outputs(prev, dict(zip(self.inputs[1:], tensors)))
        return tuple(out[n] for n in self.names)


@dataclass
class Probe:
    """What running the model on example batches showed: names, example inputs and each tensor's dynamic axes."""

    encoder_inputs: tuple[Tensor, Tensor]
    encoder_outputs: list[str]
    step_inputs: list[str]
    step_outputs: list[str]
    step_example: tuple[Tensor, ...]
    axes: dict[str, dict[int, str]]
    state_cls: type
    memory_cls: type


def example_source(model: nn.Module, batch: int, steps: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A padded example batch the model reads: (B, S) ids, (B, S, 2) for a copy model, or (B, S, D) features;
    lengths (B,) from S down."""
    gen = torch.Generator().manual_seed(seed)
    layer = model.encoder.input
    if isinstance(layer, nn.Embedding):
        src = torch.randint(4, max(5, layer.num_embeddings), (batch, steps), generator=gen)
    else:
        src = torch.randn(batch, steps, layer.in_features, generator=gen)
    lengths = torch.tensor([max(1, steps - i) for i in range(batch)])
    copy = getattr(getattr(model, "decoder", None), "copy", None)
    if copy is not None:  # each source id beside its extended target id: a vocabulary id or V + its position
        v = copy.vocab_size
        known = torch.randint(4, max(5, v), (batch, steps), generator=gen)
        copied = v + torch.arange(steps).expand(batch, steps)
        src = torch.stack([src, torch.where(torch.rand(batch, steps, generator=gen) < 0.5, known, copied)], -1)
    return src, lengths


def _changed(a: dict[str, Tensor], b: dict[str, Tensor], label: str, axes: dict[str, dict[int, str]]) -> None:
    for name, t in a.items():
        for axis, (x, y) in enumerate(zip(t.shape, b[name].shape)):
            if x != y:
                axes.setdefault(name, {})[axis] = label


@torch.no_grad()  # not inference_mode: its tensors could not be traced afterwards
def probe(model: nn.Module, reduction: int) -> Probe:
    """Run encoder and step on batches differing only in batch size or only in source length, and name each
    changing axis. `reduction`: how many source steps one memory step covers (2**pyramid_layers for a listener,
    2**subsample_layers for a Transformer encoder)."""
    short, long = 2 * reduction + 1, 4 * reduction + 3
    runs = {}
    for key, (batch, steps) in {"base": (3, short), "batch": (4, short), "source": (3, long)}.items():
        src, lengths = example_source(model, batch, steps)
        enc, state_cls, memory_cls = run_encoder(model, src, lengths)
        step_in = {"prev": enc["start"], **{k: v for k, v in enc.items() if k != "start"}}
        if model.head.kind == "tokens":
            step_in["candidates"] = torch.zeros(2)
        out = StepGraph(model, state_cls, memory_cls, [], []).outputs(step_in["prev"], step_in)
        runs[key] = ((src, lengths), enc, step_in, out, state_cls, memory_cls)
    axes: dict[str, dict[int, str]] = {"src": {0: BATCH, 1: SOURCE}, "src_lengths": {0: BATCH},
                                       "candidates": {0: CANDIDATES}}
    base = runs["base"]
    for key, label in (("batch", BATCH), ("source", MEMORY)):
        other = runs[key]
        for part in (1, 2, 3):  # encoder outputs, step inputs, step outputs
            _changed(base[part], other[part], label, axes)
    for name in ("top_scores", "top_tokens"):
        if name in base[3]:
            axes[name][1] = CANDIDATES
    # A state axis that a step lengthens (a cache of past steps, as a Transformer decoder keeps) is dynamic too.
    for name, before in base[2].items():
        after = base[3].get(name)
        for axis, (x, y) in enumerate(zip(before.shape, after.shape) if after is not None else ()):
            if x != y:
                axes.setdefault(name, {})[axis] = GROWING
    step_inputs = list(base[2])
    # The largest example is traced, so that no dimension of it is 1 (the tracer might fold a size-1 axis).
    traced = runs["source"]
    return Probe(traced[0], list(base[1]), step_inputs, list(base[3]), tuple(traced[2][n] for n in step_inputs),
                 axes, base[4], base[5])
