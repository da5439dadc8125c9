"""The machine a process computes on, as the kernels see it: CPU model and instruction sets, cores, torch with its
BLAS and oneDNN, and the environment variables that restrict them. One line for every benchmark's header and the
run banner, and the fingerprint the kernel probe's cache is keyed by."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
from pathlib import Path

import torch

# Variables that change which kernels the libraries inside torch run (the AVX2 emulation sets the first three).
# OPENBLAS_CORETYPE and NPY_DISABLE_CPU_FEATURES restrict NumPy (the textbook's code in benchmarks/textbook.py).
RESTRICTIONS = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA",
                "MKL_CBWR", "MKL_DEBUG_CPU_TYPE", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")
# /proc/cpuinfo flags that decide the kernels' widths, and the names a reader knows them by.
ISA_FLAGS = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
             "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX", "amx_bf16": "AMX BF16", "amx_int8": "AMX INT8"}


@functools.cache
def _cpuinfo() -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in /proc/cpuinfo; elsewhere platform's name and no flags."""
    model, flags = "", frozenset()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not model:
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = frozenset(value.split())
            if model and flags:
                break
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), flags


def cpu_model() -> str:
    """The CPU's model name."""
    return _cpuinfo()[0]


def isa() -> list[str]:
    """The vector and matrix instruction sets this CPU reports, by their usual names (empty where unknown)."""
    flags = _cpuinfo()[1]
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def restrictions() -> dict[str, str]:
    """The set environment variables that restrict torch's libraries to fewer instructions."""
    return {k: os.environ[k] for k in RESTRICTIONS if os.environ.get(k)}


@functools.cache
def library_versions() -> dict[str, str]:
    """torch's version, its BLAS and oneDNN (from its build configuration), and the ATen kernels' capability."""
    shown = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", shown)
    mkl = re.search(r"Math Kernel Library Version ([\w.\-]+)", shown)
    onednn = re.search(r"MKL-DNN (v[\d.]+)", shown)
    out = {"torch": torch.__version__, "blas": (blas.group(1) if blas else "unknown")}
    if mkl and out["blas"] == "mkl":
        out["blas"] = f"MKL {mkl.group(1).split('-')[0]}"
    out["onednn"] = onednn.group(1) if onednn and torch.backends.mkldnn.is_available() else "absent"
    try:
        out["aten"] = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        out["aten"] = "unknown"
    return out


def describe() -> str:
    """One line naming the machine, e.g. `AMD EPYC | AVX2, FMA, AVX-512, AVX-512 BF16 | 2 core(s) | torch 2.13.0
    (ATen AVX512, MKL 2024.2, oneDNN v3.12.0)`, with any restricting variables after it; cores are those this
    process may run on (after pinning)."""
    v = library_versions()
    line = (f"{cpu_model()} | {', '.join(isa()) or 'ISA unknown'} | {cores()} core(s) | torch {v['torch']} "
            f"(ATen {v['aten']}, {v['blas']}, oneDNN {v['onednn']})")
    env = restrictions()
    if env:
        line += " | restricted: " + " ".join(f"{k}={val}" for k, val in env.items())
    return line


def fingerprint() -> str:
    """A short hash of what decides which kernel is faster here: CPU model and flags, torch and its libraries,
    the restricting variables and the thread count."""
    parts = {"cpu": cpu_model(), "flags": sorted(_cpuinfo()[1]), "libs": library_versions(), "env": restrictions(),
             "threads": torch.get_num_threads(), "machine": platform.machine()}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
