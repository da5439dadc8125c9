"""Greedy search and sampling in numpy over the exported graphs: the twins of `decoding.stepping`,
`decoding.greedy` and `decoding.sampling` (same loop, same choices, same caps), for the ONNX engine."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..config import DecodeConfig
from ..data.vocab import EOS
from ..search.hypothesis import Hypothesis
from .graphs import Graphs
from .heads import Choice, TokenRules, VectorRules, barred

Pick = Callable[[np.ndarray, int], Choice]


def run_steps(graphs: Graphs, rules: TokenRules | VectorRules, src: np.ndarray, src_lengths: np.ndarray,
              caps: np.ndarray, use_stop: bool, pick: Pick, *, compact: bool, best: int = 0,
              keep_attention: bool = False) -> list[Hypothesis]:
    """Generate for a batch one step at a time (see `decoding.stepping.run_steps`): `pick` turns a step's scores
    (each row's `best` candidates if best > 0) into a Choice; a row ends at its choice (if `use_stop`) or its
    cap; with `compact` ended rows leave the batch."""
    prev, state, memory = graphs.encode(src, src_lengths)
    batch = len(src)
    alive = np.arange(batch)  # rows still generated, in state/memory order
    ended = np.zeros(batch, dtype=bool)
    lengths = caps.copy()
    scores = np.zeros(batch, dtype=np.float32)
    steps, attns = [], []
    for t in range(int(caps.max())):
        out, state, attention = graphs.step(prev, state, memory, best)
        choice = pick(out, t)
        emitted, score = choice.output, choice.score.astype(np.float32)
        stop = choice.ended if use_stop else np.zeros_like(choice.ended)
        if compact:
            full = rules.blank(batch, emitted)
            full[alive] = emitted
            steps.append(full)
        else:
            done = ended  # an ended row emits blanks at no cost until the whole batch ends
            stop = stop & ~done
            emitted = np.where(done.reshape(-1, *[1] * (emitted.ndim - 1)), rules.blank(batch, emitted), emitted)
            score = np.where(done, np.float32(0), score)
            steps.append(emitted)
        scores[alive] += score
        if keep_attention and attention is not None:
            att = attention.astype(np.float32)
            if compact:
                att = np.zeros((batch, att.shape[1]), dtype=np.float32)
                att[alive] = attention
            attns.append(att)
        rows_ended = alive[stop]
        lengths[rows_ended] = t + 1
        ended = ended | (t + 1 >= caps)
        ended[rows_ended] = True
        if ended.all():
            break
        prev = choice.feed
        if compact:
            keep = np.flatnonzero(~ended[alive])
            if len(keep) < len(alive):
                alive, prev = alive[keep], prev[keep]
                state, memory = graphs.take(state, keep), graphs.take(memory, keep)
    emitted_all = np.stack(steps, 1)
    attention_all = np.stack(attns, 1) if attns else None
    ends = np.minimum(lengths, emitted_all.shape[1]).tolist()
    return [Hypothesis(rules.finish(emitted_all[i, : ends[i]]), float(scores[i]),
                       None if attention_all is None else attention_all[i, : ends[i]].copy()) for i in range(batch)]


def greedy(graphs: Graphs, rules: TokenRules | VectorRules, src: np.ndarray, src_lengths: np.ndarray,
           options: DecodeConfig, keep_attention: bool = False) -> list[Hypothesis]:
    """One hypothesis per row: the head's choice fed back until the row ends or reaches its cap."""
    caps, use_stop = rules.caps(src_lengths, options)
    return run_steps(graphs, rules, src, src_lengths, caps, use_stop,
                     lambda scores, step: rules.choose(scores, step, options), compact=True,
                     best=min(rules.best, getattr(rules, "vocab_size", 0)), keep_attention=keep_attention)


def filter_logits(logits: np.ndarray, top_k: int, top_p: float) -> np.ndarray:
    """Mask all but the top-k tokens and the smallest set holding top_p of the mass (see
    `decoding.sampling.filter_logits`). (N, V) -> (N, V)"""
    if top_k > 0:
        k = min(top_k, logits.shape[-1])
        kth = np.partition(logits, -k, axis=-1)[:, -k:].min(-1, keepdims=True)
        logits = np.where(logits < kth, -np.inf, logits)
    if top_p < 1.0:
        order = np.argsort(-logits, axis=-1, kind="stable")
        probs = _softmax(np.take_along_axis(logits, order, -1))
        drop = (np.cumsum(probs, -1) - probs) >= top_p
        mask = np.empty_like(drop)
        np.put_along_axis(mask, order, drop, -1)
        logits = np.where(mask, -np.inf, logits)
    return logits


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def sample(graphs: Graphs, rules: TokenRules, src: np.ndarray, src_lengths: np.ndarray, options: DecodeConfig,
           rng: np.random.Generator, keep_attention: bool = False) -> list[Hypothesis]:
    """One drawn hypothesis per row (token targets), scored by the model's log-probabilities; every row stays
    in the batch to the end, so a row's draws do not depend on when others end."""
    caps, _ = rules.caps(src_lengths, options)

    def pick(logp: np.ndarray, step: int) -> Choice:
        # softmax(log p / T) = softmax(logits / T): the graph's log-probabilities serve as the logits.
        logits = filter_logits(logp / np.float32(options.temperature), options.top_k, options.top_p)
        if step < options.min_length:
            logits[:, EOS] = -np.inf
        cumulative = np.cumsum(_softmax(logits.astype(np.float64)), -1)
        drawn = rng.random(len(logp))[:, None] * cumulative[:, -1:]
        token = np.minimum((cumulative <= drawn).sum(-1), logp.shape[-1] - 1)
        lp = barred(logp, step, options)
        return Choice(token, token, lp[np.arange(len(token)), token], token == EOS)

    return run_steps(graphs, rules, src, src_lengths, caps, True, pick, compact=False, keep_attention=keep_attention)
