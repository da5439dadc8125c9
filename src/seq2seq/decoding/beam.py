"""Beam search over all sentences and beams of a batch at once, with n-best lists and a length penalty."""

from __future__ import annotations

import torch
from torch import Tensor

from ..config import DecodeConfig
from ..data.vocab import BOS, EOS, PAD
from ..models.coverage import average_heads, coverage_penalty
from ..search.hypothesis import Hypothesis
from .maps import step_maps, with_maps


def length_penalty(length: Tensor, alpha: float) -> Tensor:
    """GNMT length penalty ((5 + len) / 6) ** alpha (Wu et al. 2016)."""
    return ((5.0 + length.float()) / 6.0) ** alpha


def _ranked(scores: Tensor, lengths: Tensor, alpha: float) -> Tensor:
    """Scores as beam search ranks them: divided by the length penalty when alpha > 0."""
    return scores / length_penalty(lengths, alpha) if alpha > 0 else scores


class _Search:
    """The search's tensors for the sentences still searched (n of them, k beams each, rows n*k)."""

    def __init__(self, model: torch.nn.Module, src: Tensor, src_lengths: Tensor, caps: Tensor, k: int,
                 keep_attention: bool, beta: float = 0.0):
        batch, dev = src.size(0), src.device
        state, memory = model.init_state(model.encode(src, src_lengths))
        expand = torch.arange(batch, device=dev).repeat_interleave(k)
        self.state, self.memory = state.index_select(expand), memory.index_select(expand)
        self.caps = caps.to(dev).repeat_interleave(k)
        self.scores = torch.full((batch, k), float("-inf"), device=dev)
        self.scores[:, 0] = 0.0  # one live beam per sentence at the start, so no hypothesis is found k times
        self.prev = torch.full((batch * k,), BOS, dtype=torch.long, device=dev)
        self.finished = torch.zeros(batch * k, dtype=torch.bool, device=dev)
        self.lengths = torch.zeros(batch * k, dtype=torch.long, device=dev)
        self.history = torch.empty(batch * k, 0, dtype=torch.long, device=dev)
        self.attention: Tensor | None = None
        self.keep_attention = keep_attention
        self.alive = torch.arange(batch, device=dev)  # the sentence of each group of k rows
        # GNMT coverage penalty of each row (0 without one) and the summed attention it is computed from.
        self.beta = beta
        self.penalty = torch.zeros(batch * k, device=dev)
        self.coverage = torch.zeros(batch * k, self.memory.mask.size(1), device=dev) if beta > 0 else None

    def advance(self, model: torch.nn.Module, step: int, k: int, min_length: int) -> None:
        """One step: every beam extended by every token, the k best of each sentence kept."""
        n = self.alive.numel()
        out = model.step(self.prev, self.state, self.memory)
        logp = out.scores.float().log_softmax(-1)
        if step < min_length:
            logp[:, EOS] = float("-inf")
        # A finished hypothesis may only continue with <pad>, at no cost (in place: no (B*k, V) copy).
        pad_logp = torch.where(self.finished, 0.0, logp[:, PAD])
        logp.masked_fill_(self.finished.unsqueeze(1), float("-inf"))
        logp[:, PAD] = pad_logp
        vocab = logp.size(-1)
        if self.coverage is not None:
            self._cover(out.attention)
        # The penalty is the same for every token a row may add, so it only reorders rows against each other.
        top_scores, top_idx = (self.scores.view(-1, 1) + self.penalty.view(-1, 1) + logp).view(
            n, k * vocab).topk(k, dim=1)
        base = (torch.arange(n, device=logp.device) * k).unsqueeze(1)
        origin = (base + torch.div(top_idx, vocab, rounding_mode="floor")).view(-1)
        token = (top_idx % vocab).view(-1)
        self.penalty = self.penalty.index_select(0, origin)
        self.scores = top_scores - self.penalty.view(n, k)
        if self.coverage is not None:
            self.coverage = self.coverage.index_select(0, origin)
        self.state = out.state.index_select(origin)
        self.finished = self.finished.index_select(0, origin)
        self.lengths = self.lengths.index_select(0, origin) + (~self.finished).long()
        self.history = torch.cat([self.history.index_select(0, origin), token.unsqueeze(1)], 1)
        maps = step_maps(out) if self.keep_attention else None
        if maps is not None:
            att = maps.index_select(0, origin).unsqueeze(1)
            self.attention = att if self.attention is None else torch.cat(
                [self.attention.index_select(0, origin), att], 1)
        self.finished = self.finished | (token == EOS) | (step + 1 >= self.caps)
        self.prev = token

    def _cover(self, attention: Tensor | None) -> None:
        """Add a step's attention (rows, [N,] S) to the open rows' coverage and update their penalties."""
        if attention is None:
            raise ValueError("decode.coverage_penalty needs a model with attention")
        weights = average_heads(attention.float(), attention.dim() == 3)
        self.coverage = self.coverage + weights.masked_fill(self.finished.unsqueeze(1), 0.0)
        fresh = coverage_penalty(self.coverage, self.memory.mask, self.beta)
        self.penalty = torch.where(self.finished, self.penalty, fresh)

    def certain(self, k: int, nbest: int, alpha: float) -> Tensor:
        """(n,) bool: sentences whose n-best can no longer change - their nbest best finished hypotheses
        rank above the best any open one could still reach (an open score only falls; with a length
        penalty it is bounded by dividing by the penalty at the length cap; a coverage penalty is <= 0)."""
        n = self.alive.numel()
        fin = self.finished.view(n, k)
        ranked = _ranked(self.scores, self.lengths.view(n, k), alpha) + self.penalty.view(n, k)
        best_open = self.scores / length_penalty(self.caps.view(n, k), alpha) if alpha > 0 else self.scores
        kth = ranked.masked_fill(~fin, float("-inf")).topk(nbest, dim=1).values[:, -1]
        return fin.all(1) | (kth >= best_open.masked_fill(fin, float("-inf")).amax(1))

    def retire(self, certain: Tensor, k: int) -> tuple[list[int], Tensor, Tensor, Tensor, Tensor, Tensor | None]:
        """Remove the certain sentences from the search; returns their ids and final tensors."""
        rows = certain.repeat_interleave(k)
        done = (self.alive[certain].tolist(), self.history[rows], self.scores[certain], self.lengths[rows].view(-1, k),
                self.penalty[rows].view(-1, k), None if self.attention is None else self.attention[rows])
        keep, keep_rows = (~certain).nonzero().squeeze(1), (~rows).nonzero().squeeze(1)
        self.alive, self.scores = self.alive.index_select(0, keep), self.scores.index_select(0, keep)
        self.state, self.memory = self.state.index_select(keep_rows), self.memory.index_select(keep_rows)
        self.prev, self.finished = self.prev.index_select(0, keep_rows), self.finished.index_select(0, keep_rows)
        self.lengths, self.history = self.lengths.index_select(0, keep_rows), self.history.index_select(0, keep_rows)
        self.caps, self.penalty = self.caps.index_select(0, keep_rows), self.penalty.index_select(0, keep_rows)
        if self.coverage is not None:
            self.coverage = self.coverage.index_select(0, keep_rows)
        if self.attention is not None:
            self.attention = self.attention.index_select(0, keep_rows)
        return done


@torch.inference_mode()
def beam_search(model: torch.nn.Module, src: Tensor, src_lengths: Tensor, options: DecodeConfig,
                keep_attention: bool = False) -> list[list[Hypothesis]]:
    """decode.nbest hypotheses per sentence, best first, from a beam of decode.beam_size (token targets).

    Finished hypotheses stay in the beam with their score frozen (they extend only by <pad> at no
    cost), so beam size 1 is exactly greedy and each hypothesis' score is its tokens' log-probability;
    with decode.length_penalty they are ranked by score / length penalty, with decode.coverage_penalty
    the GNMT coverage penalty is added (also when rows compete for the beam). A sentence leaves the batch
    as soon as its result is certain, which gives the same result as running every beam to the end.
    """
    k, nbest, alpha = options.beam_size, options.nbest, options.length_penalty
    caps, _ = model.head.caps(src_lengths, options)
    search = _Search(model, src, src_lengths, caps, k, keep_attention, options.coverage_penalty)
    done = []
    for step in range(int(caps.max())):
        search.advance(model, step, k, options.min_length)
        certain = search.certain(k, nbest, alpha)
        if bool(certain.any()):
            done.append(search.retire(certain, k))
            if search.alive.numel() == 0:
                break
    results: list[list[Hypothesis]] = [[] for _ in range(src.size(0))]
    for sentences, history, scores, lengths, penalty, attention in done:
        order = (_ranked(scores, lengths, alpha) + penalty).argsort(dim=1, descending=True)[:, :nbest].tolist()
        ids, flat = history.tolist(), scores.tolist()
        for g, b in enumerate(sentences):
            results[b] = [_hypothesis(ids[g * k + j], flat[g][j], None if attention is None else attention[g * k + j])
                          for j in order[g]]
    return results


def _hypothesis(ids: list[int], score: float, attention: Tensor | None) -> Hypothesis:
    """A beam's row of tokens -> Hypothesis: ids up to </s>, attention up to and including its step."""
    end = ids.index(EOS) if EOS in ids else len([i for i in ids if i != PAD])
    return with_maps(ids[:end], score, None if attention is None else attention[: min(end + 1, attention.size(0))])
