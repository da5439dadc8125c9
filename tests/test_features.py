"""Continuous sequences and speech: feature files, normalisation, feature encoder/decoder, tasks, wav2fbank."""

import json
import math
import wave

import numpy as np
import pytest
import torch

import seq2seq
from seq2seq.audio import AudioError, espeak_available, log_mel_fbank, synthesise, wav_to_fbank, write_wav
from seq2seq.cli import main
from seq2seq.config import ConfigError, build_config
from seq2seq.data.features import (FeatureDataError, FeatureSide, collate_mixed, format_sequence, parse_sequence,
                                   read_feature_pairs, write_npz)
from seq2seq.data.tasks import generate_splits
from seq2seq.feature_eval import char_error_rate, levenshtein
from seq2seq.models import build_model
from seq2seq.models.features import halve

SMALL = {"model.embedding_size": 32, "model.encoder_hidden": 64, "model.decoder_hidden": 64,
         "train.batch_size": 32, "train.threads": 1, "train.schedule": "linear"}


# --- data files ---

def test_csv_notation_round_trips():
    assert parse_sequence("1 2 3").shape == (3, 1)
    assert parse_sequence("1 2 3;").shape == (1, 3)
    seq = parse_sequence(" 0.5 1; 2 3 ;4 5 ")
    assert seq.tolist() == [[0.5, 1], [2, 3], [4, 5]]
    assert np.allclose(parse_sequence(format_sequence(seq)), seq)
    with pytest.raises(ValueError, match="step 1 has 1 values"):
        parse_sequence("1 2; 3")


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
             "cols.csv": ("1 2,1\n1 2\n", r"cols\.csv:2: source: expected `source,target`"),
             "word.csv": ("1 x,1\n", r"word\.csv:1: source: not a number \('x'\)")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FeatureDataError, match=message):
            read_feature_pairs(tmp_path / name, "features", "features")
    pairs, skipped = read_feature_pairs(tmp_path / "nan.csv", "features", "features", skip_invalid=True)
    assert len(pairs) == 1 and len(skipped) == 1 and "nan.csv:2" in skipped[0]


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


def test_normalisation_fitted_saved_and_undone(tmp_path):
    train = [np.array([[1.0, 10.0], [3.0, 10.0]]), np.array([[5.0, 10.0]])]
    side = FeatureSide.fit(train, normalise=True)
    assert np.allclose(side.mean, [3.0, 10.0]) and np.allclose(side.std, [math.sqrt(8 / 3), 1.0])
    enc = side.encode(train[0])
    assert enc.dtype == np.float32 and np.allclose(enc[:, 1], 0.0)
    assert np.allclose(side.decode(enc), train[0])
    side.save(tmp_path, "target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target.features.json", "target.features.safetensors"]
    again = FeatureSide.load(tmp_path, "target")
    assert np.allclose(again.mean, side.mean) and again.dim == 2
    with pytest.raises(ValueError, match="vector size 3, expected 2"):
        side.encode(np.zeros((2, 3)))
    raw = FeatureSide.fit(train, normalise=False, reverse=True)
    assert raw.mean is None and raw.encode(train[0]).tolist() == [[3.0, 10.0], [1.0, 10.0]]


# --- config ---

def test_feature_config_keys_and_validation():
    cfg = build_config(overrides={"data.task": "keras-example"})
    assert (cfg.data.source_type, cfg.data.target_type) == ("features", "features")
    assert build_config(overrides={"data.task": "sine"}).data.target_length == 10
    # A task's own settings lie under every layer: an explicit value wins, even one equal to the default.
    assert build_config(overrides={"data.task": "sine", "data.target_length": 4}).data.target_length == 4
    assert build_config(overrides={"data.task": "sine", "data.train_size": 45000}).data.train_size == 45000
    las = build_config("las")
    assert las.model.pyramid_layers == 3 and las.data.source_type == "features" and las.model.attention == "concat"
    for overrides, key in (({"model.pyramid_layers": 2}, "model.pyramid_layers"),
                           ({"model.stop_flag": True}, "model.stop_flag"),
                           ({"data.target_length": 4}, "data.target_length"),
                           ({"data.task": "sine", "decode.strategy": "beam"}, "decode.strategy"),
                           ({"data.task": "sine", "decode.feature_length": "stop"}, "model.stop_flag"),
                           ({"data.task": "sine", "train.early_stopping_metric": "valid_bleu"},
                            "train.early_stopping_metric"),
                           ({"data.task": "keras-example", "model.tie_embeddings": True}, "model.tie_embeddings"),
                           ({"train.feature_loss": "huber"}, "train.feature_loss"),
                           ({"data.task": "keras-example", "data.source_type": "tokens"}, "data.source_type"),
                           ({"data.task": "addition", "data.target_type": "features"}, "data.target_type")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            build_config(overrides=overrides)


# --- models ---

def test_halve_pairs_steps_and_ignores_padding():
    x = torch.arange(1.0, 6.0).view(1, 5, 1)
    y, n = halve(x, torch.tensor([5]))
    assert n.tolist() == [3] and y[0].tolist() == [[1, 2], [3, 4], [5, 0]]
    y, n = halve(x, torch.tensor([3]))
    assert n.tolist() == [2] and y[0, 1].tolist() == [3, 0]


@pytest.mark.parametrize("overrides", [
    {"model.pyramid_layers": 2, "model.bidirectional": True, "model.attention": "concat",
     "model.input_feeding": True, "model.bridge": "linear", "data.target_type": "tokens"},
    {"model.attention": "general", "model.feed_context": "peeky", "data.target_type": "features",
     "model.stop_flag": True},
])
def test_padding_invariance_for_feature_inputs(overrides):
    torch.manual_seed(0)
    cfg = build_config(overrides={"data.source_type": "features", "model.embedding_size": 8,
                                  "model.encoder_hidden": 16, "model.decoder_hidden": 16, **overrides})
    features_out = cfg.data.target_type == "features"
    model = build_model(cfg, 5, 3 if features_out else 12).eval()
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=(n, 5)).astype(np.float32),
              rng.normal(size=(m, 3)).astype(np.float32) if features_out else list(rng.integers(4, 12, m)))
             for n, m in ((7, 3), (2, 1), (13, 5))]
    batch = collate_mixed(pairs, source_features=True, target_features=features_out)
    with torch.no_grad():
        together = model(batch.src, batch.src_lengths, batch.tgt_in)
        loss_all, n_all = model.loss(together.logits, batch.tgt_out)
        total = 0.0
        for i, pair in enumerate(pairs):
            one = collate_mixed([pair], source_features=True, target_features=features_out)
            alone = model(one.src, one.src_lengths, one.tgt_in)
            steps = one.tgt_out.size(1)
            assert torch.allclose(alone.logits[0], together.logits[i, :steps], atol=1e-5)
            assert torch.allclose(alone.attention[0], together.attention[i, :steps, : alone.attention.size(2)],
                                  atol=1e-6)
            assert float(together.attention[i, :steps, alone.attention.size(2):].abs().sum()) == 0.0
            total += float(model.loss(alone.logits, one.tgt_out)[0])
    assert math.isclose(float(loss_all), total, rel_tol=1e-4)
    assert n_all == sum(len(t) + (0 if features_out else 1) for _, t in pairs)


# --- tasks, end to end ---

def _metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("name", ["keras-example", "sine"])
def test_feature_task_splits_held_out_deterministic_and_sized(name):
    splits = generate_splits(name, 1000, 200, 100, seed=7)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1000, "valid": 200, "test": 100}
    keys = [{s.tobytes() for s, _ in splits[k]} for k in ("train", "valid", "test")]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    same = lambda a, b: all(np.array_equal(x, y) for p, q in zip(a, b) for x, y in zip(p, q))  # noqa: E731
    assert same(generate_splits(name, 1000, 200, 100, seed=7)["train"], splits["train"])
    assert not same(generate_splits(name, 1000, 200, 100, seed=8)["train"], splits["train"])
    bigger = generate_splits(name, 2000, 200, 100, seed=7)
    assert same(bigger["valid"], splits["valid"]) and same(bigger["test"], splits["test"])
    source, target = splits["train"][0]
    assert source.dtype == np.float32 and source.ndim == 2 and target.ndim == 2
    if name == "keras-example":
        assert all(np.array_equal(t, s + 1) and np.all(np.diff(s[:, 0]) == 1) for s, t in splits["train"])
    else:
        assert source.shape == (40, 1) and target.shape == (10, 1)


def test_keras_example_learned_to_small_mae(tmp_path):
    splits = generate_splits("keras-example", 500, 50, 50, 1234)
    train_q = {s.tobytes() for s, _ in splits["train"]}
    assert not any(s.tobytes() in train_q for s, _ in splits["test"])  # held-out sequences
    run = tmp_path / "keras"
    cfg = build_config(overrides={"data.task": "keras-example", "train.epochs": 8, "train.lr": 0.003,
                                  "train.feature_loss": "l1", "model.attention": "general", **SMALL})
    seq2seq.train(cfg, run, quiet=True)
    test = json.loads((run / "test_metrics.json").read_text())
    assert test["test_mae"] < 0.05, test  # in the original units: the task's integers
    assert {"valid_loss", "valid_mae", "valid_rmse"} <= set(_metrics(run)[-1])
    model = seq2seq.load(run)
    out = model.predict([np.array([1.0, 2.0, 3.0]), "10 11 12 13"])
    assert out[0].shape == (3, 1) and np.abs(out[0][:, 0] - [2, 3, 4]).max() < 0.2
    assert np.abs(out[1][:, 0] - [11, 12, 13, 14]).max() < 0.2
    (tmp_path / "held.csv").write_text("".join(f"{format_sequence(s)},{format_sequence(t)}\n"
                                               for s, t in splits["test"][:20]))
    assert main(["eval", str(run), "--data", str(tmp_path / "held.csv")]) == 0
    assert (run / "predictions.tsv").read_text().startswith("source\treference\thypothesis\n")


def test_sine_forecast_beats_repeat_last_twice(tmp_path):
    run = tmp_path / "sine"
    cfg = build_config(overrides={"data.task": "sine", "train.epochs": 6, "train.lr": 0.005,
                                  "data.train_size": 2000, "data.valid_size": 100, "data.test_size": 200, **SMALL})
    seq2seq.train(cfg, run, quiet=True)
    test = generate_splits("sine", 2000, 100, 200, cfg.data.task_seed)["test"]
    baseline = np.sqrt(np.mean(np.concatenate([(t - s[-1:]).ravel() for s, t in test]) ** 2))
    rmse = json.loads((run / "test_metrics.json").read_text())["test_rmse"]
    assert rmse * 2 < baseline, (rmse, baseline)
    forecasts = seq2seq.load(run).predict([s for s, _ in test[:5]])
    assert all(f.shape == (10, 1) for f in forecasts)


# --- speech ---

def _sine_wav(path, rate=16000, seconds=0.5, hz=1000.0):
    t = np.arange(int(rate * seconds)) / rate
    write_wav(path, 0.5 * np.sin(2 * np.pi * hz * t), rate)


def test_fbank_of_a_tone_peaks_at_its_frequency(tmp_path):
    _sine_wav(tmp_path / "tone.wav")
    fbank = wav_to_fbank(tmp_path / "tone.wav")
    assert fbank.shape == (1 + (8000 - 400) // 160, 80) and fbank.dtype == np.float32
    quiet = log_mel_fbank(np.zeros(1600), 16000)
    assert np.isfinite(quiet).all()
    peak = int(fbank.mean(0).argmax())
    centres = 700 * np.expm1(np.linspace(1127 * np.log1p(20 / 700), 1127 * np.log1p(8000 / 700), 82) / 1127)[1:-1]
    assert abs(centres[peak] - 1000) < 100


def test_cli_wav2fbank_npz_dir_and_errors(tmp_path, capsys):
    for i, hz in enumerate((300.0, 2000.0)):
        _sine_wav(tmp_path / f"a{i}.wav", hz=hz, seconds=0.3 + 0.2 * i)
    (tmp_path / "t.txt").write_text("low\nhigh\n")
    wavs = [str(tmp_path / "a0.wav"), str(tmp_path / "a1.wav")]
    assert main(["features", "wav2fbank", *wavs, "--out", str(tmp_path / "f.npz"),
                 "--targets", str(tmp_path / "t.txt")]) == 0
    pairs, _ = read_feature_pairs(tmp_path / "f.npz", "features", "tokens")
    assert [p[0].shape for p in pairs] == [(28, 80), (48, 80)] and [p[1] for p in pairs] == ["low", "high"]
    assert main(["features", "wav2fbank", *wavs, "--out", str(tmp_path / "dir"), "--mels", "40"]) == 0
    assert np.load(tmp_path / "dir" / "a1.npy").shape == (48, 40)
    (tmp_path / "x.wav").write_text("not audio")
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(800))
    capsys.readouterr()
    for name, message in (("x.wav", "x.wav: not a PCM WAV file"), ("8bit.wav", "8bit.wav: 8-bit samples"),
                          ("none.wav", "none.wav: file not found")):
        assert main(["features", "wav2fbank", str(tmp_path / name), "--out", str(tmp_path / "o.npz")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(AudioError, match="8bit.wav"):
        wav_to_fbank(tmp_path / "8bit.wav")


def test_character_error_rate():
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3
    assert char_error_rate(["123", "45"], ["123", "456"]) == pytest.approx(1 / 6)


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (CI installs it)")
def test_tiny_spoken_digits_las(tmp_path):
    words = ["zero", "one", "two", "three"]
    voices = ["en-us", "en-gb"]
    feats, texts = [], []
    for i in range(24):
        digits = f"{i % 4}{(i // 4) % 4}"[: 1 + i % 2]
        synthesise(" ".join(words[int(d)] for d in digits), tmp_path / "u.wav", voices[i % 2], 140 + 10 * (i % 3))
        feats.append(wav_to_fbank(tmp_path / "u.wav"))
        texts.append(digits)
    write_npz(tmp_path / "train.npz", feats[:20], texts[:20])
    write_npz(tmp_path / "valid.npz", feats[20:], texts[20:])
    run = tmp_path / "las"
    cfg = build_config("las", overrides={"data.train": str(tmp_path / "train.npz"),
                                         "data.valid": str(tmp_path / "valid.npz"), "train.epochs": 2,
                                         "train.batch_size": 8, "train.threads": 1, "model.encoder_hidden": 32,
                                         "model.decoder_hidden": 32, "model.embedding_size": 16})
    seq2seq.train(cfg, run, quiet=True)
    last = _metrics(run)[-1]
    assert 0.0 <= last["valid_cer"] and "valid_exact_match" in last
    model = seq2seq.load(run)
    assert all(isinstance(t, str) for t in model.predict(feats[20:], beam=2))
    assert (run / "checkpoints" / "best" / "source.features.safetensors").is_file()
