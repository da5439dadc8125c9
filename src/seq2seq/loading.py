"""`seq2seq.load`: a run directory or an exported one, on the engine asked for (PyTorch or onnxruntime).

Imports nothing of torch unless the PyTorch engine (or an export on the fly) is asked for, so that an exported
model loads where only `seq2seq[onnx]` is installed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .config import ConfigError
from .rundir import CheckpointError, is_exported
from .translation import Translator

ENGINES = ("auto", "torch", "onnx")


def load(path: str | Path, which: str = "best", device: str = "cpu", engine: str = "auto",
         threads: int | None = None) -> Translator:
    """A trained model ready to translate.

    path: a run directory (`checkpoints/best` unless which="last") or a directory written by `seq2seq export`.
    engine: "torch" (a run directory), "onnx" (an exported directory; a run directory is exported to a
    temporary directory first, which needs torch and onnx), "auto" (onnx for an exported directory, else
    torch). threads: intra-op threads of the engine (None: the library's default).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    exported = is_exported(path)
    if engine == "auto":
        engine = "onnx" if exported else "torch"
    if engine == "torch":
        if exported:
            raise CheckpointError(f"{path}: an exported directory holds ONNX graphs, not PyTorch weights; "
                                  f"load it with engine='onnx' (--engine onnx)")
        try:
            import torch
        except ImportError:
            raise ConfigError(f"{path}: the PyTorch engine needs torch: pip install 'seq2seq[torch]' (or export "
                              f"the model where torch is installed and load the export with engine='onnx')") from None
        from .api import load as load_torch

        if threads:
            torch.set_num_threads(threads)
        return load_torch(path, which=which, device=device)
    if device != "cpu":
        raise ConfigError(f"the onnx engine runs on the CPU (onnxruntime's CPU provider), not on {device!r}")
    from .engine import load_exported

    if exported:
        return load_exported(path, threads=threads)
    from .export import export_onnx

    scratch = tempfile.TemporaryDirectory(prefix="seq2seq-onnx-")
    export_onnx(path, scratch.name, which=which)
    model = load_exported(scratch.name, threads=threads)
    model.scratch = scratch  # the files live as long as the model
    return model
