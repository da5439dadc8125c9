"""The Python API: `seq2seq.load` and `Model.translate` / `predict` for token and feature models, the run's
decode section as the defaults, keyword overrides."""

import dataclasses
import io
import random
from pathlib import Path

import numpy as np
import pytest
import torch

import seq2seq
from seq2seq import ConfigError, DecodeConfig
from seq2seq.cli import main
from seq2seq.inference.model import InputError, InputTooLong, Translation

V1 = Path(__file__).resolve().parent / "fixtures" / "v1"


def _held_out(n=40, seed=99):
    rng = random.Random(seed)
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def _texts(results):
    return [[h.text for h in hs] for hs in results]


# --- a trained model (slow: the session's reverse run) ---------------------------------------------------


@pytest.mark.slow
def test_load_and_translate_held_out_inputs(reverse_run):
    model = seq2seq.load(reverse_run)
    inputs = _held_out()
    out = model.translate(inputs, attention=True)
    assert len(out) == len(inputs) and all(len(h) == 1 for h in out)
    right = sum(h[0].text == s[::-1] for s, h in zip(inputs, out))
    assert right / len(inputs) >= 0.85
    first = out[0][0]
    assert isinstance(first, Translation)
    assert first.tokens == list(first.text)
    assert first.score <= 0.0
    assert len(first.attention) == len(first.tokens) + 1
    assert all(len(row) == len(inputs[0]) for row in first.attention)
    assert first.values is None and first.source_tokens == list(inputs[0])
    assert model.predict(inputs[:5]) == [h[0].text for h in out[:5]]
    assert model.translate(inputs[:2])[0][0].attention is None  # kept only when asked for


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [{}, {"beam": 3, "nbest": 2}])
def test_a_transformer_gives_each_heads_attention_and_their_mean(transformer_run, overrides):
    model = seq2seq.load(transformer_run)
    out = model.translate(["abcd", "xy"], attention=True, **overrides)
    for source, hyps in zip(("abcd", "xy"), out):
        for h in hyps:
            heads = np.array(h.head_attention)
            # heads x output steps x source; the steps have </s> unless the (barely trained) model hit the cap
            assert heads.shape == (2, len(h.attention), len(source))
            assert len(h.attention) - len(h.tokens) in (0, 1)
            np.testing.assert_allclose(heads.mean(0), np.array(h.attention), atol=1e-6)
            np.testing.assert_allclose(heads.sum(-1), 1.0, atol=1e-5)
            assert h.to_dict()["head_attention"] == h.head_attention
            assert "head_attention" not in h.to_dict(attention=False)


@pytest.mark.slow
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


@pytest.mark.slow
def test_encode_decode(reverse_run):
    model = seq2seq.load(reverse_run)
    assert model.source.vocab.decode(model.encode(["abc"])[0]) == ["a", "b", "c"]
    hyp = model.translate(["abc"])[0][0]
    assert model.decode(model.target.vocab.encode(hyp.tokens)) == hyp.text


@pytest.mark.slow
def test_to_device_keeps_working(reverse_run):
    model = seq2seq.load(reverse_run).to("cpu")
    assert model.device == torch.device("cpu")
    inputs = _held_out(10, seed=5)
    before = model.translate(inputs)
    assert _texts(model.to(torch.float64).translate(inputs)) == _texts(before)
    assert model.translate(["abc"])[0][0].text == "cba"
    if torch.cuda.is_available():
        assert model.to("cuda").translate(["abc"])[0][0].text == "cba"


@pytest.mark.slow
def test_a_run_trained_with_beam_decoding_translates_with_it_by_default(beam_run):
    model = seq2seq.load(beam_run)
    assert (model.config.decode.strategy, model.config.decode.nbest) == ("beam", 2)
    out = model.translate(["abc", "hello", ""])
    assert [len(h) for h in out] == [2, 2, 2]
    assert out[0][0].score >= out[0][1].score
    assert _texts(out) == _texts(model.translate(["abc", "hello", ""], beam=model.config.decode.beam_size, nbest=2))
    greedy = model.translate(["abc", "hello"], beam=1, nbest=1)  # keywords override the run's defaults
    assert [len(h) for h in greedy] == [1, 1]
    assert _texts(greedy) == _texts(model.translate(["abc", "hello"], DecodeConfig()))
    assert len(model.predict(["abc", "hello"])) == 2  # predict: the best of the two


# --- fast: the format 1 fixtures (a tiny token model and a tiny vector model) ----------------------------


@pytest.fixture
def tokens():
    return seq2seq.load(V1 / "tokens")


@pytest.fixture
def vectors():
    return seq2seq.load(V1 / "features")


def test_moving_the_weights_keeps_the_outputs_and_device_follows_them(tokens):
    inputs = ["abc", "hello", "zyx", "a", ""]
    before = tokens.translate(inputs, beam=3, nbest=2)
    assert tokens.device == torch.device("cpu")
    assert tokens.to("cpu") is tokens and tokens.device == torch.device("cpu")
    assert _texts(tokens.translate(inputs, beam=3, nbest=2)) == _texts(before)
    tokens.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in tokens.net.parameters())
    after = tokens.translate(inputs, beam=3, nbest=2)
    assert _texts(after) == _texts(before)
    assert [h.score for hs in after for h in hs] == pytest.approx([h.score for hs in before for h in hs], rel=1e-4)
    # `device` reads where the weights are, not where they were loaded
    assert seq2seq.load(V1 / "tokens").to("meta").device == torch.device("meta")
    if torch.cuda.is_available():
        assert tokens.to("cuda").device.type == "cuda"


def test_translate_defaults_to_the_runs_decode_section(tokens):
    inputs = ["abc", "hello"]
    greedy = tokens.translate(inputs)
    assert [len(h) for h in greedy] == [1, 1]
    assert tokens.decode_options() == tokens.config.decode
    tokens.config.decode = dataclasses.replace(tokens.config.decode, strategy="beam", beam_size=3, nbest=2)
    beam = tokens.translate(inputs)
    assert [len(h) for h in beam] == [2, 2]
    assert _texts(beam) == _texts(tokens.translate(inputs, beam=3, nbest=2))
    # beam=1 (or strategy=greedy) is greedy again, one output each: the run's nbest=2 does not carry over
    assert _texts(tokens.translate(inputs, beam=1)) == _texts(greedy)
    assert _texts(tokens.translate(inputs, strategy="greedy")) == _texts(greedy)
    with pytest.raises(ConfigError, match=r"decode.nbest=2 needs decode.strategy=beam"):
        tokens.translate(inputs, beam=1, nbest=2)  # asked for both: refused


def test_keyword_overrides_and_explicit_options(tokens):
    inputs = ["abc", "hello"]
    assert all(len(h[0].tokens) <= 1 for h in tokens.translate(inputs, max_length=1))
    assert all(len(h[0].tokens) >= 4 for h in tokens.translate(inputs, min_length=4))
    options = DecodeConfig(strategy="beam", beam_size=3, nbest=3, length_penalty=0.6)
    assert _texts(tokens.translate(inputs, options)) == _texts(tokens.translate(inputs, beam=3, nbest=3, alpha=0.6))
    assert tokens.decode_options(options, nbest=1).nbest == 1 and options.nbest == 3  # options are not changed
    a = tokens.translate(inputs, sample=True, nbest=3, seed=4, temperature=2.0)
    assert [len(h) for h in a] == [3, 3]
    assert _texts(a) == _texts(tokens.translate(inputs, sample=True, nbest=3, seed=4, temperature=2.0))
    for overrides, message in (({"nbest": 3}, r"decode.nbest=3 needs decode.strategy=beam"),
                               ({"beam": 2, "nbest": 3}, r"decode.nbest \(3\) cannot exceed decode.beam_size \(2\)"),
                               ({"sample": True, "beam": 3}, "sampling and beam search exclude each other"),
                               ({"temperature": 0}, r"decode.temperature"),
                               ({"beem": 2}, r"unknown config key 'decode.beem'")):
        with pytest.raises(ConfigError, match=message):
            tokens.translate(inputs, **overrides)


def test_translate_works_for_vector_models(vectors):
    t = vectors.translate(["1 2 3"], attention=True)[0][0]
    assert isinstance(t.values, np.ndarray) and t.values.ndim == 2 and t.values.shape[1] == 1
    assert t.text == vectors.target.format(t.values)
    assert t.tokens == [str(i) for i in range(len(t.values))]
    assert t.source_tokens == ["0", "1", "2"] and t.score == 0.0
    assert len(t.attention) == len(t.values) and all(len(row) == 3 for row in t.attention)
    # arrays and CSV notation are the same input; predict gives the values
    # (to float32 rounding: a batch of two may sum the matmuls' products in another order than a batch of one)
    same = vectors.translate([np.array([[1.0], [2.0], [3.0]]), np.array([1.0, 2.0, 3.0])])
    assert all(np.allclose(s[0].values, t.values, rtol=1e-5, atol=1e-6) for s in same)
    assert np.array_equal(vectors.predict(["1 2 3"])[0], t.values)
    # the length rules are decode options too
    assert vectors.translate(["1 2 3"], feature_length="source")[0][0].values.shape == (3, 1)
    assert vectors.translate(["1 2 3"], max_length=4)[0][0].values.shape[0] <= 4
    for overrides, key in (({"beam": 2}, "decode.strategy=beam"), ({"nbest": 2}, "decode.nbest=2"),
                           ({"sample": True}, "decode.strategy=sample")):
        with pytest.raises(ConfigError, match=rf"{key} has no meaning for data.target_type=features"):
            vectors.translate(["1 2"], **overrides)


def test_a_feature_model_in_float64_predicts_what_it_does_in_float32():
    model = seq2seq.load(V1 / "features")
    before = model.predict(["1 2 3", "4 5 6 7"])
    after = model.to(torch.float64).predict(["1 2 3", "4 5 6 7"])
    assert [len(a) for a in after] == [len(b) for b in before]
    for a, b in zip(after, before):
        assert np.allclose(a, b, atol=1e-4)


# --- the boundary: inputs and bounds -------------------------------------------------------------------


def test_inputs_are_checked_before_any_is_translated(tokens, vectors):
    for bad, message in ((["abc", "a\x00b"], r"^input 1: NUL byte at column 2"),
                         (["a\ud800"], r"^input 0: lone surrogate U\+D800 at column 2"),
                         ([None], r"^input 0: expected a text, got NoneType"),
                         ([3], r"^input 0: expected a text, got int")):
        with pytest.raises(InputError, match=message):
            tokens.translate(bad)
    for bad, message in ((["1 2", "abc"], r"^input 1: not a number \('abc'\) \(the model reads sequences of "
                                          r"1-value vectors"),
                         (["nan"], r"^input 0: non-finite value \(nan\) at step 0"),
                         ([np.zeros((2, 3))], r"^input 0: vector size 3, expected 1 \(the model reads")):
        with pytest.raises(InputError, match=message):
            vectors.translate(bad)
    assert vectors.translate(["", "  "])[0][0].text == ""  # a blank input gives an empty output


def test_inputs_longer_than_the_source_limit_are_refused_or_cut(tokens):
    long = "abcde" * 20_000  # 100,000 characters: refused at once, nothing is generated
    with pytest.raises(InputTooLong, match=r"^input 1: 100000 source steps, more than "
                                           r"decode.max_source_length=1000; raise it, or set decode.truncate_source"):
        tokens.translate(["abc", long])
    with pytest.raises(InputTooLong, match="more than decode.max_source_length=4"):
        tokens.translate(["abcdefgh"], max_source_length=4)
    cut = tokens.translate(["abcdefgh"], max_source_length=4, truncate_source=True, attention=True)[0][0]
    assert cut.source_tokens == list("abcd") and all(len(row) == 4 for row in cut.attention)
    assert _texts([[cut]]) == _texts(tokens.translate(["abcd"]))


def test_outputs_never_exceed_the_hard_cap(tokens):
    capped = tokens.translate(["abcdefgh"], max_length_a=1e30, max_output_length=7, min_length=50)
    assert len(capped[0][0].tokens) == 7  # min_length bars </s>; the hard cap still ends it
    with pytest.raises(ConfigError, match=r"decode.max_length \(2000\) exceeds decode.max_output_length \(1000\)"):
        tokens.translate(["abc"], max_length=2000)


def test_sampling_without_a_seed_differs_between_calls(tokens):
    inputs = ["abcdefgh"] * 4
    draws = {tuple(_texts(tokens.translate(inputs, sample=True, temperature=3.0))[i][0] for i in range(4))
             for _ in range(4)}
    assert len(draws) > 1
    seeded = _texts(tokens.translate(inputs, sample=True, temperature=3.0, seed=9))
    assert seeded == _texts(tokens.translate(inputs, sample=True, temperature=3.0, seed=9))


@pytest.mark.slow
def test_word_outputs_are_text_for_people_and_tokens_on_request(tmp_path, monkeypatch, capsys):
    # Every target is one sentence, so a tiny model learns to write it whatever the source.
    rng = random.Random(3)
    lines = [f"{' '.join(rng.choice(['red', 'dog', 'runs', 'far']) for _ in range(3))}\tA man's T-shirt, OK.\n"
             for _ in range(64)]
    (tmp_path / "d.tsv").write_text("".join(lines))
    run = tmp_path / "run"
    assert main(["train", "--train", str(tmp_path / "d.tsv"), "--valid", str(tmp_path / "d.tsv"), "--out", str(run),
                 "--epochs", "8", "--quiet", "--set", "data.tokenizer=word", "--set", "data.lowercase=true",
                 "--set", "model.embedding_size=16", "--set", "model.encoder_hidden=32", "--set",
                 "model.decoder_hidden=32", "--set", "train.batch_size=16", "--set", "train.lr=0.01",
                 "--set", "train.threads=1"]) == 0
    model = seq2seq.load(run)
    best = model.translate(["dog runs"])[0][0]
    assert best.text == "A man's t-shirt, ok."
    assert best.tokens == ["a", "man", "'", "s", "t", "-", "shirt", ",", "ok", "."]
    assert model.translate(["dog runs"], tokenized=True)[0][0].text == "a man ' s t - shirt , ok ."
    monkeypatch.setattr("sys.stdin", io.StringIO("dog runs\n"))
    capsys.readouterr()
    assert main(["translate", str(run), "--tokenized"]) == 0
    assert capsys.readouterr().out == "a man ' s t - shirt , ok .\n"


# --- fast: untrained runs (make_run) for scoring, heads, ensembles and copying ----------------------------


def test_score_gives_each_tokens_log_probability(make_run):
    model = seq2seq.load(make_run())
    scores = model.score(["abc", "hello"], ["cba", ""])
    assert [s.tokens for s in scores] == [["c", "b", "a", "</s>"], ["</s>"]]
    assert all(len(s.token_scores) == len(s.tokens) and s.score == pytest.approx(sum(s.token_scores))
               for s in scores)
    with torch.no_grad():
        model.net.head.output.bias[:3] = -100.0  # never <pad>, <unk> or <s>: the output's text reads back as its ids
    best = model.translate(["abc"], max_length=4)[0][0]
    scored = model.score(["abc"], [best.text])[0]
    # greedy's score counts </s> only if it ended there before its cap of 4 tokens
    ended = len(best.tokens) < 4
    assert sum(scored.token_scores[: len(best.tokens) + ended]) == pytest.approx(best.score, abs=1e-5)
    with pytest.raises(ValueError, match="one target per source"):
        model.score(["abc"], [])
    with pytest.raises(ConfigError, match="score needs token targets"):
        seq2seq.load(V1 / "features").score(["1 2"], ["2 3"])


def test_an_ensembles_score_is_of_the_averaged_distribution(make_run):
    a, b = make_run("a", seed=1), make_run("b", seed=2)
    both = seq2seq.load_ensemble([a, b]).score(["abc"], ["cb"])[0]
    alone = [seq2seq.load(r).score(["abc"], ["cb"])[0] for r in (a, b)]
    # a mixture's probability lies between its members'
    for i, value in enumerate(both.token_scores):
        lo, hi = sorted(s.token_scores[i] for s in alone)
        assert lo - 1e-6 <= value <= hi + 1e-6


def test_heads_give_one_map_each_and_the_attention_is_their_mean(make_run):
    model = seq2seq.load(make_run(**{"model.attention_heads": 4, "data.reverse_source": True}))
    t = model.translate(["abcd"], max_length=3, attention=True)[0][0]
    heads = np.array(t.head_attention)
    assert heads.shape == (4, len(t.tokens) + 1 if len(t.tokens) < 3 else 3, 4)
    assert np.allclose(heads.mean(0), np.array(t.attention), atol=1e-6)
    assert np.allclose(heads.sum(-1), 1.0, atol=1e-5)
    assert seq2seq.load(make_run("one")).translate(["abcd"], attention=True)[0][0].head_attention is None


def test_a_copy_model_writes_copied_words_out_verbatim(make_run):
    run = make_run(text="pay Ann gets", **{"model.copy": True, "data.tokenizer": "word"})
    model = seq2seq.load(run)
    unknown = "Zyx"  # in neither vocabulary
    encoded = model.source.encode(f"pay {unknown}")
    v = len(model.target.vocab)
    assert encoded.extended[1] == v + 1
    # make the model copy: a large copy gate bias and attention that only the source can give
    with torch.no_grad():
        model.net.decoder.copy.gate.bias.fill_(-30.0)
    out = model.translate([f"pay {unknown}"], max_length=3)[0][0]
    assert set(out.tokens) <= {"pay", unknown} and unknown in out.tokens
    assert model.score([f"pay {unknown}"], [unknown])[0].tokens == [unknown, "</s>"]
