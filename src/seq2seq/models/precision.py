"""Which low-precision kernels this machine can run: bf16 LSTMs on CPU need oneDNN's AVX-512 BF16 path."""

from __future__ import annotations

import functools

import torch


@functools.cache
def cpu_bf16_lstm_supported() -> bool:
    """Whether `nn.LSTM` runs under CPU bf16 autocast here (probed once with a tiny LSTM).

    oneDNN has bf16 LSTM primitives only for CPUs with AVX-512 BF16 (or AMX); on AVX2-only CPUs it
    raises "could not create a primitive descriptor for the LSTM", so such LSTMs run in fp32 instead.
    """
    lstm = torch.nn.LSTM(4, 4, batch_first=True)
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            lstm(torch.zeros(1, 2, 4))
    except RuntimeError:
        return False
    return True


def lstm_needs_fp32(x: torch.Tensor) -> bool:
    """True when an LSTM over `x` runs under CPU bf16 autocast that this CPU cannot execute."""
    return (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not cpu_bf16_lstm_supported())
