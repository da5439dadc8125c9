"""Run directories: atomic checkpoints as safetensors + JSON (never pickle), and loading them back."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import current_umask, fsync_path, os_error, remove_quietly  # noqa: F401 (current_umask: re-exported)
from .checksums import write_sums

# Re-exported: what a run directory is and how its JSON is read need no torch (see runs/directory.py).
from .directory import (  # noqa: F401
    CHECKPOINT_VERSION,
    MODEL_FILE,
    MODEL_JSON,
    TRAINER_FILE,
    TRAINER_JSON,
    CheckpointError,
    checkpoint_dir,
    read_json,
)


def has_checkpoint(run_dir: str | Path) -> bool:
    """Whether a run directory holds a checkpoint to resume from (`checkpoints/last`, even a damaged one)."""
    last = Path(run_dir) / "checkpoints" / "last"
    return last.is_symlink() or last.exists()


def make_run_dir(run_dir: str | Path) -> Path:
    """Create a run directory (and its parents); CheckpointError naming the path when it cannot be."""
    run = Path(run_dir)
    if run.exists() and not run.is_dir():
        raise CheckpointError(f"{run}: is a file, not a run directory; choose another --out")
    blocking = next((p for p in run.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise CheckpointError(f"{run}: cannot create it, {blocking} is a file, not a directory")
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"{run}: cannot create the run directory ({e.strerror or e})") from None
    return run


def write_checkpoint(run_dir: Path, step: int, write: Callable[[Path], None], links: tuple[str, ...],
                     keep: int = 0) -> Path:
    """Fill a fresh checkpoint directory with `write(dir)`, record its files' SHA-256 (SHA256SUMS) and point
    each name in `links` at it; step directories no link names are removed, but for the `keep` latest
    (train.keep_checkpoints).

    A kill at any moment leaves every previous link whole; a write the OS refuses raises OSError with the
    temporary folder removed (the caller says what is still intact: see `last_good`).
    """
    ckpt_root = run_dir / "checkpoints"
    ckpt_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=ckpt_root))
    final = ckpt_root / f"step-{step:09d}"
    try:
        write(tmp)
        write_sums(tmp)
        # mkdtemp makes the folder 0700 and safetensors writes 0600: give both the user's usual mode (the
        # umask's), so a model can be shared like any file the user writes.
        umask = current_umask()
        tmp.chmod(0o777 & ~umask)
        for f in tmp.iterdir():
            f.chmod(0o666 & ~umask)
            fsync_path(f)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        fsync_path(ckpt_root)
    except BaseException:
        remove_quietly(tmp)
        raise
    for link in links:
        # A symlink swapped in with os.replace is atomic, unlike renaming over a full directory.
        tmp_link = ckpt_root / f".{link}.tmp"
        try:
            if tmp_link.is_symlink() or tmp_link.exists():
                tmp_link.unlink()
            tmp_link.symlink_to(final.name)
            os.replace(tmp_link, ckpt_root / link)
        except BaseException:
            remove_quietly(tmp_link)
            raise
    fsync_path(ckpt_root)
    _remove_unreferenced(ckpt_root, keep)
    return final


def remove_leftovers(run_dir: Path) -> list[str]:
    """Remove what killed writers left in a run directory (temporary files and checkpoint folders); returns their
    names. Only for the holder of the run's lock: nobody else writes there meanwhile."""
    ckpt_root = run_dir / "checkpoints"
    found = [*run_dir.glob(".*.tmp"), *(ckpt_root.glob(".tmp-*") if ckpt_root.is_dir() else ()),
             *(ckpt_root.glob(".*.tmp") if ckpt_root.is_dir() else ())]
    for path in found:
        remove_quietly(path)
    return [str(p.relative_to(run_dir)) for p in found]


def last_good(run_dir: Path) -> str:
    """What a failed write leaves intact, for its message: the run's last checkpoint, or that it has none."""
    last = run_dir / "checkpoints" / "last"
    if last.is_symlink() and last.exists():
        return f"The last good checkpoint, {last.resolve()}, is intact"
    return f"{run_dir} holds no checkpoint yet"


def step_dirs(ckpt_root: Path) -> list[Path]:
    """The complete step checkpoints of a run's checkpoints/ directory, oldest first."""
    return sorted(d for d in ckpt_root.glob("step-*") if d.is_dir() and (d / MODEL_JSON).is_file())


def _remove_unreferenced(ckpt_root: Path, latest: int) -> None:
    keep = {os.readlink(ckpt_root / n) for n in ("last", "best") if (ckpt_root / n).is_symlink()}
    keep |= {d.name for d in step_dirs(ckpt_root)[-latest:]} if latest else set()
    for d in ckpt_root.iterdir():
        if d.is_dir() and not d.is_symlink() and d.name.startswith(("step-", ".tmp-")) and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)


def save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Write tensors as safetensors (contiguous CPU copies; shared storage is split); a write the OS refuses is
    an OSError (safetensors reports it only in its message)."""
    try:
        save_file({k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}, str(path))
    except SafetensorError as e:
        err = os_error(e)
        if err is None:
            raise
        raise OSError(err.errno, err.strerror, str(path)) from None


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
            raise CheckpointError(f"{path}: tensor '{k}' has shape {tuple(v.shape)} but the config in "
                                  f"{MODEL_JSON} builds {tuple(own[k].shape)}: the config was changed after these "
                                  f"weights were written (or the vocabulary files were replaced)")
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


# Optimiser settings that choose an implementation of the same update.
_IMPLEMENTATION = ("fused", "foreach")


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
    # JSON turned tuples (Adam's betas) into lists; give them back their type. How the update is computed
    # (fused or not) is this optimiser's own choice, not part of the saved state.
    groups = [{**{k: tuple(v) if k == "betas" else v for k, v in g.items()},
               **{k: mine[k] for k in _IMPLEMENTATION if k in mine}}
              for g, mine in zip(meta["param_groups"], optimizer.param_groups)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
