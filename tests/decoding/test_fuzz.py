"""Property tests of decoding options and inputs at the API: any overrides (wrong types, NaN, infinities, huge or
negative numbers, unknown names) and any inputs (NUL, lone surrogates, huge texts, junk for a feature model)
give outputs within the caps or a ConfigError / InputError, never another exception."""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seq2seq
from seq2seq.config import ConfigError, DecodeConfig
from seq2seq.inference.model import InputError

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "v1"
FIELDS = sorted(DecodeConfig.__dataclass_fields__)

JUNK = (st.none() | st.booleans() | st.text(max_size=6) | st.floats() | st.integers(-(10**30), 10**30)
        | st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e-300, 1e300, 2**63, 2**64, [], {}, "1e-3"]))
# Numbers that are valid stay small, so that each example generates in milliseconds; the caps are the same rules.
SMALL_INT = st.integers(-3, 12)
PLAUSIBLE = {"beam": SMALL_INT, "nbest": SMALL_INT, "beam_size": SMALL_INT, "batch_size": SMALL_INT,
             "max_length": st.integers(-2, 40), "max_output_length": st.integers(-2, 40), "min_length": SMALL_INT,
             "max_length_a": st.floats(-1, 1e6), "max_length_b": SMALL_INT, "max_source_length": st.integers(-1, 30),
             "temperature": st.floats(-1, 1e3), "top_k": SMALL_INT, "top_p": st.floats(-0.5, 1.5),
             "alpha": st.floats(-1, 5), "length_penalty": st.floats(-1, 5), "seed": st.integers(-2, 2**64),
             "sample": st.booleans(), "truncate_source": st.booleans(),
             "strategy": st.sampled_from(["greedy", "sample", "beam", "BEAM", "nope"]),
             "feature_length": st.sampled_from(["auto", "source", "stop", "fixed", "x"])}
# Keys whose large valid values would only make a test slow, not find anything: never drawn with junk numbers.
BOUNDED = {"max_output_length", "max_length", "min_length", "beam", "beam_size", "nbest", "max_length_b"}
NAMES = st.sampled_from(sorted(PLAUSIBLE)) | st.sampled_from(FIELDS) | st.text(max_size=8)
OVERRIDES = st.dictionaries(NAMES, st.none(), max_size=5).flatmap(
    lambda names: st.fixed_dictionaries({
        n: PLAUSIBLE.get(n, JUNK) if n in BOUNDED else (PLAUSIBLE.get(n, JUNK) | JUNK) for n in names}))

TEXTS = st.lists(st.text(max_size=25) | st.sampled_from(["", "  ", "a\x00b", "\ud800", "abcde" * 400]), max_size=4)
VECTORS = st.lists(st.text(alphabet="0123456789 .;-naife", max_size=20)
                   | st.lists(st.floats(width=32), min_size=1, max_size=6).map(np.array)
                   | st.sampled_from(["1 2 3", "", "1;2", "nan", "abc", "1 2; 3", None]), max_size=4)


MODELS = {run: seq2seq.load(V1 / run) for run in ("tokens", "features")}


def _translate(model, inputs, overrides):
    try:
        options = model.decode_options(**overrides)
        results = model.translate(inputs, **overrides)
    except (ConfigError, InputError) as e:
        assert "\n" not in str(e) and str(e)
        return
    assert len(results) == len(inputs)
    for hyps in results:
        assert len(hyps) == options.nbest
        for h in hyps:
            assert len(h.tokens) <= options.max_output_length and h.attention is None
            assert math.isfinite(h.score) or h.score == -math.inf
            assert h.values is None or np.isfinite(h.values).all()


@pytest.mark.parametrize("run, inputs, examples", [
    ("tokens", TEXTS, 60), ("features", VECTORS, 40),
    pytest.param("tokens", TEXTS, 300, marks=pytest.mark.slow),
    pytest.param("features", VECTORS, 200, marks=pytest.mark.slow)])
def test_any_options_and_inputs_give_capped_outputs_or_a_clean_refusal(run, inputs, examples):
    model = MODELS[run]
    settings(max_examples=examples)(given(inputs, OVERRIDES)(lambda i, o: _translate(model, i, o)))()
