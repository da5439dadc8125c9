"""Precision probes: whether this CPU runs LSTMs under bf16 autocast, and when an LSTM must run in fp32."""

import pytest
import torch

from seq2seq.models import precision
from seq2seq.models.rnn import StackedRNN


def test_probe_returns_a_bool_and_is_cached():
    supported = precision.cpu_bf16_lstm_supported()
    assert isinstance(supported, bool)
    assert precision.cpu_bf16_lstm_supported() is supported


def test_fp32_is_needed_only_under_cpu_bf16_autocast(monkeypatch):
    x = torch.zeros(1, 2, 4)
    monkeypatch.setattr(precision, "cpu_bf16_lstm_supported", lambda: False)
    assert precision.lstm_needs_fp32(x) is False  # no autocast
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=False):
        assert precision.lstm_needs_fp32(x) is False
    with torch.autocast("cpu", dtype=torch.float16):
        assert precision.lstm_needs_fp32(x) is False
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert precision.lstm_needs_fp32(x) is True
    monkeypatch.setattr(precision, "cpu_bf16_lstm_supported", lambda: True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert precision.lstm_needs_fp32(x) is False


@pytest.mark.parametrize("supported", [False, True])
def test_lstm_under_bf16_autocast(monkeypatch, supported):
    if supported and not precision.cpu_bf16_lstm_supported():
        pytest.skip("this CPU has no bf16 LSTM kernel (AVX-512 BF16 or AMX)")
    monkeypatch.setattr(precision, "cpu_bf16_lstm_supported", lambda: supported)
    torch.manual_seed(0)
    rnn = StackedRNN("lstm", 4, 6, 2).eval()
    x = torch.randn(2, 3, 4)
    with torch.no_grad():
        reference, _ = rnn(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out, _ = rnn(x.bfloat16(), None, (torch.zeros(2, 2, 6), torch.zeros(2, 2, 6)))
    # without the kernel the stack runs in fp32 (so matches fp32 closely); with it, in bf16
    assert out.dtype == (torch.bfloat16 if supported else torch.float32)
    torch.testing.assert_close(out.float(), reference, atol=3e-2 if supported else 1e-2, rtol=0)
