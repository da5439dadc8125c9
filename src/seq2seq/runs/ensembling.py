"""Loading several runs as one ensemble: their checkpoints, checked to read one source and write one target
vocabulary (an ensemble averages probabilities over the same ids, fed the same source tensor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..models.ensemble import Ensemble
from .bundle import Bundle, load_bundle
from .checkpoint import CheckpointError


def side_difference(a: Any, b: Any) -> str | None:
    """What makes two sides read or write different ids, or None if they are the same."""
    if a.kind != b.kind:
        return f"types differ ({a.kind} and {b.kind})"
    if a.reversal != b.reversal:
        return "input reversal differs (data.reverse_source)"
    if a.kind == "features":
        same = a.dim == b.dim and all(
            x is None and y is None or x is not None and y is not None and np.array_equal(x, y)
            for x, y in ((a.mean, b.mean), (a.std, b.std)))
        return None if same else "feature dimensions or normalisation statistics differ"
    if a.vocab != b.vocab:
        return f"vocabularies differ ({len(a.vocab)} and {len(b.vocab)} entries)"
    if a.tokenizer.to_json() != b.tokenizer.to_json():
        return "tokenizers differ"
    return None


def load_members(run_dirs: list[str | Path], which: str = "best",
                 device: str | torch.device = "cpu") -> tuple[Bundle, Ensemble]:
    """The first run's bundle (config, sides: the ensemble's) and the ensemble of every run's model."""
    bundles = [load_bundle(d, which=which, device=device) for d in run_dirs]
    first = bundles[0]
    if first.config.data.target_type != "tokens":
        raise CheckpointError(f"{run_dirs[0]}: an ensemble averages token probabilities; this run has "
                              f"data.target_type={first.config.data.target_type}")
    for run, bundle in zip(run_dirs[1:], bundles[1:]):
        for name in ("target", "source"):
            why = side_difference(getattr(first, name), getattr(bundle, name))
            if why is not None:
                raise CheckpointError(f"{run_dirs[0]} and {run}: the {name} {why}; an ensemble needs one {name} "
                                      f"side (train the runs with the same data settings; data.{name}_vocab=FILE "
                                      f"gives them one vocabulary)")
    try:
        return first, Ensemble([b.model for b in bundles]).to(device).eval()
    except ValueError as e:
        raise CheckpointError(f"{', '.join(map(str, run_dirs))}: {e}") from None
