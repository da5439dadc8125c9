"""Which kernel each shape class runs on in this process: the kernel probe (`seq2seq.kernels`) fills the tables,
`linear`, the cell steps and the RNN stack read them. A class nobody decided keeps the built-in rule.

Linear layers and cell steps are decided per phase: "train" while autograd records (forward and backward are
timed together) and "decode" under no_grad (forward only, with generation's packed weights), since the faster
kernel differs between them.
"""

from __future__ import annotations

import torch

# phase -> True (oneDNN) / False (BLAS) for every linear layer and cell step, or None: per class below.
forced: dict[str, bool | None] = {"train": None, "decode": None}
# (phase, in, out) -> [(up to this many rows, oneDNN?), ...] in increasing rows; more rows than the last: undecided
linear_table: dict[tuple[str, int, int], list[tuple[float, bool]]] = {}
# (phase, cell, in, hidden) -> oneDNN matmuls (True) or torch's own cell (False)
cell_table: dict[tuple[str, str, int, int], bool] = {}
# (mode, in, hidden, layers, bidirectional) -> segmented (True) or packed (False)
segment_table: dict[tuple[str, int, int, int, bool], bool] = {}


def phase() -> str:
    """"train" while autograd records, else "decode"."""
    return "train" if torch.is_grad_enabled() else "decode"


def linear_choice(rows: int, n_in: int, n_out: int) -> bool | None:
    """Whether a linear layer of this shape runs on oneDNN here: True / False as decided, None if undecided."""
    p = phase()
    force = forced[p]
    if force is not None:
        return force
    for upto, choice in linear_table.get((p, n_in, n_out), ()):
        if rows <= upto:
            return choice
    return None


def cell_choice(cell: str, n_in: int, hidden: int) -> bool | None:
    """Whether a cell step runs its matmuls on oneDNN: True / False as decided, None if undecided."""
    p = phase()
    force = forced[p]
    if force is not None:
        return force
    return cell_table.get((p, cell, n_in, hidden))


def segment_choice(mode: str, n_in: int, hidden: int, layers: int, bidirectional: bool) -> bool:
    """Whether a recurrent layer runs padded batches segmented (the default) rather than packed."""
    return segment_table.get((mode, n_in, hidden, layers, bidirectional), True)


def reset() -> None:
    """Forget every decision: the built-in rules again."""
    forced.update(train=None, decode=None)
    linear_table.clear()
    cell_table.clear()
    segment_table.clear()
