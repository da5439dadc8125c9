"""Beam search: beam 1 is greedy, scores are teacher-forced log-probabilities, n-best lists sorted, batched
equals one sentence at a time, and stopping a sentence once certain changes nothing."""

import pytest
import torch

from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import EOS, PAD
from seq2seq.decoding import beam_search, greedy
from seq2seq.search.beam import length_penalty as penalty_of
from seq2seq.search.torch_ops import TorchOps

PRESETS = ["baseline", "reverse-peeky", "attention", "luong", "bahdanau", "transformer-tiny",
           "transformer-encoder+luong-decoder", "birnn-encoder+transformer-decoder"]

def length_penalty(length, alpha):
    return penalty_of(length, alpha, TorchOps(length.device))


def _beam(k, nbest=1, **over):
    return DecodeConfig(strategy="beam", beam_size=k, nbest=nbest, **over)


@pytest.mark.parametrize("preset", PRESETS)
def test_beam_one_is_greedy(preset, make_model, make_batch):
    model = make_model(preset)
    src, lengths = make_batch()
    greedy_ = greedy(model, src, lengths, DecodeConfig(max_length=12))
    beam = beam_search(model, src, lengths, _beam(1, max_length=12))
    for g, b in zip(greedy_, beam):
        assert len(b) == 1
        assert g.output == b[0].output
        assert g.score == pytest.approx(b[0].score, abs=1e-5)


@pytest.mark.parametrize("preset", PRESETS)
def test_beam_scores_are_teacher_forced_log_probs_and_beat_greedy(preset, make_model, make_batch,
                                                                  teacher_forced_score):
    model = make_model(preset, seed=1)
    src, lengths = make_batch(1)
    greedy_ = greedy(model, src, lengths, DecodeConfig(max_length=12))
    beams = beam_search(model, src, lengths, _beam(5, 5, max_length=12))
    for i, hyps in enumerate(beams):
        assert len(hyps) == 5
        assert hyps[0].score >= greedy_[i].score - 1e-5
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        assert len({tuple(h.output) for h in hyps}) == 5  # n different hypotheses
        for h in hyps:
            assert EOS not in h.output
            if len(h.output) < 12:  # finished with </s>, so its score includes </s>
                assert h.score == pytest.approx(teacher_forced_score(model, src[i], lengths[i], h.output),
                                                abs=1e-4)


@pytest.mark.parametrize("preset", ["attention", "luong", "transformer-tiny", "transformer-encoder+luong-decoder",
                                    "birnn-encoder+transformer-decoder"])
def test_batched_beam_equals_one_sentence_at_a_time(preset, make_model, make_batch):
    model = make_model(preset, seed=2)
    src, lengths = make_batch(2)
    options = _beam(4, 3, max_length=10)
    together = beam_search(model, src, lengths, options)
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], options)[0]
        assert [h.output for h in alone] == [h.output for h in together[i]]
        for a, b in zip(alone, together[i]):
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_caps_min_length_and_attention(make_model):
    model = make_model(seed=4)
    src, lengths = torch.tensor([[5, 6, 7, PAD, PAD, PAD], [8, 9, 10, 11, 5, 6]]), torch.tensor([3, 6])
    for h, n in zip(beam_search(model, src, lengths, _beam(3, max_length=4), keep_attention=True), (3, 6)):
        h = h[0]
        assert len(h.output) <= 4
        assert h.attention.size(0) == min(len(h.output) + 1, 4) and h.attention.size(1) == 6
        torch.testing.assert_close(h.attention.sum(-1), torch.ones(h.attention.size(0)), atol=1e-5, rtol=0)
        assert torch.all(h.attention[:, n:] == 0)
    long = beam_search(model, src, lengths, _beam(3, 3, min_length=5, max_length=8))
    assert all(len(h.output) >= 5 for hyps in long for h in hyps)


def test_length_penalty():
    assert length_penalty(torch.tensor([1]), 0.0).item() == 1.0
    assert length_penalty(torch.tensor([1, 7]), 1.0).tolist() == [1.0, 2.0]
    assert length_penalty(torch.tensor([7]), 0.5).item() == pytest.approx(2 ** 0.5)


def test_length_penalty_favours_longer_hypotheses(make_model, make_batch):
    model = make_model(seed=6)
    src, lengths = make_batch(6, n=8)
    plain = beam_search(model, src, lengths, _beam(5, max_length=12))
    penalised = beam_search(model, src, lengths, _beam(5, length_penalty=2.0, max_length=12))
    assert sum(len(h[0].output) for h in penalised) >= sum(len(h[0].output) for h in plain)
    for hyps in beam_search(model, src, lengths, _beam(5, 5, length_penalty=2.0, max_length=12)):
        ranked = [h.score / float(length_penalty(torch.tensor(min(len(h.output) + 1, 12)), 2.0)) for h in hyps]
        assert ranked == sorted(ranked, reverse=True)


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
def test_beam_stops_sentences_once_certain_with_unchanged_results(alpha, make_model, make_batch):
    model = make_model("attention", seed=3)
    src, lengths = make_batch(seed=3, n=8)
    # nbest = beam size keeps every sentence until all its beams end: the search to the end.
    full, early = _CountSteps(model), _CountSteps(model)
    to_end = beam_search(full, src, lengths, _beam(4, 4, length_penalty=alpha, max_length=15))
    best = beam_search(early, src, lengths, _beam(4, 1, length_penalty=alpha, max_length=15))
    for a, b in zip(to_end, best):
        assert a[0].output == b[0].output and a[0].score == pytest.approx(b[0].score)
    if alpha == 0.0:  # with a length penalty the bound is loose: few sentences end early
        assert early.rows < full.rows


def test_no_graphs_are_built(make_model, make_batch):
    model = make_model().train()
    src, lengths = make_batch()
    h = beam_search(model, src, lengths, _beam(2, max_length=5), keep_attention=True)[0][0]
    assert h.attention is not None and not h.attention.requires_grad


# The attention family: location (with coverage), heads; each with the coverage penalty.
FAMILY = [("bahdanau", {"model.attention": "location", "model.location_kernel": 5}),
          ("bahdanau", {"model.attention": "location", "model.coverage": True, "model.input_feeding": True}),
          ("luong", {"model.attention_heads": 4}),
          ("attention", {"model.attention": "scaled_dot", "model.attention_heads": 2})]
FAMILY_IDS = ["location", "location-coverage-feeding", "general-4-heads", "scaled-dot-2-heads"]


@pytest.mark.parametrize("preset, extra", FAMILY, ids=FAMILY_IDS)
def test_family_beam_one_is_greedy_also_with_a_coverage_penalty(preset, extra, make_model, make_batch):
    model = make_model(preset, **extra)
    src, lengths = make_batch()
    greedy_ = greedy(model, src, lengths, DecodeConfig(max_length=12))
    for beta in (0.0, 1.0):
        beam = beam_search(model, src, lengths, _beam(1, max_length=12, coverage_penalty=beta))
        for g, b in zip(greedy_, beam):
            assert g.output == b[0].output and g.score == pytest.approx(b[0].score, abs=1e-5)


@pytest.mark.parametrize("preset, extra", FAMILY, ids=FAMILY_IDS)
def test_family_batched_beam_equals_one_sentence_at_a_time(preset, extra, make_model, make_batch):
    model = make_model(preset, seed=2, **extra)
    src, lengths = make_batch(2)
    options = _beam(4, 3, max_length=10, coverage_penalty=0.5)
    together = beam_search(model, src, lengths, options, keep_attention=True)
    for i in range(src.size(0)):
        n = int(lengths[i])
        alone = beam_search(model, src[i:i + 1, :n], lengths[i:i + 1], options, keep_attention=True)[0]
        assert [h.output for h in alone] == [h.output for h in together[i]]
        for a, b in zip(alone, together[i]):
            assert a.score == pytest.approx(b.score, abs=1e-5)
            torch.testing.assert_close(a.attention, b.attention[..., :n], atol=1e-5, rtol=1e-5)


def _coverage_penalty(attention, n, beta):
    """GNMT's cp of a hypothesis from the attention it kept (steps, [heads,] S), over its n real positions."""
    weights = attention if attention.dim() == 2 else attention.mean(1)
    return beta * float(weights[:, :n].sum(0).clamp(1e-6, 1.0).log().sum())


@pytest.mark.parametrize("heads", [1, 2])
def test_coverage_penalty_ranks_hypotheses_by_score_plus_penalty(heads, make_model, make_batch):
    model = make_model("luong", seed=5, **{"model.attention_heads": heads})
    src, lengths = make_batch(5, n=6)
    for hyps, n in zip(beam_search(model, src, lengths, _beam(5, 5, max_length=10, coverage_penalty=2.0),
                                   keep_attention=True), lengths.tolist()):
        ranked = [h.score + _coverage_penalty(h.attention, n, 2.0) for h in hyps]
        assert ranked == pytest.approx(sorted(ranked, reverse=True), abs=1e-4)


def test_coverage_penalty_favours_hypotheses_that_read_the_source(make_model, make_batch):
    model = make_model("bahdanau", seed=7)
    src, lengths = make_batch(7, n=8)
    options = dict(max_length=12)
    plain = beam_search(model, src, lengths, _beam(5, **options), keep_attention=True)
    covered = beam_search(model, src, lengths, _beam(5, coverage_penalty=5.0, **options), keep_attention=True)
    cp = [[_coverage_penalty(h[0].attention, n, 1.0) for h, n in zip(run, lengths.tolist())]
          for run in (plain, covered)]
    assert sum(cp[1]) > sum(cp[0])


@pytest.mark.parametrize("alpha, beta", [(0.0, 1.0), (0.8, 0.4)])
def test_beam_stops_sentences_once_certain_with_a_coverage_penalty(alpha, beta, make_model, make_batch):
    model = make_model("bahdanau", seed=3, **{"model.attention": "location"})
    src, lengths = make_batch(seed=3, n=8)
    to_end = beam_search(model, src, lengths, _beam(4, 4, length_penalty=alpha, coverage_penalty=beta, max_length=15))
    best = beam_search(model, src, lengths, _beam(4, 1, length_penalty=alpha, coverage_penalty=beta, max_length=15))
    for a, b in zip(to_end, best):
        assert a[0].output == b[0].output and a[0].score == pytest.approx(b[0].score)


def test_coverage_penalty_needs_attention(make_model, make_batch):
    model = make_model("baseline")
    src, lengths = make_batch()
    with pytest.raises(ValueError, match="decode.coverage_penalty needs a model with attention"):
        beam_search(model, src, lengths, _beam(2, coverage_penalty=1.0, max_length=5))
