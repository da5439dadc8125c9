"""`seq2seq preprocess` of feature data (.npz/CSV): frames in one flat float32 array per chunk, memory-mapped,
encoded exactly as the npz/CSV path encodes them (statistics streamed, the same bits); bad input named by file and
sequence or line with nothing left behind; an interrupted run finished chunk by chunk."""

import errno

import numpy as np
import pytest

from seq2seq import build_config
from seq2seq.config import ConfigError
from seq2seq.data import feature_shards
from seq2seq.data import preprocess as pre
from seq2seq.data.corpus import build_sides, encode_pairs, load_splits
from seq2seq.data.datasets import DataError
from seq2seq.data.feature_files import write_npz
from seq2seq.data.shards import open_preprocessed

SPEECH = {"data.source_type": "features", "data.target_type": "tokens", "data.tokenizer": "char",
          "model.embedding_size": 8, "model.encoder_hidden": 16, "model.decoder_hidden": 16}


def _speech(path, n, seed, dim=3):
    rng = np.random.default_rng(seed)
    words = ["ab", "ba", "abc", "cab", "b", "ca", "zz"]
    sources = [(rng.normal(size=(int(rng.integers(2, 12)), dim)) * [1, 10, 100][:dim] + 5).astype(np.float32)
               for _ in range(n)]
    write_npz(path, sources, [" ".join(rng.choice(words, int(rng.integers(1, 4)))) for _ in range(n)])
    return str(path)


def _series(path, n, seed):
    """CSV of a scalar series (source) and the next steps (target), one pair per line."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        values = np.cumsum(rng.normal(size=int(rng.integers(3, 15))))
        lines.append(" ".join(f"{v:.4f}" for v in values) + "," + " ".join(f"{v:.4f}" for v in values[-3:] + 1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _setup(tmp_path, overrides, maker, suffix, n=90):
    files = {"train": maker(tmp_path / f"train.{suffix}", n, 1), "valid": maker(tmp_path / f"valid.{suffix}", 20, 2),
             "test": maker(tmp_path / f"test.{suffix}", 10, 3)}
    cfg = build_config(overrides={**overrides, **{f"data.{k}": v for k, v in files.items()}})
    return cfg, {split: [(split, path)] for split, path in files.items()}


def _text_path(cfg):
    splits = load_splits(cfg)
    source, target = build_sides(cfg, splits["train"])
    d = cfg.data
    return source, target, {"train": encode_pairs(splits["train"], source, target, d.max_source_length,
                                                  d.max_target_length),
                            "valid": encode_pairs(splits["valid"], source, target, label="valid"),
                            "test": encode_pairs(splits["test"], source, target, label="test")}


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    return a == b


def _assert_equal_splits(cfg, data):
    source, target, expected = _text_path(cfg)
    mapped_source, mapped_target, splits = open_preprocessed(cfg, data)
    for side, mapped in ((source, mapped_source), (target, mapped_target)):
        if side.kind == "features":
            assert side.dim == mapped.dim and (side.mean is None) == (mapped.mean is None)
            if side.mean is not None:
                assert side.mean.tobytes() == mapped.mean.tobytes() and side.std.tobytes() == mapped.std.tobytes()
        else:
            assert side.vocab.tokens == mapped.vocab.tokens
    for split, pairs in expected.items():
        got = splits[split].take(np.arange(len(splits[split])))
        assert len(got) == len(pairs)
        assert all(_same(a, b) for x, y in zip(got, pairs) for a, b in zip(x, y)), split
    return splits


@pytest.mark.parametrize("chunk", [7, 50_000])
@pytest.mark.parametrize("reverse", [False, True])
def test_speech_npz_encodes_as_the_npz_path(tmp_path, chunk, reverse):
    cfg, corpora = _setup(tmp_path, {**SPEECH, "data.reverse_source": reverse, "data.max_source_length": 9},
                          _speech, "npz")
    manifest = pre.preprocess(cfg, corpora, tmp_path / "data", chunk_size=chunk, progress=False)
    assert manifest["source"] == {"type": "features", "dim": 3} and manifest["splits"]["train"]["dropped"] > 0
    splits = _assert_equal_splits(cfg, tmp_path / "data")
    frames = splits["train"].shards[0][0]
    assert isinstance(frames, np.memmap) and frames.dtype == np.float32 and frames.ndim == 2 and frames.shape[1] == 3
    assert splits["valid"].references(np.arange(3)) == [str(t) for t in np.load(tmp_path / "valid.npz")["target"][:3]]


def test_a_series_csv_with_both_sides_features_encodes_as_the_csv_path(tmp_path):
    series = {"data.source_type": "features", "data.target_type": "features", "data.max_source_length": 12}
    cfg, corpora = _setup(tmp_path, series, _series, "csv")
    pre.preprocess(cfg, corpora, tmp_path / "data", chunk_size=16, progress=False)
    splits = _assert_equal_splits(cfg, tmp_path / "data")
    assert splits["valid"].texts is None  # vector targets keep no reference lines: they are scored as vectors


def test_without_feature_norm_the_frames_are_read_as_they_are(tmp_path):
    overrides = {**SPEECH, "model.feature_norm": False}
    cfg, corpora = _setup(tmp_path, overrides, _speech, "npz")
    pre.preprocess(build_config(overrides={**SPEECH, **{f"data.{k}": v[0][1] for k, v in corpora.items()}}), corpora,
                   tmp_path / "data", progress=False)
    _assert_equal_splits(cfg, tmp_path / "data")  # the same directory serves both settings


def test_a_bad_csv_line_is_named_and_nothing_is_left_behind(tmp_path):
    cfg, corpora = _setup(tmp_path, {"data.source_type": "features", "data.target_type": "features"}, _series, "csv")
    lines = (tmp_path / "valid.csv").read_text().splitlines()
    lines[2] = "1 2 x,3"
    (tmp_path / "valid.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"valid\.csv:3: source: not a number"):
        pre.preprocess(cfg, corpora, tmp_path / "data", progress=False)
    assert not (tmp_path / "data").exists() and not (tmp_path / "data.partial").exists()


def test_a_bad_npz_key_or_vector_size_is_named(tmp_path):
    cfg, corpora = _setup(tmp_path, SPEECH, _speech, "npz")
    np.savez(tmp_path / "valid.npz", source=np.zeros((2, 3, 3), np.float32))
    with pytest.raises(DataError, match=r"valid\.npz: no array 'target'"):
        pre.preprocess(cfg, corpora, tmp_path / "data", progress=False)
    _speech(tmp_path / "valid.npz", 20, 2, dim=2)
    with pytest.raises(DataError, match=r"valid\.npz: source: vector size 2, expected 3 \(as in the first file\)"):
        pre.preprocess(cfg, corpora, tmp_path / "data", progress=False)
    assert not (tmp_path / "data").exists() and not (tmp_path / "data.partial").exists()
    with pytest.raises(DataError, match=r"missing\.npz: file not found"):
        pre.preprocess(cfg, {**corpora, "test": [("test", str(tmp_path / "missing.npz"))]}, tmp_path / "data",
                       progress=False)


def test_an_interrupted_feature_run_finishes_without_encoding_the_done_chunks_again(tmp_path, monkeypatch):
    cfg, corpora = _setup(tmp_path, SPEECH, _speech, "npz")
    save, calls = feature_shards.save_array, {"n": 0}

    def failing(path, array):
        calls["n"] += 1
        if calls["n"] == 20:  # the last array of the fourth chunk of 10 pairs (5 each)
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        save(path, array)

    monkeypatch.setattr(feature_shards, "save_array", failing)
    with pytest.raises(OSError, match="run the same command to finish"):
        pre.preprocess(cfg, corpora, tmp_path / "data", chunk_size=10, progress=False)
    assert (tmp_path / "data.partial").is_dir() and not (tmp_path / "data").exists()
    monkeypatch.setattr(feature_shards, "save_array", save)
    done = []
    real = feature_shards._Pass1.chunk
    monkeypatch.setattr(feature_shards._Pass1, "chunk", lambda self, split, index, *a: done.append((split, index))
                        or real(self, split, index, *a))
    pre.preprocess(cfg, corpora, tmp_path / "data", chunk_size=10, progress=False)
    assert done[0] == ("train", 3)
    _assert_equal_splits(cfg, tmp_path / "data")


def test_several_feature_files_join_into_one_split_and_workers_are_not_needed(tmp_path):
    cfg, corpora = _setup(tmp_path, SPEECH, _speech, "npz")
    extra = _speech(tmp_path / "more.npz", 30, 7)
    manifest = pre.preprocess(cfg, {**corpora, "train": corpora["train"] + [("more", extra)]}, tmp_path / "data",
                              workers=2, chunk_size=25, progress=False)
    corpora_entry = manifest["splits"]["train"]["corpora"]
    assert [(c["name"], c["first"], c["pairs"]) for c in corpora_entry] == [("train", 0, 90), ("more", 90, 30)]
    assert manifest["workers"] == 1


def test_a_feature_directory_refuses_other_side_types(tmp_path):
    cfg, corpora = _setup(tmp_path, SPEECH, _speech, "npz")
    pre.preprocess(cfg, corpora, tmp_path / "data", progress=False)
    with pytest.raises(ConfigError, match="data.source_type"):
        open_preprocessed(build_config(overrides={"data.tokenizer": "char"}), tmp_path / "data")
