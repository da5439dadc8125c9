import pytest
import torch

from seq2seq.config import build_config
from seq2seq.data.vocab import BOS, EOS, PAD
from seq2seq.decoding import beam_search, decode_ids, generate, length_penalty, max_lengths
from seq2seq.models import build_model

VOCAB = 12


def _model(preset: str = "attention", seed: int = 0, **extra):
    overrides = {"model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16, **extra}
    torch.manual_seed(seed)
    model = build_model(build_config(preset, overrides=overrides).model, VOCAB, VOCAB)
    # Random small models rarely say </s>; a bias makes hypotheses of mixed lengths.
    with torch.no_grad():
        out = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
        out.bias[EOS] += 1.5
    return model.eval()


def _batch(seed: int = 0, n: int = 6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=g)
    src = torch.randint(4, VOCAB, (n, int(lengths.max())), generator=g)
    src[torch.arange(src.size(1)) >= lengths.unsqueeze(1)] = PAD
    return src, lengths


def _teacher_forced_score(model, src, length, ids):
    tgt = torch.tensor([[BOS] + ids])
    out = model(src.unsqueeze(0)[:, :length], length.view(1), tgt)
    logp = out.logits.log_softmax(-1)[0]
    gold = torch.tensor(ids + [EOS])[: logp.size(0)]
    return float(logp.gather(1, gold.unsqueeze(1)).sum())


PRESETS = ["baseline", "reverse-peeky", "attention", "luong", "bahdanau"]


@pytest.mark.parametrize("preset", PRESETS)
def test_beam_one_is_greedy(preset):
    model = _model(preset)
    src, lengths = _batch()
    cap = max_lengths(lengths, 12)
    greedy = generate(model, src, lengths, cap)
    beam = beam_search(model, src, lengths, cap, beam_size=1)
    for g, b in zip(greedy, beam):
        assert g.ids == b[0].ids
        assert g.score == pytest.approx(b[0].score, abs=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_beam_scores_are_teacher_forced_log_probs_and_beat_greedy(preset):
    model = _model(preset, seed=1)
    src, lengths = _batch(1)
    cap = max_lengths(lengths, 12)
    greedy = generate(model, src, lengths, cap)
    beams = beam_search(model, src, lengths, cap, beam_size=5, nbest=5)
    with torch.no_grad():
        for i, hyps in enumerate(beams):
            assert hyps[0].score >= greedy[i].score - 1e-5
            assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
            for h in hyps:
                if len(h.ids) < 12:  # finished with </s>, so its score includes </s>
                    assert h.score == pytest.approx(_teacher_forced_score(model, src[i], lengths[i], h.ids),
                                                    abs=1e-4)


@pytest.mark.parametrize("preset", ["attention", "luong"])
def test_batched_beam_equals_one_sentence_at_a_time(preset):
    model = _model(preset, seed=2)
    src, lengths = _batch(2)
    cap = max_lengths(lengths, 10)
    together = beam_search(model, src, lengths, cap, beam_size=4, nbest=3)
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], cap[i:i + 1], beam_size=4, nbest=3)[0]
        assert [h.ids for h in alone] == [h.ids for h in together[i]]
        for a, b in zip(alone, together[i]):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_sampling_is_seeded_and_top_k_one_is_greedy():
    model = _model(seed=3)
    sources = [[5, 6, 7], [8, 9], [4, 5, 6, 7, 8]]
    a = decode_ids(model, sources, strategy="sample", seed=7, max_length=10)
    b = decode_ids(model, sources, strategy="sample", seed=7, max_length=10)
    assert [h[0].ids for h in a] == [h[0].ids for h in b]
    many = {tuple(decode_ids(model, sources, strategy="sample", seed=s, max_length=10)[2][0].ids) for s in range(8)}
    assert len(many) > 1
    top1 = decode_ids(model, sources, strategy="sample", seed=11, top_k=1, max_length=10)
    greedy = decode_ids(model, sources, strategy="greedy", max_length=10)
    assert [h[0].ids for h in top1] == [h[0].ids for h in greedy]
    nucleus = decode_ids(model, sources, strategy="sample", seed=11, top_p=1e-6, max_length=10)
    assert [h[0].ids for h in nucleus] == [h[0].ids for h in greedy]


def test_lengths_caps_min_length_and_attention():
    model = _model(seed=4)
    sources = [[5, 6, 7], [8, 9, 10, 11, 5, 6]]
    for strategy in ("greedy", "beam"):
        out = decode_ids(model, sources, strategy=strategy, beam_size=3, max_length=4, keep_attention=True)
        for hyps, src in zip(out, sources):
            h = hyps[0]
            assert len(h.ids) <= 4
            assert EOS not in h.ids and PAD not in h.ids
            assert h.attention.shape[1] == len(src)
            assert torch.allclose(h.attention.sum(-1), torch.ones(h.attention.size(0)), atol=1e-5)
        long = decode_ids(model, sources, strategy=strategy, beam_size=3, min_length=5, max_length=8)
        assert all(len(h[0].ids) >= 5 for h in long)
    assert max_lengths(torch.tensor([3, 10]), 0, 1.5, 2).tolist() == [6, 17]
    assert length_penalty(torch.tensor([1]), 0.0).item() == 1.0
    with pytest.raises(ValueError, match=r"nbest \(3\) cannot exceed the beam size \(2\)"):
        beam_search(model, *_batch(), torch.tensor([5] * 6), beam_size=2, nbest=3)


def test_generation_does_not_build_graphs():
    model = _model(seed=5).train()
    hyps = decode_ids(model, [[5, 6]], strategy="beam", beam_size=2, keep_attention=True)
    assert hyps[0][0].attention is not None and not hyps[0][0].attention.requires_grad
    assert model.training


class _CountSteps:
    """Wraps a model and counts decoder steps (rows x calls)."""

    def __init__(self, model):
        self.model, self.rows = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def step(self, prev, state, memory):
        self.rows += prev.numel()
        return self.model.step(prev, state, memory)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_stops_sentences_once_certain_with_unchanged_results(alpha):
    model = _model("attention", seed=3)
    src, lengths = _batch(seed=3, n=8)
    cap = torch.full((8,), 15)
    # nbest = beam size keeps every sentence until all its beams end: the search to the end.
    full, early = _CountSteps(model), _CountSteps(model)
    to_end = beam_search(full, src, lengths, cap, beam_size=4, nbest=4, alpha=alpha)
    best = beam_search(early, src, lengths, cap, beam_size=4, nbest=1, alpha=alpha)
    for a, b in zip(to_end, best):
        assert a[0].ids == b[0].ids and a[0].score == pytest.approx(b[0].score)
    if alpha == 0.0:  # with a length penalty the bound is loose: few sentences end early
        assert early.rows < full.rows
