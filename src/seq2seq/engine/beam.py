"""Beam search in numpy over the exported graphs: the twin of `decoding.beam` (all sentences and beams of a
batch at once, finished hypotheses frozen in the beam, n-best lists, GNMT length penalty, sentences leaving the
batch once their n-best are certain), for the ONNX engine."""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..data.vocab import EOS, PAD
from ..search.hypothesis import Hypothesis
from .graphs import Graphs
from .heads import TokenRules


def length_penalty(length: np.ndarray, alpha: float) -> np.ndarray:
    """GNMT length penalty ((5 + len) / 6) ** alpha (Wu et al. 2016)."""
    return ((np.float32(5.0) + length.astype(np.float32)) / np.float32(6.0)) ** np.float32(alpha)


def _ranked(scores: np.ndarray, lengths: np.ndarray, alpha: float) -> np.ndarray:
    return scores / length_penalty(lengths, alpha) if alpha > 0 else scores


class _Search:
    """The search's arrays for the sentences still searched (n of them, k beams each, rows n*k)."""

    def __init__(self, graphs: Graphs, src: np.ndarray, src_lengths: np.ndarray, caps: np.ndarray, k: int,
                 keep_attention: bool, vocab_size: int):
        batch = len(src)
        self.graphs = graphs
        self.candidates = min(k + 1, vocab_size)
        start, state, memory = graphs.encode(src, src_lengths)
        expand = np.repeat(np.arange(batch), k)
        self.state, self.memory = graphs.take(state, expand), graphs.take(memory, expand)
        self.caps = np.repeat(caps, k)
        self.scores = np.full((batch, k), -np.inf, dtype=np.float32)
        self.scores[:, 0] = 0.0  # one live beam per sentence at the start, so no hypothesis is found k times
        self.prev = start[expand]
        self.finished = np.zeros(batch * k, dtype=bool)
        self.lengths = np.zeros(batch * k, dtype=np.int64)
        self.history = np.empty((batch * k, 0), dtype=np.int64)
        self.attention: np.ndarray | None = None
        self.keep_attention = keep_attention
        self.alive = np.arange(batch)  # the sentence of each group of k rows

    def advance(self, step: int, k: int, min_length: int) -> None:
        """One step: every beam extended by every token, the k best of each sentence kept."""
        n = len(self.alive)
        # The k best of a sentence's k * V extensions are among its beams' k + 1 best each (k + 1: one may be
        # a barred </s>), which the step graph selects: only (rows, k + 1) arrays leave it.
        (logp, tokens), state, attention = self.graphs.step(self.prev, self.state, self.memory, self.candidates)
        if step < min_length:
            logp[tokens == EOS] = -np.inf
        # A finished hypothesis may only continue with <pad>, at no cost.
        logp[self.finished] = -np.inf
        logp[self.finished, 0] = 0.0
        tokens[self.finished, 0] = PAD
        width = logp.shape[-1]
        total = (self.scores.reshape(-1, 1) + logp).reshape(n, k * width)
        top_idx = np.argsort(-total, axis=1, kind="stable")[:, :k]
        origin = ((np.arange(n) * k)[:, None] + top_idx // width).reshape(-1)
        token = np.take_along_axis(tokens.reshape(n, k * width), top_idx, 1).reshape(-1)
        self.scores = np.take_along_axis(total, top_idx, 1)
        self.state = self.graphs.take(state, origin)
        self.finished = self.finished[origin]
        self.lengths = self.lengths[origin] + ~self.finished
        self.history = np.concatenate([self.history[origin], token[:, None]], 1)
        if self.keep_attention and attention is not None:
            att = attention.astype(np.float32)[origin][:, None]
            self.attention = att if self.attention is None else np.concatenate([self.attention[origin], att], 1)
        self.finished = self.finished | (token == EOS) | (step + 1 >= self.caps)
        self.prev = token

    def certain(self, k: int, nbest: int, alpha: float) -> np.ndarray:
        """(n,) bool: sentences whose n-best can no longer change (see `decoding.beam._Search.certain`)."""
        n = len(self.alive)
        fin = self.finished.reshape(n, k)
        ranked = _ranked(self.scores, self.lengths.reshape(n, k), alpha)
        best_open = self.scores / length_penalty(self.caps.reshape(n, k), alpha) if alpha > 0 else self.scores
        kth = -np.sort(-np.where(fin, ranked, -np.inf), axis=1)[:, nbest - 1]
        return fin.all(1) | (kth >= np.where(fin, -np.inf, best_open).max(1))

    def retire(self, certain: np.ndarray, k: int) -> tuple:
        """Remove the certain sentences from the search; returns their ids and final arrays."""
        rows = np.repeat(certain, k)
        done = (self.alive[certain].tolist(), self.history[rows], self.scores[certain],
                self.lengths[rows].reshape(-1, k), None if self.attention is None else self.attention[rows])
        keep, keep_rows = np.flatnonzero(~certain), np.flatnonzero(~rows)
        self.alive, self.scores = self.alive[keep], self.scores[keep]
        self.state, self.memory = self.graphs.take(self.state, keep_rows), self.graphs.take(self.memory, keep_rows)
        self.prev, self.finished = self.prev[keep_rows], self.finished[keep_rows]
        self.lengths, self.history = self.lengths[keep_rows], self.history[keep_rows]
        self.caps = self.caps[keep_rows]
        if self.attention is not None:
            self.attention = self.attention[keep_rows]
        return done


def beam_search(graphs: Graphs, rules: TokenRules, src: np.ndarray, src_lengths: np.ndarray, options: DecodeConfig,
                keep_attention: bool = False) -> list[list[Hypothesis]]:
    """decode.nbest hypotheses per sentence, best first, from a beam of decode.beam_size (see
    `decoding.beam.beam_search`)."""
    k, nbest, alpha = options.beam_size, options.nbest, options.length_penalty
    caps, _ = rules.caps(src_lengths, options)
    search = _Search(graphs, src, src_lengths, caps, k, keep_attention, rules.vocab_size)
    done = []
    for step in range(int(caps.max())):
        search.advance(step, k, options.min_length)
        certain = search.certain(k, nbest, alpha)
        if certain.any():
            done.append(search.retire(certain, k))
            if len(search.alive) == 0:
                break
    results: list[list[Hypothesis]] = [[] for _ in range(len(src))]
    for sentences, history, scores, lengths, attention in done:
        order = np.argsort(-_ranked(scores, lengths, alpha), axis=1, kind="stable")[:, :nbest].tolist()
        ids, flat = history.tolist(), scores.tolist()
        for g, b in enumerate(sentences):
            results[b] = [_hypothesis(ids[g * k + j], flat[g][j], None if attention is None else attention[g * k + j])
                          for j in order[g]]
    return results


def _hypothesis(ids: list[int], score: float, attention: np.ndarray | None) -> Hypothesis:
    """A beam's row of tokens -> Hypothesis: ids up to </s>, attention up to and including its step."""
    end = ids.index(EOS) if EOS in ids else len([i for i in ids if i != PAD])
    return Hypothesis(ids[:end], score, None if attention is None else attention[: min(end + 1, len(attention))].copy())
