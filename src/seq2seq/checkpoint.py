"""Run directories: atomic checkpoints as safetensors + JSON (never pickle), and loading them back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from collections.abc import Callable

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

# 2: the output head's weights live under decoder.head (format 1 checkpoints are renamed on loading).
CHECKPOINT_VERSION = 2
MODEL_FILE = "model.safetensors"
MODEL_JSON = "model.json"
TRAINER_FILE = "trainer.safetensors"
TRAINER_JSON = "trainer.json"


class CheckpointError(RuntimeError):
    """A run directory or checkpoint that cannot be used; the message names the file."""


def checkpoint_dir(run_dir: str | Path, which: str = "best") -> Path:
    """The directory of `checkpoints/<which>` in a run directory, checked to exist."""
    run = Path(run_dir)
    if not run.is_dir():
        raise CheckpointError(f"{run}: no such run directory")
    path = run / "checkpoints" / which
    if not (path / MODEL_JSON).is_file():
        other = run / "checkpoints" / ("last" if which == "best" else "best")
        if which == "best" and (other / MODEL_JSON).is_file():
            return other
        raise CheckpointError(f"{run}: not a run directory (no checkpoints/{which}/{MODEL_JSON}); "
                              f"pass the DIR given to `seq2seq train --out DIR`")
    return path


def write_checkpoint(run_dir: Path, step: int, write: Callable[[Path], None], links: tuple[str, ...],
                     keep: int = 0) -> Path:
    """Fill a fresh checkpoint directory with `write(dir)` and point each name in `links` at it; step
    directories no link names are removed, but for the `keep` latest (train.keep_checkpoints).

    A kill at any moment leaves every previous link whole.
    """
    ckpt_root = run_dir / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=ckpt_root))
    write(tmp)
    for f in tmp.iterdir():
        _fsync(f)
    final = ckpt_root / f"step-{step:09d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync(ckpt_root)
    for link in links:
        # A symlink swapped in with os.replace is atomic, unlike renaming over a full directory.
        tmp_link = ckpt_root / f".{link}.tmp"
        if tmp_link.is_symlink() or tmp_link.exists():
            tmp_link.unlink()
        tmp_link.symlink_to(final.name)
        os.replace(tmp_link, ckpt_root / link)
    _fsync(ckpt_root)
    _remove_unreferenced(ckpt_root, keep)
    return final


def step_dirs(ckpt_root: Path) -> list[Path]:
    """The complete step checkpoints of a run's checkpoints/ directory, oldest first."""
    return sorted(d for d in ckpt_root.glob("step-*") if d.is_dir() and (d / MODEL_JSON).is_file())


def _remove_unreferenced(ckpt_root: Path, latest: int) -> None:
    keep = {os.readlink(ckpt_root / n) for n in ("last", "best") if (ckpt_root / n).is_symlink()}
    keep |= {d.name for d in step_dirs(ckpt_root)[-latest:]} if latest else set()
    for d in ckpt_root.iterdir():
        if d.is_dir() and not d.is_symlink() and d.name.startswith(("step-", ".tmp-")) and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors as safetensors (contiguous CPU copies; shared storage is split)."""
    save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path))


def read_json(path: Path) -> dict[str, Any]:
    """Read a JSON object, naming the file on any failure."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Load a safetensors file (no pickle, so no code runs), naming the file on failure."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    with open(path, "rb") as f:
        head = f.read(9)
    if len(head) < 8:
        raise CheckpointError(f"{path}: truncated or not a safetensors file")
    # A safetensors file starts with its header's length (8 bytes, little-endian), then the JSON header: a
    # length byte of 0x80 or "PK" is only a pickle/zip when no header follows.
    if head[8:9] != b"{" and (head[:1] == b"\x80" or head[:2] == b"PK"):
        raise CheckpointError(f"{path}: is a pickle/zip (torch.save) file, which is never loaded; "
                              f"checkpoints must be safetensors")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: corrupted or truncated safetensors file ({e})") from None


def load_state_into(module: torch.nn.Module, path: Path,
                    upgrade: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> None:
    """Load weights into a module (renamed by `upgrade` first, for older formats), refusing missing or
    unexpected keys and shape mismatches by name."""
    tensors = read_tensors(path)
    if upgrade is not None:
        tensors = upgrade(tensors)
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    if missing or extra:
        raise CheckpointError(f"{path}: weights do not match the architecture in {MODEL_JSON} "
                              f"(missing: {missing[:5]}, unexpected: {extra[:5]})")
    for k, v in tensors.items():
        if v.shape != own[k].shape:
            raise CheckpointError(f"{path}: tensor '{k}' has shape {tuple(v.shape)} but the architecture "
                                  f"and vocabularies need {tuple(own[k].shape)} (does the vocab match?)")
    module.load_state_dict(tensors)


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's state dict into tensors (safetensors) and JSON-able metadata."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{name}"] = value
            else:
                scalars[f"{idx}.{name}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                      meta: dict[str, Any]) -> None:
    """Inverse of optimizer_tensors."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for key, value in meta["scalars"].items():
        idx, name = key.split(".", 1)
        state.setdefault(int(idx), {})[name] = value
    # JSON turned tuples (Adam's betas) into lists; give them back their type.
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
