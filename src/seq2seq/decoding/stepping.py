"""The step loop greedy search and sampling share: feed back a choice until every row ends or reaches its cap."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..models.heads import Choice
from ..search.hypothesis import Hypothesis
from .maps import step_maps, with_maps

# (scores of the rows still generated, step) -> the Choice for those rows
Pick = Callable[[Tensor, int], Choice]


def run_steps(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, caps: Tensor, use_stop: bool, pick: Pick,
              *, compact: bool, keep_attention: bool = False) -> list[Hypothesis]:
    """Generate for a batch one step at a time. src: (B, S[, D]); src_lengths, caps: (B,).

    `pick` turns a step's scores into the head's Choice. A row ends when its choice says so (if
    `use_stop`) or at its cap. With `compact`, ended rows leave the batch (state and memory shrink), so a
    batch does not run at full width until its longest output ends; without it every row stays, so that
    a random generator's draws for a row do not depend on when the other rows end.
    """
    head = model.head
    state, memory = model.init_state(model.encode(src, src_lengths))
    batch, device = src.size(0), src.device
    caps = caps.to(device)
    prev = head.start(batch, device)
    alive = torch.arange(batch, device=device)  # rows still generated, in state/memory order
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    lengths = caps.clone()
    scores = torch.zeros(batch, device=device)
    steps, attns = [], []
    for t in range(int(caps.max())):
        out = model.step(prev, state, memory)
        state = out.state
        choice = pick(out.scores, t)
        emitted, score = choice.output, choice.score.float()
        stop = choice.ended if use_stop else torch.zeros_like(choice.ended)
        if compact:
            # Ended rows have left the batch: every row here is still running.
            steps.append(head.blank(batch, emitted).index_copy(0, alive, emitted))
        else:
            done = ended  # an ended row emits blanks at no cost until the whole batch ends
            stop = stop & ~done
            emitted = torch.where(done.view(-1, *[1] * (emitted.dim() - 1)), head.blank(batch, emitted), emitted)
            score = score.masked_fill(done, 0.0)
            steps.append(emitted)
        scores.index_add_(0, alive, score)
        maps = step_maps(out) if keep_attention else None
        if maps is not None:
            attns.append(maps.new_zeros(batch, *maps.shape[1:]).index_copy(0, alive, maps) if compact else maps)
        rows_ended = alive[stop]
        lengths[rows_ended] = t + 1
        ended = ended | (t + 1 >= caps)
        ended[rows_ended] = True
        if bool(ended.all()):
            break
        prev = choice.feed
        if compact:
            keep = (~ended.index_select(0, alive)).nonzero().squeeze(1)
            if keep.numel() < alive.numel():
                alive, prev = alive.index_select(0, keep), prev.index_select(0, keep)
                state, memory = state.index_select(keep), memory.index_select(keep)
    emitted_all = torch.stack(steps, 1)
    attention = torch.stack(attns, 1) if attns else None
    lengths = lengths.clamp(max=emitted_all.size(1)).tolist()
    return [with_maps(head.finish(emitted_all[i, : lengths[i]]), float(scores[i]),
                      None if attention is None else attention[i, : lengths[i]]) for i in range(batch)]
