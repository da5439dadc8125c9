"""decode_options: a run's decode section with one call's overrides - field names, the beam/sample/alpha
short names, None keeping the base - checked like a config, refusals naming the decode.* key."""

import re

import pytest

from seq2seq.config import ConfigError, DecodeConfig
from seq2seq.config.overrides import decode_options

BASE = DecodeConfig(strategy="beam", beam_size=4, nbest=2, length_penalty=0.6, seed=3)


def test_no_overrides_is_the_base():
    assert decode_options(BASE) == BASE
    assert decode_options(BASE, beam=None, sample=None, alpha=None, nbest=None, top_k=None) == BASE


def test_field_names_and_strings():
    out = decode_options(BASE, nbest=3, max_length="20", top_p=0.9)
    assert (out.nbest, out.max_length, out.top_p) == (3, 20, 0.9)
    assert BASE.nbest == 2  # the base is not changed
    assert decode_options(DecodeConfig(), strategy="sample").strategy == "sample"


@pytest.mark.parametrize("beam, strategy, size", [(1, "greedy", 1), (2, "beam", 2), (8, "beam", 8)])
def test_beam_short_name(beam, strategy, size):
    out = decode_options(DecodeConfig(), beam=beam)
    assert (out.strategy, out.beam_size) == (strategy, size)


def test_greedy_finds_one_output():
    # a run's nbest > 1 does not carry over to greedy search
    out = decode_options(BASE, beam=1)
    assert (out.strategy, out.nbest) == ("greedy", 1)
    out = decode_options(DecodeConfig(strategy="sample", nbest=4), sample=False)
    assert (out.strategy, out.nbest) == ("greedy", 1)
    assert decode_options(BASE, strategy="greedy").nbest == 1


def test_beam_keeps_an_explicit_beam_size_and_the_base_strategy_otherwise():
    assert decode_options(DecodeConfig(), beam=3, beam_size=6).beam_size == 6
    out = decode_options(BASE, beam_size=6)
    assert (out.strategy, out.beam_size) == ("beam", 6)


def test_sample_short_name():
    out = decode_options(BASE, sample=True, nbest=5, beam=1)
    assert out.strategy == "sample" and out.nbest == 5 and out.seed == 3
    sampling = DecodeConfig(strategy="sample", nbest=1)
    assert decode_options(sampling, sample=False).strategy == "greedy"
    assert decode_options(BASE, sample=False) == BASE  # not sampling anyway: nothing to turn off


def test_alpha_is_the_length_penalty():
    assert decode_options(BASE, alpha=1.0).length_penalty == 1.0
    assert decode_options(BASE, alpha=None).length_penalty == 0.6


@pytest.mark.parametrize("overrides, message", [
    ({"sample": True, "beam": 4}, "sampling and beam search exclude each other: drop the sample option or set "
                                  "beam=1 (got beam=4)"),
    ({"beam": 0}, "decode.beam_size: 0 is below the minimum 1"),
    ({"top_p": 2}, "decode.top_p: 2.0 is above the maximum 1.0"),
    ({"alpha": -1}, "decode.length_penalty: -1.0 is below the minimum 0.0"),
    ({"strategy": "viterbi"}, "decode.strategy: bad value 'viterbi'"),
    ({"nbest": 5}, "decode.nbest (5) cannot exceed decode.beam_size (4)"),
    ({"beam": 1, "nbest": 2}, "decode.nbest=2 needs decode.strategy=beam"),
    ({"temperature": "hot"}, "decode.temperature: expected a number, got 'hot'"),
    ({"widht": 3}, "unknown config key 'decode.widht'; decode keys are: strategy,"),
])
def test_refusals_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}"):
        decode_options(BASE, **overrides)


def test_nbest_cannot_exceed_the_beam_size():
    with pytest.raises(ConfigError, match=r"decode\.nbest \(3\) cannot exceed decode\.beam_size \(2\)"):
        decode_options(DecodeConfig(), beam=2, nbest=3)


def test_feature_targets():
    assert decode_options(DecodeConfig(), "features", feature_length="source").feature_length == "source"
    for overrides, key in (({"beam": 2}, "decode.strategy=beam"), ({"sample": True}, "decode.strategy=sample"),
                           ({"nbest": 2}, "decode.nbest=2")):
        with pytest.raises(ConfigError, match=re.escape(key) + " has no meaning for data.target_type=features"):
            decode_options(DecodeConfig(), "features", **overrides)
