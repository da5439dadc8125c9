"""Tokenizers: exact round trips (Korean included), word normalisation, sentencepiece and JSON save/load."""

import json
import random

import pytest

from seq2seq.data.tokenizers import JAMO_ESCAPE, build_tokenizer, load_tokenizer, save_tokenizer

KOREAN = "안녕하세요, 세계!"
SAMPLES = ["hello world", "  two  spaces\tand tab ", KOREAN, "한국어 abc 123 ÄÖü 😀", "", "a_b-c.d"]


@pytest.mark.parametrize("text", SAMPLES)
def test_char_round_trip(text):
    tok = build_tokenizer("char")
    assert tok.detokenize(tok.tokenize(text)) == text


def test_char_keeps_syllables_and_spaces():
    assert build_tokenizer("char").tokenize("안녕 a") == ["안", "녕", " ", "a"]


def test_word_punct_splits_and_normalises():
    tok = build_tokenizer("word", word_split="punct")
    assert tok.tokenize("Hello,  world! It's 3.5") == ["Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5"]
    assert tok.detokenize(tok.tokenize("Hi,  you! ")) == "Hi , you !"
    assert tok.tokenize(KOREAN) == ["안녕하세요", ",", "세계", "!"]


def test_word_whitespace_keeps_punctuation_attached():
    tok = build_tokenizer("word", word_split="whitespace")
    assert tok.tokenize(" Hello,\tworld!  ") == ["Hello,", "world!"]
    assert tok.detokenize(tok.tokenize("a  b\tc")) == "a b c"


def test_lowercase_applies_to_every_kind(tmp_path):
    for kind in ("char", "word", "jamo"):
        tok = build_tokenizer(kind, lowercase=True)
        assert tok.detokenize(tok.tokenize("ABC Déf")).replace(" ", "") == "abcdéf"
    sp = build_tokenizer("sentencepiece", lowercase=True, sp_vocab_size=30)
    sp.fit(["Abc abc ABC"] * 5)
    assert sp.detokenize(sp.tokenize("ABC")) == "abc"


def test_jamo_decomposes_arithmetically():
    tok = build_tokenizer("jamo")
    assert tok.tokenize("한a") == ["\u1112", "\u1161", "\u11ab", "a"]
    assert tok.tokenize("가") == ["\u1100", "\u1161"]
    assert tok.tokenize("힣") == ["\u1112", "\u1175", "\u11c2"]


@pytest.mark.parametrize("text", SAMPLES + [
    "\u1100\u1161",  # standalone conjoining jamo that look like a decomposed 가
    "가\u11a8",  # syllable followed by a standalone final: must not merge into 각
    "\u1100\u1161\u11a8각",
    "ㄱㅏ 한글 jamo",  # compatibility jamo pass through
    JAMO_ESCAPE + "\u1100" + JAMO_ESCAPE,  # the escape character itself in the text
])
def test_jamo_round_trip(text):
    tok = build_tokenizer("jamo")
    assert tok.detokenize(tok.tokenize(text)) == text


def test_jamo_round_trip_random_strings():
    rng = random.Random(0)
    alphabet = [chr(c) for c in (*range(0xAC00, 0xAC40), *range(0x1100, 0x1105), *range(0x1161, 0x1165),
                                 *range(0x11A8, 0x11AC), 0xD7A3)] + list("ab \\")
    tok = build_tokenizer("jamo")
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert tok.detokenize(tok.tokenize(text)) == text


def _corpus(n=200, seed=0):
    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "mat", "안녕하세요", "세계", "42", "dog", "ran"]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 8))) + rng.choice([".", "!", ""])
            for _ in range(n)] + [KOREAN]


@pytest.mark.parametrize("sp_type", ["bpe", "unigram"])
def test_sentencepiece_train_save_load_round_trip(tmp_path, sp_type):
    corpus = _corpus()
    tok = build_tokenizer("sentencepiece", sp_type=sp_type, sp_vocab_size=60)
    tok.fit(corpus)
    data = save_tokenizer(tok, tmp_path / "run", "src")
    assert data["kind"] == "sentencepiece" and data["sp_type"] == sp_type
    assert (tmp_path / "run" / "src.spm.model").exists()
    loaded = load_tokenizer(tmp_path / "run", "src")
    for text in corpus[:50] + [KOREAN, "  the  cat ", "세계 42 dog!"]:
        pieces = loaded.tokenize(text)
        assert pieces == tok.tokenize(text)
        assert loaded.detokenize(pieces) == text


def test_sentencepiece_needs_fit():
    with pytest.raises(RuntimeError, match="fit"):
        build_tokenizer("sentencepiece").tokenize("x")


@pytest.mark.parametrize("kind", ["char", "word", "jamo"])
def test_save_load_plain_kinds(tmp_path, kind):
    tok = build_tokenizer(kind, word_split="whitespace", lowercase=True)
    save_tokenizer(tok, tmp_path, "tgt")
    assert json.loads((tmp_path / "tgt.tokenizer.json").read_text())["kind"] == kind
    loaded = load_tokenizer(tmp_path, "tgt")
    assert loaded.to_json() == tok.to_json()
    assert loaded.tokenize("A, b 한") == tok.tokenize("A, b 한")


def test_unknown_kind_and_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"'bytes'.*char, word, jamo, sentencepiece"):
        build_tokenizer("bytes")
    (tmp_path / "x.tokenizer.json").write_text("{not json")
    with pytest.raises(ValueError, match="x.tokenizer.json"):
        load_tokenizer(tmp_path, "x")
    (tmp_path / "y.tokenizer.json").write_text('{"kind": "sentencepiece"}')
    with pytest.raises(ValueError, match="y.spm.model"):
        load_tokenizer(tmp_path, "y")
