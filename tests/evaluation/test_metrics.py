"""Scores of generated outputs: edit distance and CER, BLEU/chrF, exact match of ids, MAE/RMSE of vectors."""

import math

import numpy as np
import pytest
import torch

from seq2seq import build_config
from seq2seq.data.sides import FeatureSide, TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import Vocab
from seq2seq.evaluation import char_error_rate, levenshtein, metric_names, text_scores
from seq2seq.evaluation.metrics import SCORERS, aligned_error, literature_tokens, token_scores, vector_scores


def test_character_error_rate():
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3
    assert char_error_rate(["123", "45"], ["123", "456"]) == pytest.approx(1 / 6)


def test_levenshtein_is_symmetric_and_counts_each_kind_of_edit():
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("abc", "") == levenshtein("", "abc") == 3
    assert levenshtein("abc", "abd") == 1  # substitution
    assert levenshtein("abc", "abxc") == 1  # insertion
    assert levenshtein("abc", "ac") == 1  # deletion
    assert levenshtein("flaw", "lawn") == levenshtein("lawn", "flaw") == 2


def test_char_error_rate_counts_edits_per_reference_character():
    assert char_error_rate(["abc"], ["abc"]) == 0.0
    assert char_error_rate(["", ""], ["ab", "c"]) == 1.0  # saying nothing: every reference character missing
    assert char_error_rate(["abcdef"], ["ab"]) == 2.0  # insertions can push it above 1
    assert char_error_rate([""], [""]) == 0.0  # empty references do not divide by zero
    with pytest.raises(ValueError):
        char_error_rate(["a"], ["a", "b"])  # hypotheses and references must pair up


def test_text_scores_are_corpus_bleu_and_chrf():
    refs = ["the cat sat on the mat", "a dog barked at the moon"]
    perfect = text_scores(refs, refs)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    partial = text_scores(["the cat sat on a mat", "a dog barked"], refs)
    assert 0.0 < partial["bleu"] < 100.0 and 0.0 < partial["chrf"] < 100.0
    assert text_scores(["xyz qqq", "www"], refs)["bleu"] == pytest.approx(0.0)
    assert text_scores(["the cat sat on a mat", "a dog barked"], refs, frozenset({"chrf"})) == \
        {"chrf": pytest.approx(partial["chrf"])}


def _token_side(texts, kind="char"):
    tok = build_tokenizer(kind)
    return TokenSide(tok, Vocab.build([tok.tokenize(t) for t in texts]))


def test_token_scores_read_the_printed_text_against_the_raw_references():
    side = _token_side(["hello world", "good day"], "word")
    raw = ["hello world", "good day"]
    refs = [side.encode(r) for r in raw]
    outs = [side.encode("hello world"), side.encode("good")]
    only = token_scores(outs, refs, raw, side, frozenset({"exact_match"}))
    assert only == {"exact_match": 0.5}
    chars = token_scores(outs, refs, raw, side, frozenset({"exact_match", "chrf"}))
    assert set(chars) == {"exact_match", "chrf"} and 0.0 < chars["chrf"] < 100.0
    every = token_scores(outs, refs, raw, side, frozenset({"exact_match", "bleu", "bleu_tok", "chrf", "cer",
                                                           "unk_share"}))
    assert set(every) == {"exact_match", "bleu", "bleu_tok", "chrf", "cer", "unk_share"}
    assert every["cer"] == pytest.approx(char_error_rate(["hello world", "good"], raw))
    assert every["bleu"] == pytest.approx(text_scores(["hello world", "good"], raw)["bleu"])
    assert every["unk_share"] == 0.0
    assert token_scores([], [], [], side, frozenset({"exact_match"}))["exact_match"] == 0.0
    assert SCORERS == {"tokens": token_scores, "features": vector_scores}


def test_token_scores_unknown_reference_words_and_printed_text():
    side = _token_side(["a man's t-shirt .", "a dog ."], "word")
    # "cat" is outside the vocabulary: the output "<unk>" must not match the reference "cat"
    outs = [side.encode("a cat ."), side.encode("a man's t-shirt .")]
    raw = ["a cat.", "a man's t-shirt."]
    scores = token_scores(outs, [side.encode(r) for r in raw], raw, side,
                          frozenset({"exact_match", "bleu", "bleu_tok", "unk_share"}))
    # the second output prints as its reference (marks glued back), the first holds <unk>
    assert scores["exact_match"] == 0.5 and scores["unk_share"] == 0.5
    hyps = ["a <unk>.", "a man's t-shirt."]
    assert scores["bleu"] == pytest.approx(text_scores(hyps, raw, frozenset({"bleu"}))["bleu"])
    assert scores["bleu"] < 100.0
    with pytest.raises(ValueError, match="2 outputs but 1 reference texts"):
        token_scores(outs, [], raw[:1], side, frozenset({"exact_match"}))


def test_exact_match_ignores_runs_of_whitespace_only():
    side = _token_side(["ab", "ba"])
    outs = [side.encode("ab"), side.encode("ab")]
    assert token_scores(outs, [], ["ab  ", "Ab"], side, frozenset({"exact_match"}))["exact_match"] == 0.5


def test_literature_tokens_and_bleu_tok():
    assert literature_tokens("A man's T-shirt, <unk> red.") == "a man ' s t - shirt , <unk> red ."
    assert literature_tokens("  ") == ""
    # tokenised BLEU forgives case and glued punctuation; 13a BLEU does not forgive case
    scores = text_scores(["A man's T-shirt."], ["a man 's t-shirt ."], frozenset({"bleu", "bleu_tok"}))
    assert scores["bleu_tok"] == pytest.approx(100.0) and scores["bleu"] < 100.0


def test_aligned_error_pads_short_outputs_with_their_last_vector_and_cuts_long_ones():
    gold = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert aligned_error(gold.copy(), gold).tolist() == [0.0] * 6
    short = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert aligned_error(short, gold).tolist() == [0, 0, 0, 1, -2, -1]
    assert aligned_error(np.zeros((0, 2)), gold).tolist() == (-gold).ravel().tolist()  # nothing: zeros
    long = np.concatenate([gold, np.full((4, 2), 99.0)])
    assert aligned_error(long, gold).tolist() == [0.0] * 6  # steps past the reference are not scored


def test_vector_scores_are_in_the_original_units():
    side = FeatureSide(1, mean=np.array([10.0], np.float32), std=np.array([2.0], np.float32))
    gold = [side.encode(np.array([[10.0], [12.0]])), side.encode(np.array([[14.0]]))]
    # normalised outputs off by 0.5 and 1.0 standard deviations: 1 and 2 in the data's units
    outs = [torch.tensor(g) + torch.tensor([[0.5], [-0.5]]) for g in gold[:1]] + [torch.tensor(gold[1]) + 1.0]
    scores = vector_scores(outs, gold, [], side, frozenset({"mae", "rmse"}))
    assert scores["mae"] == pytest.approx((1 + 1 + 2) / 3)
    assert scores["rmse"] == pytest.approx(math.sqrt((1 + 1 + 4) / 3))


@pytest.mark.parametrize("overrides, names", [
    ({"data.task": "reverse"}, {"exact_match", "chrf", "unk_share"}),
    ({"data.target_tokenizer": "jamo"}, {"exact_match", "chrf", "unk_share"}),
    ({"data.tokenizer": "word"}, {"exact_match", "bleu", "bleu_tok", "chrf", "unk_share"}),
    ({"data.target_tokenizer": "sentencepiece"}, {"exact_match", "bleu", "bleu_tok", "chrf", "unk_share"}),
    ({"data.source_type": "features"}, {"exact_match", "chrf", "cer", "unk_share"}),
    ({"data.task": "sine"}, {"mae", "rmse"}),
    ({"data.task": "keras-example"}, {"mae", "rmse"}),
])
def test_metric_names_follow_the_sides(overrides, names):
    assert metric_names(build_config(overrides=overrides)) == names
