"""Data-parallel training with torch.distributed (torchrun sets the environment; gloo on CPU, nccl on CUDA)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


def thread_count(requested: int) -> int:
    """Torch threads for this process: `requested`, or for 0 the host's cores shared among its torchrun
    processes (LOCAL_WORLD_SIZE); more threads than cores slows LSTMs sharply."""
    if requested:
        return requested
    # The cores this process may run on (taskset, cgroups' cpusets), not all the host's.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, metrics and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1


def init_world(device: torch.device) -> World:
    """Join the process group torchrun describes (WORLD_SIZE > 1), else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def shard(batch: list[int], world: World) -> list[int]:
    """This rank's share of a global batch (every rank gets one, so step counts stay equal)."""
    return batch[world.rank::world.size] if world.distributed else batch


def all_sum(values: list[float], world: World) -> list[float]:
    """Element-wise sum of a few numbers over all ranks."""
    if not world.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def gather_tensor(t: torch.Tensor, world: World) -> list[torch.Tensor]:
    """Every rank's copy of a same-shaped tensor (e.g. RNG states), on every rank."""
    if not world.distributed:
        return [t]
    out = [torch.empty_like(t) for _ in range(world.size)]
    dist.all_gather(out, t)
    return out


def barrier(world: World) -> None:
    """Wait for every rank."""
    if world.distributed:
        dist.barrier()


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's value (e.g. an evaluation record), on every rank."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown(world: World) -> None:
    """Leave the process group."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()
