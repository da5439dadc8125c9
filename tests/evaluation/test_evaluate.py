"""`evaluate` and `teacher_forced` on tiny untrained (or hand-set) models: metric keys, prefix, max_sentences,
exact match and texts, for token and vector targets."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from seq2seq import build_config
from seq2seq.data.corpus import build_sides, encode_pairs
from seq2seq.data.vocab import EOS
from seq2seq.decoding import generate
from seq2seq.decoding import one_best as single
from seq2seq.evaluation import evaluate, metric_names, teacher_forced
from seq2seq.models import build_model

CPU = torch.device("cpu")
TINY = {"model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16}
WORDS = ["abc", "ba", "cab", "aaa", "bcc", "a", "cc", "abcab"]


def _token_setup(raw=None, **overrides):
    cfg = build_config(overrides={"data.task": "reverse", **TINY, **overrides})
    raw = raw or [(w, w[::-1]) for w in WORDS]
    source, target = build_sides(cfg, raw)
    torch.manual_seed(0)
    model = build_model(cfg, source.size, target.size).eval()
    return cfg, model, source, target, encode_pairs(raw, source, target)


def _run(cfg, model, source, target, pairs, options=None, **kw):
    # The references by default: the targets decoded (these vocabularies hold every reference token).
    references = kw.pop("references", None) or [target.decode(t) for _, t in pairs]
    return evaluate(model, pairs, source, target, options or cfg.decode, references=references,
                    names=metric_names(cfg), batch_size=kw.pop("batch_size", 3), device=CPU, **kw)


def test_token_metrics_keys_prefix_and_texts():
    cfg, model, source, target, pairs = _token_setup()
    metrics, texts = _run(cfg, model, source, target, pairs)
    assert set(metrics) == {"valid_loss", "valid_perplexity", "valid_token_accuracy", "valid_exact_match",
                            "valid_chrf", "valid_unk_share"}
    assert metrics["valid_perplexity"] == pytest.approx(math.exp(metrics["valid_loss"]))
    assert 0.0 <= metrics["valid_token_accuracy"] <= 1.0 and 0.0 <= metrics["valid_exact_match"] <= 1.0
    # the texts are the greedy outputs of generation, in input order
    hyps = generate(model, source, [s for s, _ in pairs], single(cfg.decode))
    assert texts == [target.decode(h[0].output) for h in hyps] and len(texts) == len(pairs)
    test, again = _run(cfg, model, source, target, pairs, prefix="test_")
    assert again == texts and test == {"test_" + k[len("valid_"):]: v for k, v in metrics.items()}


def test_word_targets_add_bleu_and_chrf():
    cfg, model, source, target, pairs = _token_setup(**{"data.tokenizer": "word"})
    metrics, _ = _run(cfg, model, source, target, pairs)
    assert {"valid_bleu", "valid_bleu_tok", "valid_chrf", "valid_exact_match", "valid_unk_share"} <= set(metrics)


def test_max_sentences_scores_generation_on_the_first_pairs_only():
    cfg, model, source, target, pairs = _token_setup()
    full, texts = _run(cfg, model, source, target, pairs)
    some, first = _run(cfg, model, source, target, pairs, max_sentences=3)
    assert first == texts[:3]
    assert some["valid_loss"] == pytest.approx(full["valid_loss"])  # teacher-forced loss: every pair
    # nbest > 1 in the options: still one output per pair is scored
    beam = dataclasses.replace(cfg.decode, strategy="beam", beam_size=3, nbest=2)
    _, beam_texts = _run(cfg, model, source, target, pairs, beam)
    assert len(beam_texts) == len(pairs)


def test_teacher_forced_loss_is_the_mean_over_target_steps_and_keeps_the_mode():
    _, model, source, target, pairs = _token_setup()
    model.train()
    got = teacher_forced(model, pairs, source, target, batch_size=3, device=CPU)
    assert model.training  # put back as it was
    model.eval()
    with torch.no_grad():
        total, steps = 0.0, 0
        for s, t in pairs:  # one pair at a time: padding must not change the loss
            src, lengths = source.pad([s])
            tgt_in, tgt_out, _ = target.pad_target([t])
            loss, n = model.loss(model(src, lengths, tgt_in).scores, tgt_out)
            total, steps = total + float(loss), steps + n
    assert steps == sum(len(t) + 1 for _, t in pairs)
    assert got["loss"] == pytest.approx(total / steps, rel=1e-5)


def _always(model, token_id):
    """Make a token model's output layer ignore its input and always prefer `token_id`."""
    with torch.no_grad():
        model.head.output.weight.zero_()
        model.head.output.bias.zero_()
        model.head.output.bias[token_id] = 10.0


def test_exact_match_and_token_accuracy_of_a_hand_set_model():
    cfg, model, source, target, _ = _token_setup()
    raw = [("x", "aaa"), ("y", "aab"), ("z", "aaa"), ("w", "ba")]
    pairs = [(source.encode(s), target.encode(t)) for s, t in raw]
    _always(model, target.vocab.encode(["a"])[0])
    options = dataclasses.replace(cfg.decode, max_length=3)  # three steps of "a", never </s>
    metrics, texts = _run(cfg, model, source, target, pairs, options)
    assert texts == ["aaa"] * 4
    assert metrics["valid_exact_match"] == 0.5
    # teacher-forced: every step predicts "a"; right where the gold token is "a" (never at </s>)
    gold = [t + [EOS] for _, t in pairs]
    a = target.vocab.encode(["a"])[0]
    right = sum(tok == a for g in gold for tok in g)
    assert metrics["valid_token_accuracy"] == pytest.approx(right / sum(map(len, gold)))
    # a model that stops at once matches exactly the empty targets
    _always(model, EOS)
    pairs = [(source.encode("ab"), []), (source.encode("b"), target.encode("a")), (source.encode("c"), [])]
    metrics, texts = _run(cfg, model, source, target, pairs)
    assert texts == ["", "", ""] and metrics["valid_exact_match"] == pytest.approx(2 / 3)


def test_exact_match_of_generation_that_copies_the_references(monkeypatch):
    import importlib

    from seq2seq.decoding import Hypothesis

    module = importlib.import_module("seq2seq.evaluation.evaluate")  # the module, not the function

    raw = [(f"{a} b c {a} d", f"d {a} c b {a}") for a in ("x", "y", "z", "w")]
    cfg, model, source, target, pairs = _token_setup(raw, **{"data.tokenizer": "word"})
    by_source = {tuple(s): t for s, t in pairs}
    monkeypatch.setattr(module, "generate", lambda m, side, sources, opts: [
        [Hypothesis(list(by_source[tuple(s)]), 0.0, None)] for s in sources])
    metrics, texts = _run(cfg, model, source, target, pairs, references=[t for _, t in raw])
    assert metrics["valid_exact_match"] == 1.0 and metrics["valid_unk_share"] == 0.0
    assert metrics["valid_bleu"] == pytest.approx(100.0) and metrics["valid_chrf"] == pytest.approx(100.0)
    assert metrics["valid_bleu_tok"] == pytest.approx(100.0)
    assert texts == [t for _, t in raw]


def test_references_outside_the_vocabulary_count_as_missed(monkeypatch):
    import importlib

    from seq2seq.decoding import Hypothesis

    module = importlib.import_module("seq2seq.evaluation.evaluate")
    train = [(f"{a} b c", f"c b {a}") for a in ("x", "y", "z", "w")]
    cfg, model, source, target, _ = _token_setup(train, **{"data.tokenizer": "word"})
    # "q" is no training word: the vocabulary reads the reference "c b q" as "c b <unk>"
    pairs = [(source.encode("q b c"), target.encode("c b q"))] + [(source.encode(s), target.encode(t))
                                                                   for s, t in train]
    monkeypatch.setattr(module, "generate", lambda m, side, sources, opts: [
        [Hypothesis(list(t), 0.0, None)] for _, t in pairs])  # the encoded references themselves
    through_vocab, _ = _run(cfg, model, source, target, pairs)
    assert through_vocab["valid_exact_match"] == 1.0  # what the old metric saw
    metrics, texts = _run(cfg, model, source, target, pairs, references=["c b q"] + [t for _, t in train])
    assert texts[0] == "c b <unk>"
    assert metrics["valid_exact_match"] == pytest.approx(4 / 5) and metrics["valid_unk_share"] == pytest.approx(1 / 5)
    assert metrics["valid_bleu"] < 100.0 and metrics["valid_bleu_tok"] < 100.0 and metrics["valid_chrf"] < 100.0


def test_references_must_match_the_pairs():
    cfg, model, source, target, pairs = _token_setup()
    with pytest.raises(ValueError, match="8 pairs but 2 references"):
        _run(cfg, model, source, target, pairs, references=["a", "b"])


def _vector_setup():
    cfg = build_config(overrides={"data.task": "keras-example", "model.feature_norm": False, **TINY})
    rng = np.random.default_rng(0)
    raw = [(rng.normal(size=(n, 1)).astype(np.float32), np.full((n, 1), 7.0, np.float32)) for n in (3, 5, 2, 4)]
    source, target = build_sides(cfg, raw)
    torch.manual_seed(0)
    model = build_model(cfg, source.size, target.size).eval()
    return cfg, model, source, target, encode_pairs(raw, source, target)


def test_vector_targets_mae_rmse_and_csv_texts():
    cfg, model, source, target, pairs = _vector_setup()
    metrics, texts = _run(cfg, model, source, target, pairs)
    assert set(metrics) == {"valid_loss", "valid_mae", "valid_rmse"}
    assert metrics["valid_rmse"] >= metrics["valid_mae"] > 0.0
    assert len(texts) == 4 and all(len(t.split()) == len(s) for t, (s, _) in zip(texts, pairs))
    # a head that always writes 7 reproduces the constant targets (generated to the source's length)
    with torch.no_grad():
        model.head.output.weight.zero_()
        model.head.output.bias.fill_(7.0)
    metrics, texts = _run(cfg, model, source, target, pairs, prefix="test_")
    assert metrics == {"test_loss": 0.0, "test_mae": 0.0, "test_rmse": 0.0}
    assert texts[0] == "7 7 7" and texts[1] == "7 7 7 7 7"
    # off by one at every step: MAE and RMSE 1, MSE loss 1
    bumped = [(s, t + 1.0) for s, t in pairs]
    metrics, _ = _run(cfg, model, source, target, bumped)
    assert metrics == pytest.approx({"valid_loss": 1.0, "valid_mae": 1.0, "valid_rmse": 1.0})


def test_speech_sides_add_cer():
    cfg = build_config(overrides={"data.source_type": "features", **TINY})
    rng = np.random.default_rng(1)
    raw = [(rng.normal(size=(n, 3)).astype(np.float32), w) for n, w in ((4, "ab"), (6, "ba"), (3, "a"))]
    source, target = build_sides(cfg, raw)
    torch.manual_seed(0)
    model = build_model(cfg, source.size, target.size).eval()
    metrics, texts = _run(cfg, model, source, target, encode_pairs(raw, source, target))
    assert set(metrics) == {"valid_loss", "valid_perplexity", "valid_token_accuracy", "valid_exact_match",
                            "valid_chrf", "valid_cer", "valid_unk_share"}
    assert metrics["valid_cer"] >= 0.0 and len(texts) == 3
