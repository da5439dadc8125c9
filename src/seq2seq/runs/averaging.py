"""Checkpoint averaging: the mean of a run's last (or chosen) step checkpoints' weights, as a run directory
of its own (Junczys-Dowmunt et al. 2016; Vaswani et al. 2017 average their last 5 or 20 checkpoints).

Averaging the weights of nearby points of one training run smooths out the noise of the last updates
and usually scores a little better than the last checkpoint alone, at no decoding cost. The steps come
from `train.keep_checkpoints=N`, which keeps the last N step directories besides `last` and `best`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import remove_quietly, write_bytes
from .bundle import load_bundle
from .checkpoint import MODEL_JSON, CheckpointError, read_json, step_dirs, write_checkpoint


def _side_files(directory: Path) -> dict[str, bytes]:
    """The files of both sides (vocabularies, tokenizers, feature statistics) of a checkpoint directory."""
    return {f.name: f.read_bytes() for f in directory.iterdir() if f.name.startswith(("source.", "target."))}


def pick_steps(run_dir: str | Path, last: int | None = None, steps: list[int] | None = None) -> list[Path]:
    """The step checkpoint directories to average: the `last` latest, or those of the given `steps`."""
    run = Path(run_dir)
    available = step_dirs(run / "checkpoints")
    by_step = {int(d.name.removeprefix("step-")): d for d in available}
    listed = ", ".join(map(str, by_step)) or "none"
    if steps:
        missing = [s for s in steps if s not in by_step]
        if missing:
            raise CheckpointError(f"{run}: no checkpoint of step {missing[0]} (steps kept: {listed})")
        return [by_step[s] for s in sorted(set(steps))]
    if last is None or last < 1:
        raise CheckpointError(f"average needs --last N (N >= 1) or --steps, got {last!r}")
    if len(available) < last:
        raise CheckpointError(f"{run}: {last} checkpoints asked for, but only {len(available)} kept (steps: "
                              f"{listed}); train with train.keep_checkpoints={last} to keep more")
    return available[-last:]


def average_checkpoints(run_dir: str | Path, chosen: list[Path], out_dir: str | Path) -> Path:
    """Write the mean weights of the checkpoint directories `chosen` (one run's, same architecture and sides)
    into a new run directory `out_dir`; returns its checkpoint directory (linked as last and best)."""
    out, run = Path(out_dir), Path(run_dir)
    if (out / "checkpoints").exists():
        raise CheckpointError(f"{out}: already holds a run; choose another --out")
    first_sides, first_model = _side_files(chosen[0]), read_json(chosen[0] / MODEL_JSON)["config"]["model"]
    total: dict[str, torch.Tensor] = {}
    for directory in chosen:
        if _side_files(directory) != first_sides:
            raise CheckpointError(f"{directory} and {chosen[0]}: the vocabularies or feature statistics differ; "
                                  f"only checkpoints of one run can be averaged")
        if read_json(directory / MODEL_JSON)["config"]["model"] != first_model:
            raise CheckpointError(f"{directory} and {chosen[0]}: different architectures cannot be averaged")
        for name, value in load_bundle(run, directory.name).model.state_dict().items():
            total[name] = total[name] + value.double() if name in total else value.double()
    bundle = load_bundle(run, chosen[-1].name)  # the latest checkpoint's config and sides carry over
    own = bundle.model.state_dict()
    bundle.model.load_state_dict({k: (v / len(chosen)).to(own[k].dtype) for k, v in total.items()})
    meta = read_json(chosen[-1] / MODEL_JSON)
    steps = [int(d.name.removeprefix("step-")) for d in chosen]
    extra = {"step": meta.get("step"), "epoch": meta.get("epoch"), "averaged": {"run": str(run), "steps": steps}}
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        if (run / "config.yaml").is_file():
            write_bytes(out / "config.yaml", (run / "config.yaml").read_bytes())
        return write_checkpoint(out, steps[-1], lambda d: bundle.save_into(d, extra), ("last", "best"))
    except BaseException:
        if created:  # a failed average leaves nothing behind
            remove_quietly(out)
        raise
