"""Checkpoints of a training run: the bundle, the optimiser, every rank's random state and the progress,
written atomically into the run directory and read back for an exact resume."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path

import torch

from ..bundle import Bundle, checkpoint_version
from ..checkpoint import (MODEL_FILE, MODEL_JSON, TRAINER_FILE, TRAINER_JSON, CheckpointError, checkpoint_dir,
                          load_state_into, optimizer_tensors, read_json, read_tensors, restore_optimizer,
                          save_tensors, write_checkpoint)
from ..distributed import World, barrier, gather_tensor
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

        write_checkpoint(self.out, progress.step, write, ("last", "best") if best else ("last",), self.keep)
        barrier(self.world)

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Progress:
        """Load `checkpoints/last` into the model and optimiser, this rank's RNG state, and the progress;
        evaluations logged after that checkpoint are dropped from metrics.jsonl."""
        ckpt = checkpoint_dir(self.out, "last")
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
            lines = (self.out / METRICS_FILE).read_text(encoding="utf-8").splitlines()
            kept = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= progress.step]
            (self.out / METRICS_FILE).write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")
            log.info("resumed from %s at epoch %d, step %d", ckpt, progress.epoch, progress.step)
        return progress

    def log_metrics(self, record: dict) -> None:
        """Append one evaluation to metrics.jsonl (rank 0)."""
        if self.world.is_main:
            with open(self.out / METRICS_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
