"""Beam search over all sentences and beams of a batch at once, with n-best lists, the GNMT length and coverage
penalties (Wu et al. 2016), written once for every engine (see `stepper.Stepper`)."""

from __future__ import annotations

from ..config import DecodeConfig
from ..data.vocab import EOS, PAD
from .coverage import coverage_penalty
from .hypothesis import Hypothesis
from .ops import Array, ArrayOps
from .stepper import Stepper

_NEG_INF = float("-inf")


def length_penalty(length: Array, alpha: float, ops: ArrayOps) -> Array:
    """GNMT length penalty ((5 + len) / 6) ** alpha (Wu et al. 2016)."""
    return ((ops.as_float(length) + 5.0) / 6.0) ** alpha


def _ranked(scores: Array, lengths: Array, alpha: float, ops: ArrayOps) -> Array:
    """Scores as beam search ranks them: divided by the length penalty when alpha > 0."""
    return scores / length_penalty(lengths, alpha, ops) if alpha > 0 else scores


class _Search:
    """The search's arrays for the sentences still searched (n of them, k beams each, rows n*k)."""

    def __init__(self, net: Stepper, src: Array, src_lengths: Array, caps: Array, k: int, keep_attention: bool,
                 beta: float):
        ops, batch = net.ops, len(src)
        self.net, self.ops, self.k = net, ops, k
        self.best = net.beam_best(k)
        start, state, memory = net.encode(src, src_lengths)
        expand = ops.repeat(ops.arange(batch), k)
        self.state, self.memory = net.take(state, expand), net.take(memory, expand)
        self.caps = ops.repeat(caps, k)
        self.scores = ops.full((batch, k), _NEG_INF, "float")
        self.scores[:, 0] = 0.0  # one live beam per sentence at the start, so no hypothesis is found k times
        self.prev = ops.take(start, expand)
        self.finished = ops.full((batch * k,), False, "bool")
        self.lengths = ops.full((batch * k,), 0, "long")
        self.history = ops.full((batch * k, 0), 0, "long")
        self.attention: Array | None = None
        self.keep_attention = keep_attention
        self.alive = ops.arange(batch)  # the sentence of each group of k rows
        # GNMT coverage penalty of each row (0 without one) and the summed attention it is computed from.
        self.beta = beta
        self.penalty = ops.full((batch * k,), 0.0, "float")
        self.coverage: Array | None = None
        if beta > 0:
            self.mask = net.source_mask(self.memory)
            self.coverage = ops.full(tuple(self.mask.shape), 0.0, "float")

    def advance(self, step: int, min_length: int) -> None:
        """One step: every beam extended by every candidate token, the k best of each sentence kept."""
        ops, k, n = self.ops, self.k, len(self.alive)
        # With `best` > 0 the step gives each row's best few candidates: the k best of a sentence's k * V
        # extensions are among its beams' k + 1 best each (k + 1: one may be a barred </s>).
        out = self.net.step(self.prev, self.state, self.memory, self.best, self.keep_attention)
        if self.best:
            logp, tokens = out.head_input
            if step < min_length:
                logp[tokens == EOS] = _NEG_INF
            pad_column = 0
            tokens[self.finished, 0] = PAD
        else:
            logp, tokens = self.net.log_probs(out.head_input), None
            if step < min_length:
                logp[:, EOS] = _NEG_INF
            pad_column = PAD
        # A finished hypothesis may only continue with <pad>, at no cost.
        pad_logp = ops.where(self.finished, 0.0, logp[:, pad_column])
        ops.fill_rows(logp, self.finished, _NEG_INF)
        logp[:, pad_column] = pad_logp
        width = logp.shape[-1]
        if self.coverage is not None:
            self._cover(out.weights)
        # The penalty is the same for every token a row may add, so it only reorders rows against each other.
        rows = self.scores.reshape(-1, 1) if self.coverage is None else \
            self.scores.reshape(-1, 1) + self.penalty.reshape(-1, 1)
        top_scores, top_idx = ops.top((rows + logp).reshape(n, k * width), k)
        origin = ((ops.arange(n) * k).reshape(-1, 1) + top_idx // width).reshape(-1)
        if tokens is None:
            token = (top_idx % width).reshape(-1)
        else:
            token = tokens.reshape(n, k * width)[ops.arange(n).reshape(-1, 1), top_idx].reshape(-1)
        self.scores = top_scores
        if self.coverage is not None:  # the k rows of a sentence share its memory and mask: those stay
            self.penalty = ops.take(self.penalty, origin)
            self.scores = top_scores - self.penalty.reshape(n, k)
            self.coverage = ops.take(self.coverage, origin)
        self.state = self.net.take(out.state, origin)
        self.finished = ops.take(self.finished, origin)
        self.lengths = ops.take(self.lengths, origin) + ops.as_long(~self.finished)
        self.history = ops.cat([ops.take(self.history, origin), token.reshape(-1, 1)], 1)
        if out.maps is not None:
            att = ops.take(out.maps, origin)[:, None]
            self.attention = att if self.attention is None else ops.cat([ops.take(self.attention, origin), att], 1)
        self.finished = self.finished | (token == EOS) | (self.caps <= step + 1)
        self.prev = token

    def _cover(self, weights: Array | None) -> None:
        """Add a step's attention (rows, S) to the open rows' coverage and update their penalties."""
        if weights is None:
            raise ValueError("decode.coverage_penalty needs a model with attention")
        ops = self.ops
        self.coverage = self.coverage + ops.where(self.finished.reshape(-1, 1), 0.0, ops.as_float(weights))
        fresh = coverage_penalty(self.coverage, self.mask, self.beta, ops)
        self.penalty = ops.where(self.finished, self.penalty, fresh)

    def certain(self, nbest: int, alpha: float) -> Array:
        """(n,) bool: sentences whose n-best can no longer change - their nbest best finished hypotheses
        rank above the best any open one could still reach (an open score only falls; with a length
        penalty it is bounded by dividing by the penalty at the length cap; a coverage penalty is <= 0)."""
        ops, k, n = self.ops, self.k, len(self.alive)
        fin = self.finished.reshape(n, k)
        ranked = _ranked(self.scores, self.lengths.reshape(n, k), alpha, ops) + self.penalty.reshape(n, k)
        best_open = self.scores / length_penalty(self.caps.reshape(n, k), alpha, ops) if alpha > 0 else self.scores
        kth = ops.top(ops.where(fin, ranked, _NEG_INF), nbest)[0][:, -1]
        return fin.all(1) | (kth >= ops.row_max(ops.where(fin, _NEG_INF, best_open)))

    def retire(self, certain: Array) -> tuple:
        """Remove the certain sentences from the search; returns their ids and final arrays."""
        ops, k = self.ops, self.k
        rows = ops.repeat(certain, k)
        done = (self.alive[certain].tolist(), self.history[rows], self.scores[certain],
                self.lengths[rows].reshape(-1, k), self.penalty[rows].reshape(-1, k),
                None if self.attention is None else self.attention[rows])
        keep, keep_rows = ops.nonzero(~certain), ops.nonzero(~rows)
        self.alive, self.scores = ops.take(self.alive, keep), ops.take(self.scores, keep)
        self.state, self.memory = self.net.take(self.state, keep_rows), self.net.take(self.memory, keep_rows)
        self.prev, self.finished = ops.take(self.prev, keep_rows), ops.take(self.finished, keep_rows)
        self.lengths, self.history = ops.take(self.lengths, keep_rows), ops.take(self.history, keep_rows)
        self.caps, self.penalty = ops.take(self.caps, keep_rows), ops.take(self.penalty, keep_rows)
        if self.coverage is not None:
            self.coverage, self.mask = ops.take(self.coverage, keep_rows), ops.take(self.mask, keep_rows)
        if self.attention is not None:
            self.attention = ops.take(self.attention, keep_rows)
        return done


def beam_search(net: Stepper, src: Array, src_lengths: Array, options: DecodeConfig, rng: object = None,
                keep_attention: bool = False) -> list[list[Hypothesis]]:
    """decode.nbest hypotheses per sentence, best first, from a beam of decode.beam_size (token targets).

    Finished hypotheses stay in the beam with their score frozen (they extend only by <pad> at no
    cost), so beam size 1 is exactly greedy and each hypothesis' score is its tokens' log-probability;
    with decode.length_penalty they are ranked by score / length penalty, with decode.coverage_penalty
    the GNMT coverage penalty is added (also when rows compete for the beam). A sentence leaves the batch
    as soon as its result is certain, which gives the same result as running every beam to the end.
    `rng` is unused (the strategies share one signature).
    """
    ops, k, nbest, alpha = net.ops, options.beam_size, options.nbest, options.length_penalty
    caps, _ = net.head.max_steps(src_lengths, options)
    search = _Search(net, src, src_lengths, caps, k, keep_attention, options.coverage_penalty)
    done = []
    for step in range(int(caps.max())):
        search.advance(step, options.min_length)
        certain = search.certain(nbest, alpha)
        if bool(certain.any()):
            done.append(search.retire(certain))
            if len(search.alive) == 0:
                break
    results: list[list[Hypothesis]] = [[] for _ in range(len(src))]
    for sentences, history, scores, lengths, penalty, attention in done:
        order = ops.order(_ranked(scores, lengths, alpha, ops) + penalty)[:, :nbest].tolist()
        ids, flat = history.tolist(), scores.tolist()
        for g, b in enumerate(sentences):
            results[b] = [_hypothesis(net, ids[g * k + j], flat[g][j],
                                      None if attention is None else attention[g * k + j]) for j in order[g]]
    return results


def _hypothesis(net: Stepper, ids: list[int], score: float, maps: Array | None) -> Hypothesis:
    """A beam's row of tokens -> Hypothesis: ids up to </s>, attention up to and including its step."""
    end = ids.index(EOS) if EOS in ids else len([i for i in ids if i != PAD])
    return net.hypothesis(ids[:end], score, None if maps is None else maps[: min(end + 1, len(maps))])
