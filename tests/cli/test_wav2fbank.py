"""`seq2seq features wav2fbank`: WAV files to log-mel filterbanks in an .npz or a directory of .npy files."""

import wave

import numpy as np
import pytest

from seq2seq.cli import main
from seq2seq.data.audio import AudioError, wav_to_fbank, write_wav
from seq2seq.data.feature_files import read_feature_pairs


def _sine_wav(path, rate=16000, seconds=0.5, hz=1000.0):
    t = np.arange(int(rate * seconds)) / rate
    write_wav(path, 0.5 * np.sin(2 * np.pi * hz * t), rate)


def test_cli_wav2fbank_npz_dir_and_errors(tmp_path, capsys):
    for i, hz in enumerate((300.0, 2000.0)):
        _sine_wav(tmp_path / f"a{i}.wav", hz=hz, seconds=0.3 + 0.2 * i)
    (tmp_path / "t.txt").write_text("low\nhigh\n")
    wavs = [str(tmp_path / "a0.wav"), str(tmp_path / "a1.wav")]
    assert main(["features", "wav2fbank", *wavs, "--out", str(tmp_path / "f.npz"),
                 "--targets", str(tmp_path / "t.txt")]) == 0
    pairs, _ = read_feature_pairs(tmp_path / "f.npz", "features", "tokens")
    assert [p[0].shape for p in pairs] == [(28, 80), (48, 80)] and [p[1] for p in pairs] == ["low", "high"]
    assert np.array_equal(pairs[1][0], wav_to_fbank(tmp_path / "a1.wav"))
    assert main(["features", "wav2fbank", *wavs, "--out", str(tmp_path / "dir"), "--mels", "40"]) == 0
    assert np.load(tmp_path / "dir" / "a1.npy").shape == (48, 40)
    (tmp_path / "x.wav").write_text("not audio")
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(800))
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "cut.wav").write_bytes((tmp_path / "a0.wav").read_bytes()[:20])
    capsys.readouterr()
    for name, message in (("x.wav", "x.wav: not a PCM WAV file (file does not start with RIFF id)"),
                          ("empty.wav", "empty.wav: not a PCM WAV file (empty or cut short)"),
                          ("cut.wav", "cut.wav: not a PCM WAV file (empty or cut short)"),
                          ("8bit.wav", "8bit.wav: 8-bit samples"), ("none.wav", "none.wav: file not found"),
                          ("dir", "dir: is a directory, not a WAV file")):
        assert main(["features", "wav2fbank", str(tmp_path / name), "--out", str(tmp_path / "o.npz")]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(AudioError, match="8bit.wav"):
        wav_to_fbank(tmp_path / "8bit.wav")


def test_targets_must_match_the_files_and_need_an_npz(tmp_path, capsys):
    _sine_wav(tmp_path / "a.wav")
    (tmp_path / "t.txt").write_text("one\ntwo\n")
    assert main(["features", "wav2fbank", str(tmp_path / "a.wav"), "--out", str(tmp_path / "f.npz"),
                 "--targets", str(tmp_path / "t.txt")]) == 2
    assert "t.txt: 2 lines for 1 WAV files" in capsys.readouterr().err
    (tmp_path / "t.txt").write_text("one\n")
    assert main(["features", "wav2fbank", str(tmp_path / "a.wav"), "--out", str(tmp_path / "dir"),
                 "--targets", str(tmp_path / "t.txt")]) == 2
    assert "--targets needs --out FILE.npz" in capsys.readouterr().err
