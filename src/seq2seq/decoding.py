"""Generation: greedy, sampling (temperature, top-k, top-p) and batched beam search."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data.batching import sort_for_inference
from .data.vocab import BOS, EOS, PAD


@dataclass
class Hypothesis:
    """One generated sequence: ids without </s>, summed log-probability, attention (len+1, S) or None."""

    ids: list[int]
    score: float
    attention: torch.Tensor | None = None


def max_lengths(src_lengths: torch.Tensor, absolute: int = 0, a: float = 2.0, b: int = 10) -> torch.Tensor:
    """Per-sentence output cap: `absolute` if set, else a * source length + b.  (B,) -> (B,)"""
    if absolute > 0:
        return torch.full_like(src_lengths, absolute)
    return (src_lengths.float() * a + b).long().clamp(min=1)


def _filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask all but the top-k tokens and the smallest set holding top_p of the mass.  (N, V)"""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        # Keep a token while the mass before it is below top_p, so the first token always survives.
        drop = (cum - sorted_logits.softmax(-1)) >= top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.inference_mode()
def generate(model: torch.nn.Module, src: torch.Tensor, src_lengths: torch.Tensor, max_len: torch.Tensor,
             *, sample: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             min_length: int = 0, generator: torch.Generator | None = None,
             keep_attention: bool = False) -> list[Hypothesis]:
    """Greedy (argmax) or sampled generation for a batch.  src: (B, S), src_lengths/max_len: (B,)"""
    enc = model.encode(src, src_lengths)
    state, memory = model.init_state(enc)
    batch = src.size(0)
    prev = torch.full((batch,), BOS, dtype=torch.long, device=src.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
    scores = torch.zeros(batch, device=src.device)
    # Greedy drops finished rows from the batch (state and memory compacted): a batch no longer runs
    # at full width until its longest output ends. Sampling keeps every row, so that the generator's
    # draws (and so the outputs for a seed) do not depend on when other rows finish.
    alive = torch.arange(batch, device=src.device)  # batch rows still decoded, in state/memory order
    steps, attns = [], []
    for t in range(int(max_len.max())):
        out = model.step(prev, state, memory)
        state = out.state
        logp = out.logits.float().log_softmax(-1)
        if t < min_length:
            logp[:, EOS] = float("-inf")
        if sample:
            logits = _filter_logits(out.logits.float() / temperature, top_k, top_p)
            if t < min_length:
                logits[:, EOS] = float("-inf")
            tok = torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(1)
        else:
            tok = logp.argmax(-1)
        done = finished.index_select(0, alive)
        tok = tok.masked_fill(done, PAD)
        step_scores = logp.gather(1, tok.unsqueeze(1)).squeeze(1).masked_fill(done, 0.0)
        full = tok if sample else torch.full((batch,), PAD, dtype=torch.long, device=src.device).index_copy(0, alive, tok)
        scores.index_add_(0, alive, step_scores)
        steps.append(full)
        if keep_attention and out.attention is not None:
            att = out.attention.float()
            attns.append(att if sample else att.new_zeros(batch, att.size(1)).index_copy(0, alive, att))
        finished = finished | (full == EOS) | (t + 1 >= max_len)
        if bool(finished.all()):
            break
        prev = tok
        if not sample:
            keep = (~finished.index_select(0, alive)).nonzero().squeeze(1)
            if keep.numel() < alive.numel():
                alive, prev = alive.index_select(0, keep), prev.index_select(0, keep)
                state, memory = state.index_select(keep), memory.index_select(keep)
    ids = torch.stack(steps, 1).tolist()
    att = torch.stack(attns, 1) if attns else None
    return [_hypothesis(ids[i], float(scores[i]), None if att is None else att[i]) for i in range(batch)]


def _hypothesis(ids: list[int], score: float, attention: torch.Tensor | None) -> Hypothesis:
    end = ids.index(EOS) if EOS in ids else len([i for i in ids if i != PAD])
    att = None if attention is None else attention[: min(end + 1, attention.size(0))].clone()
    return Hypothesis(ids[:end], score, att)


def length_penalty(length: torch.Tensor, alpha: float) -> torch.Tensor:
    """GNMT length penalty ((5 + len) / 6) ** alpha."""
    return ((5.0 + length.float()) / 6.0) ** alpha


@torch.inference_mode()
def beam_search(model: torch.nn.Module, src: torch.Tensor, src_lengths: torch.Tensor, max_len: torch.Tensor,
                *, beam_size: int = 5, nbest: int = 1, alpha: float = 0.0, min_length: int = 0,
                keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Beam search over all sentences and beams at once.  src: (B, S) -> B lists of nbest hypotheses.

    Finished hypotheses stay in the beam with their score frozen (they extend only by <pad> at no
    cost), so beam size 1 is exactly greedy and each hypothesis' score is its tokens' log-probability.
    A sentence leaves the batch as soon as its result is certain: its nbest best finished hypotheses
    rank above the best any open one could still reach (an open score only falls; with a length
    penalty it is bounded by dividing by the penalty at the length cap). The result is the same as
    running every beam to the end.
    """
    if nbest > beam_size:
        raise ValueError(f"nbest ({nbest}) cannot exceed the beam size ({beam_size})")
    batch, k, dev = src.size(0), beam_size, src.device
    enc = model.encode(src, src_lengths)
    state, memory = model.init_state(enc)
    expand = torch.arange(batch, device=dev).repeat_interleave(k)
    state, memory = state.index_select(expand), memory.index_select(expand)
    max_len = max_len.to(dev).repeat_interleave(k)
    scores = torch.full((batch, k), float("-inf"), device=dev)
    scores[:, 0] = 0.0
    prev = torch.full((batch * k,), BOS, dtype=torch.long, device=dev)
    finished = torch.zeros(batch * k, dtype=torch.bool, device=dev)
    lengths = torch.zeros(batch * k, dtype=torch.long, device=dev)
    history = torch.empty(batch * k, 0, dtype=torch.long, device=dev)
    att_hist: torch.Tensor | None = None
    alive = torch.arange(batch, device=dev)  # sentence of each row group still searched
    done: list[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []
    for t in range(int(max_len.max())):
        n = alive.numel()
        out = model.step(prev, state, memory)
        logp = out.logits.float().log_softmax(-1)
        if t < min_length:
            logp[:, EOS] = float("-inf")
        # A finished hypothesis may only continue with <pad>, at no cost (in place: no (B*k, V) copy).
        pad_logp = torch.where(finished, 0.0, logp[:, PAD])
        logp.masked_fill_(finished.unsqueeze(1), float("-inf"))
        logp[:, PAD] = pad_logp
        vocab = logp.size(-1)
        cand = (scores.view(-1, 1) + logp).view(n, k * vocab)
        top_scores, top_idx = cand.topk(k, dim=1)
        base = (torch.arange(n, device=dev) * k).unsqueeze(1)
        origin = (base + torch.div(top_idx, vocab, rounding_mode="floor")).view(-1)
        tok = (top_idx % vocab).view(-1)
        scores = top_scores
        state = out.state.index_select(origin)
        finished = finished.index_select(0, origin)
        lengths = lengths.index_select(0, origin) + (~finished).long()
        history = torch.cat([history.index_select(0, origin), tok.unsqueeze(1)], 1)
        if keep_attention and out.attention is not None:
            step_att = out.attention.float().index_select(0, origin).unsqueeze(1)
            att_hist = step_att if att_hist is None else torch.cat([att_hist.index_select(0, origin), step_att], 1)
        finished = finished | (tok == EOS) | (t + 1 >= max_len)
        prev = tok
        fin = finished.view(n, k)
        ranked = _ranked(scores, lengths.view(n, k), alpha)
        best_open = scores / length_penalty(max_len.view(n, k), alpha) if alpha > 0 else scores
        kth = ranked.masked_fill(~fin, float("-inf")).topk(nbest, dim=1).values[:, -1]
        certain = fin.all(1) | (kth >= best_open.masked_fill(fin, float("-inf")).amax(1))
        if not bool(certain.any()):
            continue
        rows = certain.repeat_interleave(k)
        done.append((alive[certain].tolist(), history[rows], scores[certain], lengths[rows].view(-1, k),
                     None if att_hist is None else att_hist[rows]))
        if bool(certain.all()):
            break
        keep = (~certain).nonzero().squeeze(1)
        keep_rows = (~rows).nonzero().squeeze(1)
        alive, scores = alive.index_select(0, keep), scores.index_select(0, keep)
        state, memory = state.index_select(keep_rows), memory.index_select(keep_rows)
        prev, finished = prev.index_select(0, keep_rows), finished.index_select(0, keep_rows)
        lengths, history = lengths.index_select(0, keep_rows), history.index_select(0, keep_rows)
        max_len = max_len.index_select(0, keep_rows)
        att_hist = None if att_hist is None else att_hist.index_select(0, keep_rows)
    results: list[list[Hypothesis]] = [[] for _ in range(batch)]
    for sentences, hist, sc, lens, att in done:
        order = _ranked(sc, lens, alpha).argsort(dim=1, descending=True)[:, :nbest].tolist()
        ids, flat = hist.tolist(), sc.tolist()
        for g, b in enumerate(sentences):
            results[b] = [_hypothesis(ids[g * k + j], flat[g][j], None if att is None else att[g * k + j])
                          for j in order[g]]
    return results


def _ranked(scores: torch.Tensor, lengths: torch.Tensor, alpha: float) -> torch.Tensor:
    """Scores as beam search ranks them: divided by the length penalty when alpha > 0."""
    return scores / length_penalty(lengths, alpha) if alpha > 0 else scores


def pad_sources(sources: Sequence[Any], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists -> (B, S) padded with PAD, or (L, D) feature arrays -> (B, S, D) padded with zeros; and
    lengths (B,) (an empty id list counts 1: one PAD)."""
    lengths = torch.tensor([max(len(s), 1) for s in sources], device=device)
    if isinstance(sources[0], np.ndarray) and sources[0].ndim == 2:
        src = torch.zeros(len(sources), int(lengths.max()), sources[0].shape[1], device=device)
        for row, s in enumerate(sources):
            src[row, : len(s)] = torch.from_numpy(np.asarray(s, dtype=np.float32))
        return src, lengths
    src = torch.full((len(sources), int(lengths.max())), PAD, dtype=torch.long, device=device)
    for row, s in enumerate(sources):
        src[row, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return src, lengths


def decode_ids(model: torch.nn.Module, sources: Sequence[Any], *, strategy: str = "greedy",
               beam_size: int = 5, nbest: int = 1, alpha: float = 0.0, min_length: int = 0,
               max_length: int = 0, max_length_a: float = 2.0, max_length_b: int = 10,
               temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int | None = None,
               batch_size: int = 64, keep_attention: bool = False) -> list[list[Hypothesis]]:
    """Generate for many sources (id lists, or (L, D) feature arrays), batched by length; results in
    input order, nbest each."""
    device = next(model.parameters()).device
    generator = None
    if strategy == "sample":
        generator = torch.Generator(device=device)
        generator.manual_seed(0 if seed is None else seed)
    results: list[list[Hypothesis]] = [[] for _ in sources]
    was_training = model.training
    model.eval()
    try:
        for idx in sort_for_inference([len(s) for s in sources], batch_size):
            src, lengths = pad_sources([sources[i] for i in idx], device)
            caps = max_lengths(lengths, max_length, max_length_a, max_length_b)
            if strategy == "beam":
                out = beam_search(model, src, lengths, caps, beam_size=beam_size, nbest=nbest, alpha=alpha,
                                  min_length=min_length, keep_attention=keep_attention)
            else:
                out = [[h] for h in generate(model, src, lengths, caps, sample=strategy == "sample",
                                             temperature=temperature, top_k=top_k, top_p=top_p,
                                             min_length=min_length, generator=generator,
                                             keep_attention=keep_attention)]
            for row, i in enumerate(idx):
                for h in out[row]:
                    if h.attention is not None:
                        h.attention = h.attention[:, : len(sources[i])]
                results[i] = out[row]
    finally:
        model.train(was_training)
    return results
