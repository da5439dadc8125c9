"""The machine line every benchmark prints first: CPU model, its AVX2 / AVX-512 / AMX / bf16 flags, cores and
threads, torch with its BLAS and oneDNN, and any variable restricting their instructions (the AVX2 emulation's).

The description is `seq2seq.kernels.machine`'s (what the kernel probe keys its cache by), loaded from this
checkout's file, so that a benchmark running an older revision's package (`speed.py --compare REV@...`) prints
the same line.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "seq2seq" / "kernels" / "machine.py"


def _module():
    spec = importlib.util.spec_from_file_location("_benchmark_machine", SOURCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine_line() -> str:
    """`machine: <CPU> | <ISA flags> | <cores, threads> | torch <version> (ATen, BLAS, oneDNN)[ | restricted: ...]`."""
    return "machine: " + _module().describe()


def cpu_model() -> str:
    """The CPU's model name alone, as the machine line names it."""
    return _module().cpu_model()


def print_machine(file=None) -> str:
    """Print the machine line (to stdout unless `file`) and return it."""
    line = machine_line()
    print(line, file=file or sys.stdout, flush=True)
    return line
