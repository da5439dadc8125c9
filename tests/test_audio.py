"""Speech features: WAV reading and writing, mel filters, log-mel filterbanks."""

import wave

import numpy as np
import pytest

from seq2seq.data.audio import AudioError, log_mel_fbank, mel_filters, read_wav, wav_to_fbank, write_wav


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


def test_higher_tones_peak_in_higher_filters(tmp_path):
    peaks = []
    for hz in (300.0, 1000.0, 3000.0):
        _sine_wav(tmp_path / "t.wav", hz=hz)
        peaks.append(int(wav_to_fbank(tmp_path / "t.wav", n_mels=40).mean(0).argmax()))
    assert peaks == sorted(peaks) and len(set(peaks)) == 3


def test_wav_round_trip_clips_and_averages_channels(tmp_path):
    samples = np.array([0.0, 0.5, -0.5, 2.0, -2.0])
    write_wav(tmp_path / "a.wav", samples, 8000)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and back.dtype == np.float32
    assert np.allclose(back, [0.0, 0.5, -0.5, 1 - 1 / 32768, -1.0], atol=1 / 32768)
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.array([1000, 3000, -2000, 0], dtype="<i2").tobytes())
    stereo, _ = read_wav(tmp_path / "stereo.wav")
    assert np.allclose(stereo, [2000 / 32768, -1000 / 32768])


def test_short_inputs_give_one_frame_and_bad_rates_are_named(tmp_path):
    assert log_mel_fbank(np.ones(10), 16000, n_mels=20).shape == (1, 20)
    with pytest.raises(ValueError, match="too low"):
        log_mel_fbank(np.ones(10), 50)
    write_wav(tmp_path / "empty.wav", np.zeros(0), 16000)
    with pytest.raises(AudioError, match="empty.wav: no samples"):
        wav_to_fbank(tmp_path / "empty.wav")
    _sine_wav(tmp_path / "low.wav", rate=2000)  # the filters stop at the Nyquist frequency of any rate
    assert wav_to_fbank(tmp_path / "low.wav", n_mels=10).shape[1] == 10


def test_mel_filters_are_triangles_covering_the_range():
    f = mel_filters(10, 512, 16000)
    assert f.shape == (10, 257) and f.dtype == np.float32
    assert (f >= 0).all() and (f <= 1).all() and (f.max(1) > 0.9).all()  # peaks fall between FFT bins
    centres = f.argmax(1)
    assert (np.diff(centres) > 0).all()
    with pytest.raises(ValueError, match="does not fit a sample rate"):
        mel_filters(10, 512, 16000, low_hz=100, high_hz=9000)
