"""Checkpoints of a training run: the bundle, the optimiser, every rank's random state and the progress,
written atomically into the run directory and read back for an exact resume."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from ..runs.atomic import append_line, refused_as, write_text
from ..runs.bundle import Bundle
from ..runs.checkpoint import (
    MODEL_FILE,
    MODEL_JSON,
    TRAINER_FILE,
    TRAINER_JSON,
    CheckpointError,
    last_good,
    load_state_into,
    optimizer_tensors,
    read_json,
    read_tensors,
    restore_optimizer,
    save_tensors,
    write_checkpoint,
)
from ..runs.checksums import verify_checkpoint
from ..runs.directory import checkpoint_version, resolved_checkpoint
from .distributed import World, barrier, gather_tensor
from .schedule import Progress

log = logging.getLogger("seq2seq")
METRICS_FILE = "metrics.jsonl"


class Checkpointer:
    """Saves and restores a run's state in `out/checkpoints` (rank 0 writes; every rank restores)."""

    def __init__(self, out: Path, world: World, device: torch.device, keep: int = 0):
        """keep: step checkpoints kept beside last and best (train.keep_checkpoints)."""
        self.out, self.world, self.device, self.keep = out, world, device, keep

    def save(self, bundle: Bundle, optimizer: torch.optim.Optimizer, progress: Progress, best: bool) -> None:
        """Write checkpoints/step-N and point `last` (and `best`) at it; a kill at any moment leaves the
        previous checkpoints whole."""
        # Each rank's RNG stream (dropout, scheduled sampling) is kept, so a resumed run continues exactly.
        rng = {f"rng.torch.{r}": s for r, s in enumerate(gather_tensor(torch.get_rng_state(), self.world))}
        if self.device.type == "cuda":
            rng.update({f"rng.cuda.{r}": s for r, s in
                        enumerate(gather_tensor(torch.cuda.get_rng_state(self.device), self.world))})
        if not self.world.is_main:
            barrier(self.world)
            return
        opt_tensors, opt_meta = optimizer_tensors(optimizer)

        def write(directory: Path) -> None:
            bundle.save_into(directory, {"step": progress.step, "epoch": progress.epoch})
            save_tensors({**opt_tensors, **rng}, directory / TRAINER_FILE)
            state = {"progress": asdict(progress), "optimizer": opt_meta}
            (directory / TRAINER_JSON).write_text(json.dumps(state), encoding="utf-8")

        with self.refused(f"the checkpoint of step {progress.step} into {self.out / 'checkpoints'}"):
            write_checkpoint(self.out, progress.step, write, ("last", "best") if best else ("last",), self.keep)
        barrier(self.world)

    def refused(self, what: str) -> Any:
        """A context in which a write the OS refuses becomes WriteRefused naming `what`, the last good checkpoint
        and how to go on."""
        return refused_as(what, lambda: last_good(self.out),
                          f"go on with: seq2seq train --out {self.out} --resume",
                          also=(SafetensorError,))

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Progress:
        """Load `checkpoints/last` into the model and optimiser, this rank's RNG state, and the progress;
        evaluations logged after that checkpoint are dropped from metrics.jsonl."""
        ckpt = resolved_checkpoint(self.out, "last")
        verify_checkpoint(ckpt)
        if checkpoint_version(ckpt, read_json(ckpt / MODEL_JSON)) < 2:
            raise CheckpointError(f"{ckpt}: written by an earlier seq2seq (checkpoint format 1), whose optimiser "
                                  f"state lists the weights in another order; it loads for eval, translate and "
                                  f"serve, but to train on, start a new run (or resume with the version that "
                                  f"wrote it)")
        load_state_into(model, ckpt / MODEL_FILE)
        tensors = read_tensors(ckpt / TRAINER_FILE)
        state = read_json(ckpt / TRAINER_JSON)
        restore_optimizer(optimizer, {k: v.to(self.device) for k, v in tensors.items() if k.startswith("optim.")},
                          state["optimizer"])
        progress = Progress(**state["progress"])
        rank = self.world.rank if f"rng.torch.{self.world.rank}" in tensors else 0
        torch.set_rng_state(tensors[f"rng.torch.{rank}"])
        if f"rng.cuda.{rank}" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors[f"rng.cuda.{rank}"], self.device)
        if self.world.is_main:
            self._drop_metrics_after(progress.step)
            log.info("resumed from %s at epoch %d, step %d", ckpt, progress.epoch, progress.step)
        return progress

    def _drop_metrics_after(self, step: int) -> None:
        """Rewrite metrics.jsonl without the evaluations logged after `step` (whole or not at all: a kill during
        the resume itself leaves the file as it was)."""
        path = self.out / METRICS_FILE
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        kept = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                logged = json.loads(line)["step"]
            except (ValueError, KeyError, TypeError):
                # A line cut by a crash mid-append (possible only on a file system without ordered writes): the
                # evaluation it held comes again after the resume.
                log.warning("%s:%d: not a whole evaluation record; dropped", path, number)
                continue
            if logged <= step:
                kept.append(line)
        with self.refused(str(path)):
            write_text(path, "".join(ln + "\n" for ln in kept))

    def start_metrics(self) -> None:
        """An empty metrics.jsonl for a run that starts from the beginning (rank 0)."""
        if self.world.is_main:
            with self.refused(str(self.out / METRICS_FILE)):
                write_text(self.out / METRICS_FILE, "")

    def log_metrics(self, record: dict) -> None:
        """Append one evaluation to metrics.jsonl, whole or not at all (rank 0)."""
        if self.world.is_main:
            with self.refused(f"the evaluation of step {record.get('step')} to {self.out / METRICS_FILE}"):
                append_line(self.out / METRICS_FILE, json.dumps(record))
