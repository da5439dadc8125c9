"""Resuming a run: which settings may change when a run goes on, and the check that no other one did.

A resumed run continues from `checkpoints/last`: its weights, optimiser state, data order and progress. What
shapes those (the architecture, the data and its sides, the tokenizers, the batches, the seed) must stay as the
checkpoint was written with; what only steers the loop from here on may change, takes effect, and is recorded in
the run's config.yaml (and in every later checkpoint's model.json).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from ..config import SECTIONS, Config, ConfigError
from ..config.build import build_config
from ..runs.checkpoint import CheckpointError, has_checkpoint
from ..runs.checksums import verify_checkpoint
from ..runs.directory import checkpoint_config, resolved_checkpoint

log = logging.getLogger("seq2seq")

# Loop settings: how long to train, the learning rate and its schedule, early stopping, evaluation cadence,
# clipping, where it runs, and how it is watched (progress lines, TensorBoard). Batching (batch_size, batch_by,
# bucket, accumulate) is left out: the position within an epoch is counted in batches. The early-stopping metric
# is left out: the best value so far is of it.
RESUMABLE = frozenset({
    "train.epochs", "train.lr", "train.schedule", "train.warmup_steps", "train.plateau_factor",
    "train.plateau_patience", "train.patience", "train.eval_every", "train.eval_max_sentences", "train.clip_norm",
    "train.threads", "train.device", "train.tensorboard", "train.log_every", "train.log_seconds", "train.kernels",
})


def can_change_on_resume(key: str) -> bool:
    """Whether `section.name` may differ from the checkpoint's value when a run is resumed (every decode key
    may: they are the run's decoding defaults)."""
    return key in RESUMABLE or key.startswith("decode.")


def run_config(run_dir: str | Path) -> Config:
    """The run's config.yaml (what `train --resume` layers the command line over)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CheckpointError(f"{run_dir}: nothing to resume (no config.yaml); start without --resume")
    return build_config(yaml_file=path)


def _values(cfg: Config) -> dict[str, Any]:
    return {f"{section}.{f.name}": getattr(getattr(cfg, section), f.name)
            for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)}


def check_resume(saved: Config, requested: Config) -> list[str]:
    """The settings `requested` changes from the checkpoint's `saved` config (`key: old -> new`); ConfigError
    naming the key and both values for one that cannot change on resume."""
    old, new = _values(saved), _values(requested)
    changed = [key for key in old if old[key] != new[key]]
    for key in changed:
        if not can_change_on_resume(key):
            raise ConfigError(f"--resume cannot change {key} (the run has {old[key]!r}, asked for {new[key]!r}): "
                              f"the checkpoint's weights, vocabularies or data order depend on it; start a new "
                              f"run with another --out to change it")
    return [f"{key}: {old[key]!r} -> {new[key]!r}" for key in changed]


def resume_config(run_dir: Path, requested: Config | None) -> tuple[Config, bool]:
    """The config a resumed run goes on with: `requested` (default: the run's config.yaml, which may have been
    edited), checked against the config of `checkpoints/last` (verified); the changes are logged. The flag says
    whether there is a checkpoint to go on from: a run stopped before its first starts from the beginning with
    its saved configuration, so one command line can be relaunched any number of times."""
    saved_config = run_config(run_dir)  # refuses a directory that is not a run
    cfg = requested if requested is not None else saved_config
    if not has_checkpoint(run_dir):
        log.info("%s: no checkpoint yet (the run stopped before its first); starting it from the beginning with "
                 "its saved configuration", run_dir)
        return cfg, False
    last = resolved_checkpoint(run_dir, "last")
    verify_checkpoint(last)
    for change in check_resume(checkpoint_config(last), cfg):
        log.info("resume: %s", change)
    return cfg, True
