"""Ensembles: the step averages the members' probabilities, an ensemble of one model's copies decodes as that
model, and every search runs on an ensemble (beam 1 = greedy, batch = one by one)."""

import copy

import pytest
import torch

from seq2seq import build_config
from seq2seq.config import DecodeConfig
from seq2seq.data.vocab import PAD
from seq2seq.decoding import beam_search, greedy, sample
from seq2seq.models import build_model
from seq2seq.models.ensemble import Ensemble

V = 12


def _model(seed, **extra):
    torch.manual_seed(seed)
    cfg = build_config("luong", overrides={"model.embedding_size": 8, "model.encoder_hidden": 8,
                                           "model.decoder_hidden": 16, **extra})
    return build_model(cfg.model, V, V).eval()


def _batch():
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([5, 2, 7, 3])
    src = torch.randint(4, V, (4, 7), generator=g)
    src[torch.arange(7) >= lengths.unsqueeze(1)] = PAD
    return src, lengths


def test_a_step_averages_the_members_probabilities():
    a, b = _model(0), _model(1, **{"model.attention": "location", "model.attention_output": "concat"})
    ensemble = Ensemble([a, b]).eval()
    src, lengths = _batch()
    prev = torch.tensor([2, 2, 2, 2])
    with torch.no_grad():
        out = ensemble.step(prev, *ensemble.init_state(ensemble.encode(src, lengths)))
        alone = [m.step(prev, *m.init_state(m.encode(src, lengths))) for m in (a, b)]
    mean = (alone[0].scores.softmax(-1) + alone[1].scores.softmax(-1)) / 2
    torch.testing.assert_close(out.scores.exp(), mean)
    torch.testing.assert_close(out.attention, (alone[0].attention + alone[1].attention) / 2)
    state = out.state.index_select(torch.tensor([3, 0]))
    assert state.members[1].hidden.shape == (1, 2, 16) and state.members[1].attention.shape == (2, 7)


def test_copies_of_one_model_decode_as_the_model():
    model = _model(3)
    ensemble = Ensemble([model, copy.deepcopy(model)])
    src, lengths = _batch()
    options = DecodeConfig(strategy="beam", beam_size=3, nbest=2, max_length=8)
    for one, both in zip(beam_search(model, src, lengths, options), beam_search(ensemble, src, lengths, options)):
        assert [h.output for h in one] == [h.output for h in both]
        assert [h.score for h in one] == pytest.approx([h.score for h in both], abs=1e-5)


def test_searches_on_an_ensemble():
    ensemble = Ensemble([_model(4), _model(5, **{"model.attention_heads": 2})])
    src, lengths = _batch()
    g = greedy(ensemble, src, lengths, DecodeConfig(max_length=8), keep_attention=True)
    b = beam_search(ensemble, src, lengths, DecodeConfig(strategy="beam", beam_size=1, max_length=8))
    assert [h.output for h in g] == [h[0].output for h in b]
    for i in range(4):
        n = int(lengths[i])
        alone = greedy(ensemble, src[i:i + 1, :n], lengths[i:i + 1], DecodeConfig(max_length=8))[0]
        assert alone.output == g[i].output and alone.score == pytest.approx(g[i].score, abs=1e-5)
    drawn = sample(ensemble, src, lengths, DecodeConfig(strategy="sample", max_length=8),
                   torch.Generator().manual_seed(1))
    assert len(drawn) == 4


def test_members_must_be_token_models_of_one_kind():
    features = build_model(build_config(overrides={"data.target_type": "features", "data.source_type": "features"}),
                           3, 2)
    with pytest.raises(ValueError, match="token targets"):
        Ensemble([features, features])
    with pytest.raises(ValueError, match="cannot mix copy models"):
        Ensemble([_model(0), _model(1, **{"model.copy": True})])


def test_the_teacher_forced_forward_pass_is_the_step_loop():
    a, b = _model(0), _model(1, **{"model.attention_heads": 2})
    ensemble = Ensemble([a, b])
    src, lengths = _batch()
    tgt_in = torch.randint(4, V, (4, 5), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = ensemble(src, lengths, tgt_in)
        state, memory = ensemble.init_state(ensemble.encode(src, lengths))
        for t in range(5):
            step = ensemble.step(tgt_in[:, t], state, memory)
            torch.testing.assert_close(out.scores[:, t], step.scores)
            state = step.state
        single = Ensemble([a, copy.deepcopy(a)])(src, lengths, tgt_in)
        torch.testing.assert_close(single.scores, a(src, lengths, tgt_in).scores.log_softmax(-1), atol=1e-5,
                                   rtol=1e-5)
    loss, n = ensemble.loss(out.scores, tgt_in)
    assert n == 20 and float(loss) > 0
