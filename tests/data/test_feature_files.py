"""Feature files: the CSV notation, `.csv` and `.npz` readers with errors naming file and line/sequence,
and the pickle-free `.npz` writer."""

import numpy as np
import pytest

from seq2seq.data.datasets import DataError
from seq2seq.data.feature_files import (
    FeatureDataError,
    check_sequence,
    format_sequence,
    parse_sequence,
    read_feature_pairs,
    write_npz,
)


def test_csv_notation_round_trips():
    assert parse_sequence("1 2 3").shape == (3, 1)
    assert parse_sequence("1 2 3;").shape == (1, 3)
    seq = parse_sequence(" 0.5 1; 2 3 ;4 5 ")
    assert seq.tolist() == [[0.5, 1], [2, 3], [4, 5]]
    assert np.allclose(parse_sequence(format_sequence(seq)), seq)
    with pytest.raises(ValueError, match="step 1 has 1 values"):
        parse_sequence("1 2; 3")


@pytest.mark.parametrize("text, message", [
    ("", "empty sequence"), (" ; ", "empty vector at step 0"), ("1 2;;3 4", "empty vector at step 1"),
    ("1 two", r"not a number \('two'\)"),
])
def test_csv_notation_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_sequence(text)


def test_format_sequence():
    assert format_sequence(np.array([1.0, 2.5, 1 / 3])) == "1 2.5 0.3333"
    assert format_sequence(np.array([[1.0, 2.0], [3.0, 4.0]])) == "1 2; 3 4"
    assert format_sequence(np.array([[1.0, 2.0, 3.0]])) == "1 2 3"  # one vector reads back as a series:
    assert parse_sequence(format_sequence(np.array([[1.0, 2.0, 3.0]]))).shape == (3, 1)  # notation's limit


def test_check_sequence():
    out = check_sequence([1, 2, 3])
    assert out.dtype == np.float32 and out.shape == (3, 1)
    assert check_sequence(np.ones((2, 4), np.float64), dim=4).dtype == np.float32
    for value, message in ((np.array(["a"]), "expected numbers, got dtype <U1"),
                           (np.zeros((2, 2, 2)), r"expected a \(steps,\) or \(steps, dim\) array, got shape"),
                           (np.zeros((0, 2)), "empty sequence"),
                           (np.zeros((2, 3)), "vector size 3, expected 2"),
                           (np.array([[1.0, 2.0], [np.nan, 0.0]]), r"non-finite value \(nan\) at step 1")):
        with pytest.raises(ValueError, match=message):
            check_sequence(value, dim=2)


def test_csv_pairs_and_errors_name_file_and_line(tmp_path):
    (tmp_path / "a.csv").write_text("1 2 3,2 3 4\n4 5,5 6\n")
    pairs, skipped = read_feature_pairs(tmp_path / "a.csv", "features", "features")
    assert len(pairs) == 2 and pairs[1][1].tolist() == [[5], [6]] and not skipped
    (tmp_path / "text.csv").write_text("0.5 1; 2 3,hello, world\n")
    pairs, _ = read_feature_pairs(tmp_path / "text.csv", "features", "tokens")
    assert pairs[0][0].shape == (2, 2) and pairs[0][1] == "hello, world"
    cases = {"nan.csv": ("1 2,1 2\n1 nan 3,2 3\n", r"nan\.csv:2: source: non-finite value \(nan\) at step 1"),
             "inf.csv": ("1 2,1 2\n1 2,2 inf\n", r"inf\.csv:2: target: non-finite value \(inf\) at step 1"),
             "dim.csv": ("1 2;3 4,1\n1 2 3;,1\n", r"dim\.csv:2: source: vector size 3, expected 2"),
             "empty.csv": ("1 2,1\n ,1\n", r"empty\.csv:2: source: empty sequence"),
             "cols.csv": ("1 2,1\n1 2\n", r"cols\.csv:2: expected `source,target`"),
             "word.csv": ("1 x,1\n", r"word\.csv:1: source: not a number \('x'\)")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FeatureDataError, match=message):
            read_feature_pairs(tmp_path / name, "features", "features")
    pairs, skipped = read_feature_pairs(tmp_path / "nan.csv", "features", "features", skip_invalid=True)
    assert len(pairs) == 1 and len(skipped) == 1 and "nan.csv:2" in skipped[0]


def test_feature_errors_are_data_errors(tmp_path):
    (tmp_path / "x.tsv").write_text("1\t2\n")
    with pytest.raises(FeatureDataError, match=r"x\.tsv: feature data must be \.npz or \.csv") as err:
        read_feature_pairs(tmp_path / "x.tsv", "features", "features")
    assert isinstance(err.value, DataError) and err.value.path == str(tmp_path / "x.tsv")
    (tmp_path / "bad.csv").write_text("1 x,1\n")
    with pytest.raises(FeatureDataError, match=r"bad\.csv: no valid sequences"):
        read_feature_pairs(tmp_path / "bad.csv", "features", "features", skip_invalid=True)


def test_npz_ragged_padded_and_object_arrays(tmp_path):
    seqs = [np.arange(n * 2, dtype=np.float32).reshape(n, 2) for n in (3, 1, 4)]
    write_npz(tmp_path / "flat.npz", seqs, ["a", "bb", "ccc"])
    pairs, _ = read_feature_pairs(tmp_path / "flat.npz", "features", "tokens")
    assert [p[0].shape for p in pairs] == [(3, 2), (1, 2), (4, 2)] and pairs[2][1] == "ccc"
    assert np.array_equal(pairs[2][0], seqs[2])
    padded = np.zeros((3, 4, 2), np.float32)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
    np.savez(tmp_path / "pad.npz", source=padded, source_lengths=np.array([3, 1, 4]), target=padded[:, :2],
             target_lengths=np.array([2, 2, 1]))
    pairs, _ = read_feature_pairs(tmp_path / "pad.npz", "features", "features")
    assert np.array_equal(pairs[1][0], seqs[1]) and pairs[2][1].shape == (1, 2)
    obj = np.empty(3, dtype=object)
    obj[:] = seqs
    np.savez(tmp_path / "obj.npz", source=obj, target=obj)
    with pytest.raises(FeatureDataError, match="object array.*pickle.*data.npz_allow_pickle"):
        read_feature_pairs(tmp_path / "obj.npz", "features", "features")
    pairs, _ = read_feature_pairs(tmp_path / "obj.npz", "features", "features", allow_pickle=True)
    assert pairs[0][0].shape == (3, 2)
    bad = [s.copy() for s in seqs]
    bad[2][1, 0] = np.inf
    write_npz(tmp_path / "ok.npz", seqs, seqs)
    np.savez(tmp_path / "bad.npz", source=np.concatenate(bad), source_lengths=np.array([3, 1, 4]),
             target=np.concatenate(seqs), target_lengths=np.array([3, 1, 4]))
    with pytest.raises(FeatureDataError, match=r"bad\.npz: sequence 2: source: non-finite value \(inf\) at step 1"):
        read_feature_pairs(tmp_path / "bad.npz", "features", "features")
    with pytest.raises(FeatureDataError, match=r"no array 'target'"):
        np.savez(tmp_path / "missing.npz", source=np.zeros((2, 3)))
        read_feature_pairs(tmp_path / "missing.npz", "features", "features")
    with pytest.raises(FeatureDataError, match=r"empty sequence"):
        np.savez(tmp_path / "empty.npz", source=np.zeros(3), source_lengths=np.array([2, 0, 1]),
                 target=np.zeros(3), target_lengths=np.array([1, 1, 1]))
        read_feature_pairs(tmp_path / "empty.npz", "features", "features")


def test_write_npz_round_trips_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (2, 5, 1)]
    targets = [rng.normal(size=(n,)) for n in (4, 1, 2)]  # (L,) series are stored as (L, 1)
    write_npz(tmp_path / "d.npz", seqs, targets)
    with np.load(tmp_path / "d.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["source", "source_lengths", "target", "target_lengths"]
        assert data["source_lengths"].tolist() == [2, 5, 1]
    pairs, skipped = read_feature_pairs(tmp_path / "d.npz", "features", "features")
    assert not skipped
    for (s, t), s0, t0 in zip(pairs, seqs, targets):
        assert np.array_equal(s, s0) and np.allclose(t[:, 0], t0)
