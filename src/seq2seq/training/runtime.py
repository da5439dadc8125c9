"""Where and how a run computes: device, threads, the process world, mixed precision."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from ..config import Config, ConfigError
from ..config.validation import check_device
from ..kernels.allocator import keep_freed_memory
from ..models.precision import cpu_bf16_lstm_supported
from .distributed import World, init_world, thread_count

log = logging.getLogger("seq2seq")


def pick_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: bad value {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but no CUDA device is available")
    return device


@dataclass(frozen=True)
class Runtime:
    """The resolved device and this process's place among the training processes."""

    device: torch.device
    world: World
    precision: str

    def autocast(self) -> Any:
        """The autocast context of train.precision (a disabled one for fp32)."""
        if self.precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if self.precision == "bf16" else torch.float16)


def start_runtime(cfg: Config) -> Runtime:
    """Set the thread count and the allocator, resolve the device, join the torchrun world, check the precision."""
    t = cfg.train
    torch.set_num_threads(thread_count(t.threads))
    keep_freed_memory()
    device = pick_device(t.device)
    world = init_world(device)
    if world.distributed and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    check_device(cfg, device.type)
    if t.precision == "bf16" and device.type == "cpu" and not cpu_bf16_lstm_supported():
        log.warning("train.precision=bf16: this CPU lacks the AVX-512 BF16 instructions oneDNN needs for "
                    "bf16 LSTMs; LSTM layers run in fp32, the rest in bf16 (slower than on a CPU with them)")
    return Runtime(device, world, t.precision)
