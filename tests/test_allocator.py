"""The allocator setting: taken on glibc, a no-op elsewhere, and safe to ask for twice."""

import platform

import torch

from seq2seq.kernels import allocator


def test_keep_freed_memory_takes_effect_on_glibc_and_is_idempotent():
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert allocator.keep_freed_memory() is glibc
    assert allocator.keep_freed_memory() is glibc
    big = torch.ones(3000, 3000)  # 36 MB: past glibc's largest mmap threshold
    del big
    assert float(torch.ones(3000, 3000).sum()) == 9e6
