"""Loading runs as an ensemble: runs sharing their sides load as one model; any difference is refused
naming both runs."""

import pytest

import seq2seq
from seq2seq.models.ensemble import Ensemble
from seq2seq.runs.checkpoint import CheckpointError


def test_runs_sharing_their_sides_load_as_one_model(make_run):
    a, b = make_run("a", seed=1), make_run("b", seed=2, **{"model.attention": "location"})
    model = seq2seq.load_ensemble([a, b])
    assert isinstance(model.net, Ensemble) and len(model.net.members) == 2
    out = model.translate(["abc", "hello"], beam=3, nbest=2)
    assert [len(h) for h in out] == [2, 2]
    assert seq2seq.load_ensemble([a]).net is not model.net and not isinstance(seq2seq.load_ensemble([a]).net, Ensemble)


@pytest.mark.parametrize("other, message", [
    ({"text": "xyz"}, r"the target vocabularies differ \(12 and 7 entries\)"),
    ({"data.reverse_source": True}, r"the source input reversal differs \(data.reverse_source\)"),
    ({"data.tokenizer": "jamo"}, r"the target tokenizers differ"),
])
def test_different_sides_are_refused_naming_both_runs(make_run, other, message):
    a = make_run("a")
    b = make_run("b", **other)
    with pytest.raises(CheckpointError, match=rf"{a} and {b}: {message}; an ensemble needs one"):
        seq2seq.load_ensemble([a, b])
