"""The kernel probe: at the start of training and of generation, time the model's own shape classes under each
kernel this machine has (oneDNN's linear kernel or the BLAS; a decoder cell's matmuls on oneDNN or torch's
cell; an encoder stack segmented or packed; Adam fused or foreach), take the faster, and keep the measurements
per machine (`cache.py`) so that later runs only look them up.

`train.kernels` / `decode.kernels`: `auto` measures; `onednn` or `blas` forces every linear layer and cell step
of that phase onto one kernel and measures nothing (stacks segmented, Adam fused: the built-in choices).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..config import ConfigError
from ..models import linear as lin
from ..models.kernel_plan import forced
from .cache import cache_path, lookup, read_cache, store, valid_entry, write_cache
from .classes import ShapeClass, adam_class, cell_classes, linear_classes, rnn_classes
from .machine import fingerprint
from .timing import Timer, alternating

log = logging.getLogger("seq2seq")

MODES = ("auto", "onednn", "blas")
BUDGET = 1.0  # seconds of measuring per start, all classes together
CLASS_BUDGET = 0.25  # seconds one class may take when several wait
COST = {"adam": 0, "linear": 1, "cell": 2, "rnn": 3}  # the order classes are measured in
RUNS = 3  # measurements of a class that later starts add to its cached one
MARGIN = 0.03  # a candidate replaces the default only when this much faster: closer is the noise of a busy machine


@dataclass
class Decision:
    """The kernel one class runs on and why."""

    phase: str
    kind: str
    label: str
    choice: str
    source: str  # measured | cached | not measured (probe time limit)
    ms: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """e.g. `linear 256x1024 at 64 rows: blas (1.15x faster, measured)`."""
        others = [v for k, v in self.ms.items() if k != self.choice]
        if others and self.ms.get(self.choice):
            ratio = min(others) / self.ms[self.choice]
            if ratio < 1 + MARGIN:
                return f"{self.label}: {self.choice} (the default: within {MARGIN:.0%}, {self.source})"
            return f"{self.label}: {self.choice} ({ratio:.2f}x faster, {self.source})"
        return f"{self.label}: {self.choice} ({self.source})"


@dataclass
class KernelReport:
    """What the probe decided for one start: the modes, every class's decision, the seconds spent measuring."""

    modes: dict[str, str]
    decisions: list[Decision] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""
    choices: dict[str, str] = field(default_factory=dict)  # class key -> the kernel applied (what a run keeps)

    def choice(self, kind: str, default: str) -> str:
        """The choice of the (first) class of a kind, e.g. "adam"; `default` when none was decided."""
        return next((d.choice for d in self.decisions if d.kind == kind), default)

    def lines(self) -> list[str]:
        """The banner: one summary line, then one line per phase listing its decisions."""
        counts = {s: sum(d.source.startswith(s) for d in self.decisions) for s in ("measured", "cached")}
        modes = ", ".join(f"{p} {m}" for p, m in self.modes.items())
        head = f"kernels: {modes}"
        if self.note:
            head += f" - {self.note}"
        elif self.decisions:
            head += (f" (probe {self.seconds:.2f} s: {counts['measured']} measured, {counts['cached']} cached; "
                     f"{cache_path()})")
        out = [head]
        for phase in self.modes:
            texts = [d.text() for d in self.decisions if d.phase == phase]
            forced = self.modes[phase] != "auto"
            if forced:
                texts = [f"every linear layer and cell step on {self.modes[phase]} (forced)"] + texts
            if texts:
                out.append(f"  {phase}: " + "; ".join(texts))
        return out


def _force(phase: str, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"kernels mode {mode!r}; allowed: {', '.join(MODES)}")
    forced[phase] = None if mode == "auto" else mode == "onednn"


def probe(model: nn.Module, device: torch.device, *, train: dict | None = None, decode: dict | None = None,
          timer: Timer = alternating, budget: float = BUDGET, pinned: dict[str, str] | None = None) -> KernelReport:
    """Decide the kernels of `model` for the phases given and record them in `models.kernel_plan`.

    train: {"mode", "rows": (a step's rows, a batch's rows), "lengths": source lengths of one batch,
    "optimizer"}; decode: {"mode", "rows": (greedy rows, beam rows)}. pinned: class key -> kernel, applied
    without measuring (a resumed run keeps its first start's kernels, so that it stays bit-identical; torchrun
    ranks take rank 0's). Returns the report for the banner.
    """
    phases = {p: _with_default_mode(spec) for p, spec in (("train", train), ("decode", decode)) if spec is not None}
    report = KernelReport({p: spec["mode"] for p, spec in phases.items()})
    for phase, spec in phases.items():
        _force(phase, spec["mode"])
    if device.type != "cpu":
        report.note = f"{device.type}: torch's own kernels (the probe measures CPU kernels)"
        return report
    classes: list[ShapeClass] = []
    for phase, spec in phases.items():
        if spec["mode"] != "auto":
            continue
        if lin._OP is not None and lin.ENABLED:
            rows = spec["rows"]
            classes += linear_classes(model, phase, rows)
            classes += cell_classes(model, phase, rows[0])
        if phase == "train":
            classes += rnn_classes(model, list(spec.get("lengths", ())), spec["rows"][0])
            classes.append(adam_class(model, spec.get("optimizer", "adam")))
    if lin._OP is None:
        report.note = "this torch has no oneDNN linear kernel: BLAS everywhere"
    elif not lin.ENABLED:
        report.note = "SEQ2SEQ_ONEDNN_LINEAR=0: BLAS for every linear layer"
    if pinned is not None:
        kept = [c for c in classes if pinned.get(c.key) in c.names]
        for cls in kept:
            cls.apply(pinned[cls.key])
            report.choices[cls.key] = pinned[cls.key]
            report.decisions.append(Decision(cls.phase, cls.kind, cls.label, pinned[cls.key], "kept from the run"))
        classes = [c for c in classes if c not in kept]
    _decide(classes, report, timer, budget)
    return report


def _with_default_mode(spec: dict) -> dict:
    """`auto` replaced by SEQ2SEQ_KERNELS (onednn or blas) where set: one machine-wide mode, e.g. for runs that
    must give the same weights as runs elsewhere (a measured choice can differ between two starts)."""
    default = os.environ.get("SEQ2SEQ_KERNELS", "auto")
    if default not in MODES:
        raise ConfigError(f"environment variable SEQ2SEQ_KERNELS={default!r}; allowed: {', '.join(MODES)}")
    return {**spec, "mode": default} if spec["mode"] == "auto" else spec


def _decide(classes: list[ShapeClass], report: KernelReport, timer: Timer, budget: float) -> None:
    """Each class from the cache, else measured while the budget lasts, else left at its default; time left over
    measures cached classes again (up to RUNS runs, the faster time of each candidate kept), so that one
    measurement on a busy machine does not decide for good."""
    if not classes:
        return
    machine = fingerprint()
    data = read_cache()
    entries = {c.key: lookup(data, machine, c.key) for c in classes}
    fresh = [c for c in classes if not valid_entry(entries[c.key], c.names)]
    again = [c for c in classes if c not in fresh and entries[c.key].get("runs", 1) < RUNS]
    measured: set[str] = set()
    start = time.perf_counter()
    if fresh or again:
        start += _warm_up(any(c.kind == "adam" for c in fresh + again))
    # Cheap classes first: an optimiser step takes microseconds to milliseconds, an encoder's forward and
    # backward a hundred; what the budget does not reach a later start measures.
    queue = sorted(fresh, key=lambda c: COST[c.kind]) + sorted(again, key=lambda c: COST[c.kind])
    for i, cls in enumerate(queue):
        left = budget - (time.perf_counter() - start)
        if left <= 0:
            break
        with torch.enable_grad():
            ms = timer(cls.make(), min(CLASS_BUDGET, left / (len(queue) - i)))
        ms = {n: round(float(ms[n]), 4) for n in cls.names}
        old = entries[cls.key] if cls in again else None
        if old is not None:
            ms = {n: min(ms[n], old["ms"][n]) for n in cls.names}
        runs = 1 + (old.get("runs", 1) if old is not None else 0)
        entries[cls.key] = {"choice": _faster(cls.names, ms), "ms": ms, "runs": runs}
        measured.add(cls.key)
    for cls in classes:
        entry = entries[cls.key]
        if not valid_entry(entry, cls.names):
            cls.apply(cls.names[0])
            report.choices[cls.key] = cls.names[0]
            report.decisions.append(Decision(cls.phase, cls.kind, cls.label, cls.names[0],
                                             "not measured: probe time limit"))
            continue
        cls.apply(entry["choice"])
        report.choices[cls.key] = entry["choice"]
        runs = entry.get("runs", 1)
        source = ("measured" if cls.key in measured else "cached") + (f", {runs} runs" if runs > 1 else "")
        report.decisions.append(Decision(cls.phase, cls.kind, cls.label, entry["choice"], source, dict(entry["ms"])))
    report.seconds = time.perf_counter() - start
    if measured:
        store(data, machine, {k: entries[k] for k in measured})
        write_cache(data)


def _faster(names: tuple[str, str], ms: dict[str, float]) -> str:
    """The faster candidate; the default (the first) unless the other beats it by more than MARGIN."""
    default, other = names
    return other if ms[other] * (1 + MARGIN) < ms[default] else default


def _warm_up(optimizer: bool) -> float:
    """The kernels' one-time start (libraries, autograd, thread pools; the first training step would pay it) and
    an optimiser's (torch imports its compiler for the first one: seconds, which the trainer's would pay),
    before the clock of the budget runs: seconds spent."""
    start = time.perf_counter()
    if optimizer:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    with torch.enable_grad():
        x, w = torch.randn(64, 64, requires_grad=True), torch.randn(256, 64, requires_grad=True)
        for out in (torch.nn.functional.linear(x, w), lin._OneDNNLinear.apply(x, w, None)):
            out.sum().backward()
    return time.perf_counter() - start


def _mean(values: Sequence[int], default: float) -> float:
    return float(np.mean(values)) if len(values) else default


def for_training(cfg, model: nn.Module, device: torch.device, src_lengths: Sequence[int],
                 tgt_lengths: Sequence[int], **kw) -> KernelReport:
    """The probe at the start of `train`: training's shapes (a step's and a batch's rows, a batch of the
    training sources' lengths) and validation's decoding."""
    t = cfg.train
    per_step = max(1, t.batch_size if t.batch_by == "sentences" else int(t.batch_size / _mean(src_lengths, 1.0)))
    # Index arrays, not Python lists: a memory-mapped corpus may hold millions of pairs.
    picked = np.random.default_rng(t.seed).choice(len(src_lengths), min(per_step, len(src_lengths)), replace=False)
    lengths = [int(src_lengths[i]) for i in picked]
    rows = (per_step, int(per_step * _mean(tgt_lengths, 1.0)))
    return probe(model, device, train={"mode": t.kernels, "rows": rows, "lengths": lengths,
                                       "optimizer": t.optimizer},
                 decode=_decode_spec(cfg.decode), **kw)


def _decode_spec(d) -> dict:
    beam = d.batch_size * d.beam_size if d.strategy == "beam" else d.batch_size
    return {"mode": d.kernels, "rows": (d.batch_size, beam)}


def for_generation(decode, model: nn.Module, device: torch.device, **kw) -> KernelReport:
    """The probe when a model is loaded to generate, for a decode section (`DecodeConfig`): its batch (and
    beam) rows and its `kernels` mode."""
    return probe(model, device, decode=_decode_spec(decode), **kw)
