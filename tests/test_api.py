import random

import pytest
import torch

import seq2seq
from seq2seq.api import InputTooLong, Translation


def _held_out(n=40, seed=99):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def test_load_and_translate_held_out_inputs(reverse_run):
    model = seq2seq.load(reverse_run)
    inputs = _held_out()
    out = model.translate(inputs)
    assert len(out) == len(inputs) and all(len(h) == 1 for h in out)
    right = sum(h[0].text == s[::-1] for s, h in zip(inputs, out))
    assert right / len(inputs) >= 0.85
    first = out[0][0]
    assert isinstance(first, Translation)
    assert first.tokens == list(first.text)
    assert first.score <= 0.0
    assert len(first.attention) == len(first.tokens) + 1
    assert all(len(row) == len(inputs[0]) for row in first.attention)


def test_beam_nbest_sampling_and_empty_inputs(reverse_run):
    model = seq2seq.load(reverse_run)
    out = model.translate(["hello", "", "abc"], beam=4, nbest=3)
    assert [len(h) for h in out] == [3, 3, 3]
    assert out[1][0].text == ""
    assert out[0][0].score >= out[0][1].score >= out[0][2].score
    assert out[0][0].text == model.translate("hello")[0][0].text
    a = model.translate(["hello"], sample=True, seed=5, temperature=1.5)
    b = model.translate(["hello"], sample=True, seed=5, temperature=1.5)
    assert a[0][0].text == b[0][0].text
    with pytest.raises(ValueError, match="nbest"):
        model.translate(["x"], beam=2, nbest=3)


def test_encode_decode_and_strict_length(reverse_run):
    model = seq2seq.load(reverse_run)
    assert model.source.vocab.decode(model.encode(["abc"])[0]) == ["a", "b", "c"]
    hyp = model.translate(["abc"])[0][0]
    assert model.decode(model.target.vocab.encode(hyp.tokens)) == hyp.text
    model.config.data.max_source_length = 4
    with pytest.raises(InputTooLong, match="longer than the model's data.max_source_length=4"):
        model.translate(["abcdefgh"], strict=True)
    assert len(model.translate(["abcdefgh"])[0][0].text) > 0


def test_to_device_keeps_working(reverse_run):
    model = seq2seq.load(reverse_run).to("cpu")
    assert model.device == torch.device("cpu")
    if torch.cuda.is_available():
        assert model.to("cuda").translate(["abc"])[0][0].text == "cba"
