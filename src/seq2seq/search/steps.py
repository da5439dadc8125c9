"""Greedy search (the deterministic generation of Saito, Deep Learning from Scratch 2) and sampling, written
once for every engine: the step loop both share, feeding back a choice until every row ends or reaches its cap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import DecodeConfig
from ..data.vocab import EOS
from .hypothesis import Hypothesis
from .ops import Array
from .rules import Choice
from .stepper import Stepper

# (head input of the rows still generated, step) -> the Choice for those rows
Pick = Callable[[Any, int], Choice]


def run_steps(net: Stepper, src: Array, src_lengths: Array, caps: Array, use_stop: bool, pick: Pick, *,
              leave_when_ended: bool, best: int = 0, keep_attention: bool = False) -> list[Hypothesis]:
    """Generate for a batch one step at a time. src: (B, S[, D]); src_lengths, caps: (B,).

    `pick` turns a step's head input (each row's `best` candidates if best > 0) into a Choice. A row ends
    when its choice says so (if `use_stop`) or at its cap. With `leave_when_ended`, ended rows leave the batch
    (state and memory shrink), so a batch does not run at full width until its longest output ends; without
    it every row stays, so that a random generator's draws for a row do not depend on when the other rows end.
    """
    ops, head = net.ops, net.head
    prev, state, memory = net.encode(src, src_lengths)
    batch = len(src)
    alive = ops.arange(batch)  # rows still generated, in state/memory order
    ended = ops.full((batch,), False, "bool")
    lengths = ops.copy(caps)
    scores = ops.full((batch,), 0.0, "float")
    steps, attns = [], []
    for t in range(int(caps.max())):
        out = net.step(prev, state, memory, best, keep_attention)
        state = out.state
        choice = pick(out.head_input, t)
        emitted, score = choice.output, ops.as_float(choice.score)
        stop = choice.ended if use_stop else ops.full(tuple(choice.ended.shape), False, "bool")
        if leave_when_ended:
            # Ended rows have left the batch: every row here is still running.
            steps.append(ops.put(head.blank(batch, emitted), alive, emitted))
        else:
            done = ended  # an ended row emits blanks at no cost until the whole batch ends
            stop = stop & ~done
            emitted = ops.where(done.reshape(-1, *[1] * (emitted.ndim - 1)), head.blank(batch, emitted), emitted)
            score = ops.where(done, 0.0, score)
            steps.append(emitted)
        ops.add_to(scores, alive, score)
        if out.maps is not None:
            maps = out.maps
            attns.append(ops.put(ops.full((batch, *maps.shape[1:]), 0.0, "float"), alive, maps)
                         if leave_when_ended else maps)
        rows_ended = alive[stop]
        lengths[rows_ended] = t + 1
        ended = ended | (caps <= t + 1)
        ended[rows_ended] = True
        if bool(ended.all()):
            break
        prev = choice.feed
        if leave_when_ended:
            keep = ops.nonzero(~ops.take(ended, alive))
            if len(keep) < len(alive):
                alive, prev = ops.take(alive, keep), ops.take(prev, keep)
                state, memory = net.take(state, keep), net.take(memory, keep)
    emitted_all = ops.stack(steps, 1)
    attention = ops.stack(attns, 1) if attns else None
    ends = ops.clip(lengths, 0, emitted_all.shape[1]).tolist()
    return [net.hypothesis(head.finish(emitted_all[i, : ends[i]]), float(scores[i]),
                           None if attention is None else attention[i, : ends[i]]) for i in range(batch)]


def greedy(net: Stepper, src: Array, src_lengths: Array, options: DecodeConfig, rng: Any = None,
           keep_attention: bool = False) -> list[list[Hypothesis]]:
    """One hypothesis per row: the head's choice fed back until it ends the row or the row's cap is reached.

    src: (B, S) ids or (B, S, D) features; src_lengths: (B,). Token targets stop at </s> (barred before
    decode.min_length); vector targets emit as many vectors as decode.feature_length says. `rng` is unused.
    """
    caps, use_stop = net.head.max_steps(src_lengths, options)
    out = run_steps(net, src, src_lengths, caps, use_stop, lambda head_input, step: net.head.choose(
        head_input, step, options), leave_when_ended=True, best=net.greedy_best, keep_attention=keep_attention)
    return [[h] for h in out]


def sample(net: Stepper, src: Array, src_lengths: Array, options: DecodeConfig, rng: Any = None,
           keep_attention: bool = False) -> list[list[Hypothesis]]:
    """One drawn hypothesis per row (token targets), drawn with the engine's generator `rng` from the model's
    distribution reshaped by decode.temperature, top_k and top_p; its score is the tokens' log-probability
    under the model. Every row stays in the batch to the end, so that the generator's draws, and so the
    outputs for a seed, do not depend on when other rows finish."""
    ops = net.ops
    caps, _ = net.head.max_steps(src_lengths, options)

    def pick(head_input: Array, step: int) -> Choice:
        # softmax(log p / T) = softmax(logits / T): log-probabilities serve as logits too.
        logits = ops.filter_logits(ops.as_float(head_input) / options.temperature, options.top_k, options.top_p)
        if step < options.min_length:
            logits[:, EOS] = float("-inf")
        token = ops.draw(logits, rng)
        logp = net.log_probs(head_input)
        if step < options.min_length:
            logp = ops.copy(logp)
            logp[:, EOS] = float("-inf")
        return Choice(token, token, ops.pick(logp, token), token == EOS)

    out = run_steps(net, src, src_lengths, caps, True, pick, leave_when_ended=False, keep_attention=keep_attention)
    return [[h] for h in out]
