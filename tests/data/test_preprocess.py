"""`seq2seq preprocess`: shards that hold exactly what the text path encodes, whatever the workers and chunking;
length filters counted; bad input named by file and line with nothing left behind; interrupted runs finished."""

import errno
import gzip
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.data import preprocess as pre
from seq2seq.data import shard_writer
from seq2seq.data.corpus import build_sides, encode_pairs, load_splits, read_split
from seq2seq.data.datasets import DataError
from seq2seq.data.manifest import check_settings, data_overrides, read_manifest
from seq2seq.data.shards import open_preprocessed

WORDS = "a man woman dog runs sits on the red blue street , . ! ein Mann Frau Hund läuft sitzt auf der roten".split()


def _sentence(rng, low=1, high=12):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _corpus(path, n, seed=0, long_every=0):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        high = 40 if long_every and i % long_every == 0 else 12
        lines.append(f"{_sentence(rng, high=high)}\t{_sentence(rng)}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _cfg(tmp_path, **extra):
    values = {"data.train": str(tmp_path / "train.tsv"), "data.valid": str(tmp_path / "valid.tsv"),
              "data.tokenizer": "word", **extra}
    return build_config(overrides=values)


def _files(tmp_path, n=300, **kw):
    _corpus(tmp_path / "train.tsv", n, **kw)
    _corpus(tmp_path / "valid.tsv", 40, seed=9)
    return {"train": [("train", str(tmp_path / "train.tsv"))], "valid": [("valid", str(tmp_path / "valid.tsv"))]}


def _text_path(cfg):
    """What `train --train/--valid` encodes: sides fitted on the training pairs, pairs within the limits."""
    splits = load_splits(cfg)
    source, target = build_sides(cfg, splits["train"])
    d = cfg.data
    return source, target, encode_pairs(splits["train"], source, target, d.max_source_length, d.max_target_length), \
        encode_pairs(splits["valid"], source, target, label="valid")


def _all(pairs):
    return pairs.take(np.arange(len(pairs)))


@pytest.mark.parametrize("workers,chunk", [(1, 1000), (1, 7), (2, 50)])
def test_shards_hold_what_the_text_path_encodes(tmp_path, workers, chunk):
    files = _files(tmp_path, long_every=10)
    cfg = _cfg(tmp_path, **{"data.max_source_length": 20, "data.reverse_source": True})
    manifest = pre.preprocess(cfg, files, tmp_path / "data", workers=workers, chunk_size=chunk, progress=False)
    source, target, train, valid = _text_path(cfg)
    got_source, got_target, splits = open_preprocessed(cfg, tmp_path / "data")
    assert got_source.vocab == source.vocab and got_target.vocab == target.vocab
    assert _all(splits["train"]) == train and _all(splits["valid"]) == valid
    assert splits["train"].source_lengths.tolist() == [len(s) for s, _ in train]
    entry = manifest["splits"]["train"]
    assert entry["read"] == 300 and entry["dropped"] > 0 and entry["pairs"] == 300 - entry["dropped"] == len(train)
    assert not (tmp_path / "data.partial").exists() and not (tmp_path / "data" / "progress.json").exists()


def test_formats_gzip_pair_files_byte_order_marks_and_trailing_blank_lines(tmp_path):
    rng = random.Random(3)
    pairs = [(_sentence(rng), _sentence(rng)) for _ in range(50)]
    with gzip.open(tmp_path / "train.de.gz", "wb") as f:
        f.write(b"\xef\xbb\xbf" + "".join(f"{s}\r\n" for s, _ in pairs).encode() + b"\n \n")
    (tmp_path / "train.en.gz").write_bytes(gzip.compress("".join(f"{t}\n" for _, t in pairs).encode()))
    for side, suffix in ((0, ".de.gz"), (1, ".en.gz")):
        (tmp_path / f"valid{suffix}").write_bytes(gzip.compress("".join(p[side] + "\n" for p in pairs[:5]).encode()))
    cfg = build_config(overrides={"data.tokenizer": "word", "data.source_suffix": ".de.gz",
                                  "data.target_suffix": ".en.gz"})
    pre.preprocess(cfg, {"train": [("c", str(tmp_path / "train"))], "valid": [("v", str(tmp_path / "valid"))]},
                   tmp_path / "data", chunk_size=16, progress=False)
    source, target, splits = open_preprocessed(cfg, tmp_path / "data")
    assert [(source.decode(s), target.decode(t)) for s, t in _all(splits["train"])] == pairs
    assert len(splits["valid"]) == 5


def test_jsonl_is_read_as_the_text_path_reads_it(tmp_path):
    rng = random.Random(4)
    pairs = [(_sentence(rng), _sentence(rng)) for _ in range(30)]
    for name in ("train", "valid"):
        lines = [json.dumps({"source": s, "target": t}) + "\n" for s, t in pairs]
        (tmp_path / f"{name}.jsonl").write_text("".join(lines))
    cfg = build_config(overrides={"data.tokenizer": "char", "data.train": str(tmp_path / "train.jsonl"),
                                  "data.valid": str(tmp_path / "valid.jsonl")})
    pre.preprocess(cfg, {"train": [("t", cfg.data.train)], "valid": [("v", cfg.data.valid)]}, tmp_path / "data",
                   chunk_size=8, progress=False)
    _, _, train, _ = _text_path(cfg)
    assert _all(open_preprocessed(cfg, tmp_path / "data")[2]["train"]) == train


def test_sentencepiece_and_a_shared_vocabulary_match_the_text_path(tmp_path):
    files = _files(tmp_path, 200)
    cfg = _cfg(tmp_path, **{"data.tokenizer": "sentencepiece", "data.sentencepiece_vocab_size": 60,
                            "data.shared_vocab": True})
    pre.preprocess(cfg, files, tmp_path / "data", workers=2, chunk_size=64, progress=False)
    source, _, train, _ = _text_path(cfg)
    got, _, splits = open_preprocessed(cfg, tmp_path / "data")
    assert got.vocab == source.vocab and _all(splits["train"]) == train


def test_a_bad_line_is_named_and_nothing_is_left_behind(tmp_path):
    files = _files(tmp_path, 200)
    lines = (tmp_path / "train.tsv").read_text().splitlines(keepends=True)
    lines[150] = "no tab here\n"
    (tmp_path / "train.tsv").write_text("".join(lines))
    with pytest.raises(DataError, match=r"train\.tsv:151: expected 2 tab-separated columns"):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", workers=2, chunk_size=40, progress=False)
    assert not (tmp_path / "data").exists() and not (tmp_path / "data.partial").exists()
    manifest = pre.preprocess(_cfg(tmp_path, **{"data.skip_invalid": True}), files, tmp_path / "data",
                              chunk_size=40, progress=False)
    entry = manifest["splits"]["train"]
    assert entry["skipped"] == 1 and entry["pairs"] == 199 and "train.tsv:151" in entry["first_skipped"]


def test_pair_files_of_different_lengths_are_refused_before_any_work(tmp_path):
    (tmp_path / "c.de").write_text("a\nb\nc\n")
    (tmp_path / "c.en").write_text("a\nb\n")
    cfg = build_config(overrides={"data.source_suffix": ".de", "data.target_suffix": ".en"})
    with pytest.raises(DataError, match=r"c\.de:3: line counts differ"):
        pre.preprocess(cfg, {"train": [("c", str(tmp_path / "c"))], "valid": [("c", str(tmp_path / "c"))]},
                       tmp_path / "data", progress=False)
    assert not (tmp_path / "data.partial").exists()


def test_a_complete_or_foreign_output_is_refused(tmp_path):
    files = _files(tmp_path, 30)
    pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", progress=False)
    with pytest.raises(ConfigError, match="already holds a preprocessed corpus"):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("mine")
    with pytest.raises(ConfigError, match="not an empty directory"):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "other", progress=False)
    (tmp_path / "mine.partial").mkdir()
    with pytest.raises(ConfigError, match="not left by `seq2seq preprocess`"):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "mine", progress=False)


def test_a_refused_write_keeps_the_chunks_done_and_the_same_command_finishes(tmp_path, monkeypatch):
    files = _files(tmp_path, 300)
    cfg = _cfg(tmp_path)
    save, calls = shard_writer.save_array, {"n": 0}

    def failing(path, array):
        calls["n"] += 1
        if calls["n"] == 9:  # pass 1 of the fifth chunk: four chunks are done
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        save(path, array)

    monkeypatch.setattr(shard_writer, "save_array", failing)
    with pytest.raises(OSError) as info:
        pre.preprocess(cfg, files, tmp_path / "data", chunk_size=40, progress=False)
    message = str(info.value)
    assert "No space left on device" in message and "run the same command to finish" in message
    assert "\n" not in message and not (tmp_path / "data").exists() and (tmp_path / "data.partial").is_dir()
    counted = []
    monkeypatch.setattr(shard_writer, "save_array", save)
    real = shard_writer.count_chunk
    monkeypatch.setattr(pre, "count_chunk", lambda task: counted.append(task.chunk.index) or real(task))
    pre.preprocess(cfg, files, tmp_path / "data", chunk_size=40, progress=False)
    assert counted[0] == 2  # the two chunks done before were not encoded again
    _, _, train, _ = _text_path(cfg)
    assert _all(open_preprocessed(cfg, tmp_path / "data")[2]["train"]) == train


def test_an_interrupted_run_of_other_settings_is_started_afresh(tmp_path, monkeypatch):
    files = _files(tmp_path, 100)
    monkeypatch.setattr(pre, "_vocabularies", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", chunk_size=40, progress=False)
    assert (tmp_path / "data.partial").is_dir()
    monkeypatch.undo()
    cfg = _cfg(tmp_path, **{"data.lowercase": True})
    pre.preprocess(cfg, files, tmp_path / "data", chunk_size=40, progress=False)
    _, _, train, _ = _text_path(cfg)
    assert _all(open_preprocessed(cfg, tmp_path / "data")[2]["train"]) == train


def test_a_run_must_share_the_directorys_data_settings(tmp_path):
    files = _files(tmp_path, 30)
    pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", progress=False)
    with pytest.raises(ConfigError, match=r"data.tokenizer: .* was preprocessed with 'word', this run asks for 'char'"):
        check_settings(build_config(), read_manifest(tmp_path / "data"), tmp_path / "data")
    assert data_overrides(tmp_path / "data")["data.tokenizer"] == "word"
    with pytest.raises(ConfigError, match="is not a preprocessed data directory"):
        read_manifest(tmp_path)
    with pytest.raises(ConfigError, match="copy"):
        open_preprocessed(build_config(overrides={"data.tokenizer": "word", "model.copy": True,
                                                  "model.attention": "general"}), tmp_path / "data")


def test_corpus_arguments_are_named_after_their_files_or_by_name():
    assert pre.corpus_list(["data/news.tsv.gz", "euro=x/ep.tsv"]) == [("news", "data/news.tsv.gz"),
                                                                     ("euro", "x/ep.tsv")]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.text("ab ,.", min_size=1, max_size=8), st.text("xy .", min_size=1, max_size=8)),
                min_size=1, max_size=30), st.integers(1, 9))
def test_any_corpus_and_chunking_encode_as_the_text_path(tmp_path_factory, pairs, chunk):
    tmp = tmp_path_factory.mktemp("prop")
    pairs = [(s, t) for s, t in pairs if s.strip() and t.strip()] or [("a", "x")]
    (tmp / "train.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs))
    (tmp / "valid.tsv").write_text("a\tx\n")
    cfg = build_config(overrides={"data.train": str(tmp / "train.tsv"), "data.valid": str(tmp / "valid.tsv"),
                                  "data.max_source_length": 3})
    files = {"train": [("t", str(tmp / "train.tsv"))], "valid": [("v", str(tmp / "valid.tsv"))]}
    source, target, train, _ = _text_path(cfg)
    if not train:
        with pytest.raises(ConfigError, match="no training pairs left"):
            pre.preprocess(cfg, files, tmp / "data", chunk_size=chunk, progress=False)
        return
    pre.preprocess(cfg, files, tmp / "data", chunk_size=chunk, progress=False)
    got_source, _, splits = open_preprocessed(cfg, tmp / "data")
    assert got_source.vocab == source.vocab and _all(splits["train"]) == train
    assert read_split(tmp / "train.tsv", cfg)  # the same file reads as text too


def test_several_corpora_keep_their_runs_and_weights_draw_their_shares(tmp_path):
    from seq2seq.data.sampling import epoch_sample, parse_weights

    _corpus(tmp_path / "news.tsv", 100, seed=1)
    _corpus(tmp_path / "web.tsv", 300, seed=2)
    _corpus(tmp_path / "valid.tsv", 10, seed=3)
    files = {"train": pre.corpus_list([str(tmp_path / "news.tsv"), f"crawl={tmp_path / 'web.tsv'}"]),
             "valid": [("valid", str(tmp_path / "valid.tsv"))]}
    cfg = build_config(overrides={"data.tokenizer": "word"})
    pre.preprocess(cfg, files, tmp_path / "data", chunk_size=64, workers=2, progress=False)
    train = open_preprocessed(cfg, tmp_path / "data")[2]["train"]
    assert [(c["name"], c["first"], c["pairs"]) for c in train.corpora] == [("news", 0, 100), ("crawl", 100, 300)]
    weights = parse_weights("news:3", train.corpora)
    assert weights == [3.0, 1.0]
    drawn = epoch_sample(train.corpora, weights, seed=1, epoch=0)
    news = int((drawn < 100).sum())
    assert len(drawn) == 400 and news == 300 and np.bincount(drawn[drawn < 100]).tolist() == [3] * 100
    assert len(set(drawn[drawn >= 100].tolist())) == 100  # the crawl subsampled without repeats
    assert not np.array_equal(np.sort(drawn), np.sort(epoch_sample(train.corpora, weights, seed=1, epoch=1)))
    assert np.array_equal(drawn, epoch_sample(train.corpora, weights, seed=1, epoch=0))
    for bad, message in (("blog:2", "no training corpus named 'blog'"), ("news", "expected name:weight"),
                         ("news:x", "must be a number"), ("news:0,crawl:0", "every weight is 0"),
                         ("news:-1", ">= 0")):
        with pytest.raises(ConfigError, match=message):
            parse_weights(bad, train.corpora)


def test_a_damaged_or_unfinished_directory_is_named(tmp_path, monkeypatch):
    files = _files(tmp_path, 60)
    pre.preprocess(_cfg(tmp_path), files, tmp_path / "data", chunk_size=20, progress=False)
    (tmp_path / "data" / "train" / "00001.target.offsets.npy").unlink()
    with pytest.raises(ConfigError, match="damaged preprocessed directory"):
        open_preprocessed(_cfg(tmp_path), tmp_path / "data")
    monkeypatch.setattr(pre, "_vocabularies", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        pre.preprocess(_cfg(tmp_path), files, tmp_path / "other", progress=False)
    with pytest.raises(ConfigError, match=r"other.partial holds an interrupted preprocessing: run the same"):
        read_manifest(tmp_path / "other")
