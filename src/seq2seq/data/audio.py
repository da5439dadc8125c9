"""Speech features: 16-bit PCM WAV files -> log-mel filterbanks (numpy STFT; no torchaudio needed).

The recipe is the usual ASR front end: 25 ms Hamming frames every 10 ms, DC removal and pre-emphasis
(0.97) per frame, power spectrum, triangular filters equally spaced on the mel scale (HTK formula),
natural log floored at 1e-10.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np


class AudioError(ValueError):
    """A WAV file that cannot be read; the message starts with the file's path."""


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1) as float32 (channels averaged) and the sample rate, with the standard `wave` module."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate, frames = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            if width != 2:
                raise AudioError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is read (convert it, "
                                 f"e.g. `sox IN -b 16 OUT.wav`)")
            raw = w.readframes(frames)
    except FileNotFoundError:
        raise AudioError(f"{path}: file not found") from None
    except (wave.Error, EOFError) as e:
        raise AudioError(f"{path}: not a PCM WAV file ({str(e) or 'empty or cut short'})") from None
    except IsADirectoryError:
        raise AudioError(f"{path}: is a directory, not a WAV file") from None
    except OSError as e:
        raise AudioError(f"{path}: cannot read ({e.strerror or e})") from None
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(1)
    return samples, rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> None:
    """Write mono float samples in [-1, 1] as 16-bit PCM."""
    pcm = (np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0 - 1 / 32768) * 32768).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def _mel(hz: np.ndarray) -> np.ndarray:
    return 1127.0 * np.log1p(hz / 700.0)


def _hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * np.expm1(mel / 1127.0)


def mel_filters(n_mels: int, n_fft: int, rate: int, low_hz: float = 20.0, high_hz: float | None = None) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters equally spaced on the mel scale."""
    high_hz = rate / 2 if high_hz is None else high_hz
    if not 0 <= low_hz < high_hz <= rate / 2:
        raise ValueError(f"mel range {low_hz}-{high_hz} Hz does not fit a sample rate of {rate} Hz")
    edges = _mel(np.array([low_hz, high_hz]))
    centres = _mel(_hz(np.linspace(edges[0], edges[1], n_mels + 2)))
    bins = _mel(np.arange(n_fft // 2 + 1) * rate / n_fft)
    left, mid, right = centres[:-2, None], centres[1:-1, None], centres[2:, None]
    up = (bins[None] - left) / (mid - left)
    down = (right - bins[None]) / (right - mid)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def log_mel_fbank(samples: np.ndarray, rate: int, n_mels: int = 80, frame_ms: float = 25.0,
                  shift_ms: float = 10.0, preemphasis: float = 0.97) -> np.ndarray:
    """(T, n_mels) float32 log-mel filterbank energies; T = 1 + (len - frame) // shift (at least 1)."""
    frame = int(round(rate * frame_ms / 1000))
    shift = int(round(rate * shift_ms / 1000))
    if frame < 2 or shift < 1:
        raise ValueError(f"a sample rate of {rate} Hz is too low for {frame_ms} ms frames")
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < frame:
        x = np.pad(x, (0, frame - len(x)))
    count = 1 + (len(x) - frame) // shift
    idx = np.arange(frame)[None, :] + shift * np.arange(count)[:, None]
    frames = x[idx]
    frames -= frames.mean(1, keepdims=True)
    frames[:, 1:] -= preemphasis * frames[:, :-1].copy()
    frames[:, 0] *= 1 - preemphasis
    n_fft = 1 << math.ceil(math.log2(frame))
    power = np.abs(np.fft.rfft(frames * np.hamming(frame), n=n_fft)) ** 2
    energies = power @ mel_filters(n_mels, n_fft, rate).T
    return np.log(np.maximum(energies, 1e-10)).astype(np.float32)


def wav_to_fbank(path: str | Path, n_mels: int = 80, frame_ms: float = 25.0, shift_ms: float = 10.0) -> np.ndarray:
    """A WAV file's (T, n_mels) log-mel filterbank; errors name the file."""
    samples, rate = read_wav(path)
    if len(samples) == 0:
        raise AudioError(f"{path}: no samples")
    try:
        return log_mel_fbank(samples, rate, n_mels, frame_ms, shift_ms)
    except ValueError as e:
        raise AudioError(f"{path}: {e}") from None


def espeak_available() -> bool:
    """Whether Debian's `espeak-ng` speech synthesiser is on the PATH."""
    import shutil

    return shutil.which("espeak-ng") is not None


def synthesise(text: str, path: str | Path, voice: str = "en-us", speed: int = 160, pitch: int = 50) -> None:
    """Speak `text` into a 16-bit WAV with espeak-ng (voice e.g. en, en-us, en-gb, en-us+f3; speed in
    words per minute; pitch 0-99). For building test corpora; raises RuntimeError naming the failure."""
    import subprocess

    cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(path), text]
    try:
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise RuntimeError("espeak-ng is not installed (Debian: apt-get install espeak-ng)") from None
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"espeak-ng failed for {text!r} ({voice}): {e.stderr.decode(errors='replace')}") from None
