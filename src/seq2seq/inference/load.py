"""`seq2seq.load`: a run directory or an exported one, on the engine asked for (PyTorch, onnxruntime or
CTranslate2).

Imports nothing of torch unless the PyTorch engine (or an export on the fly) is asked for, so that an exported
model loads where only `seq2seq[onnx]` or `seq2seq[ctranslate2]` is installed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..config import ConfigError
from ..runs.directory import CheckpointError, is_exported
from .translator import Translator

ENGINES = ("auto", "torch", "onnx", "ctranslate2")
_HOLDS = {"torch": "PyTorch weights", "onnx": "ONNX graphs", "ctranslate2": "a CTranslate2 model"}


def load(path: str | Path, which: str = "best", device: str = "cpu", engine: str = "auto",
         threads: int | None = None) -> Translator:
    """A trained model ready to translate.

    path: a run directory (`checkpoints/best` unless which="last") or a directory written by `seq2seq export`.
    engine: "torch" (a run directory), "onnx" or "ctranslate2" (a directory exported in that format; a run
    directory is exported to a temporary directory first, which needs torch and the format's packages), "auto"
    (the engine of an exported directory's format, else torch). threads: intra-op threads of the engine (None:
    the library's default).
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
    exported = _exported_engine(path)
    if engine == "auto":
        engine = exported or "torch"
    if exported and engine != exported:
        raise CheckpointError(f"{path}: an exported directory holds {_HOLDS[exported]}, not {_HOLDS[engine]}; "
                              f"load it with engine={exported!r} (--engine {exported})")
    if engine == "torch":
        try:
            import torch
        except ImportError:
            raise ConfigError(f"{path}: the PyTorch engine needs torch: pip install 'seq2seq[torch]' (or export "
                              f"the model where torch is installed and load the export with engine='onnx')") from None
        from .model import Model

        if threads:
            torch.set_num_threads(threads)
        return Model.from_run(path, which=which, device=device)
    if device != "cpu":
        raise ConfigError(f"the {engine} engine runs on the CPU here, not on {device!r}")
    if engine == "ctranslate2":
        return _load_ctranslate2(path, exported is not None, which, threads)
    from ..engine import load_exported

    if exported:
        return load_exported(path, threads=threads)
    from ..export import export_onnx

    scratch = tempfile.TemporaryDirectory(prefix="seq2seq-onnx-")
    export_onnx(path, scratch.name, which=which)
    model = load_exported(scratch.name, threads=threads)
    model.scratch = scratch  # the files live as long as the model
    return model


def _exported_engine(path: str | Path) -> str | None:
    """The engine an exported directory is for ("onnx" or "ctranslate2"), None for a run directory."""
    if not is_exported(path):
        return None
    from ..runs.directory import EXPORT_JSON, read_json

    return "ctranslate2" if read_json(Path(path) / EXPORT_JSON).get("format") == "seq2seq-ctranslate2" else "onnx"


def _load_ctranslate2(path: str | Path, exported: bool, which: str, threads: int | None) -> Translator:
    """A CTranslate2 export, or a run converted to a temporary directory first."""
    try:
        from ..ct2.model import load_converted
    except ImportError as e:
        raise ConfigError(f"the ctranslate2 engine needs ctranslate2 ({e}); "
                          f"pip install 'seq2seq[ctranslate2]'") from None
    if exported:
        return load_converted(path, threads=threads)
    from ..ct2.convert import ConversionError, export_ctranslate2

    scratch = tempfile.TemporaryDirectory(prefix="seq2seq-ct2-")
    try:
        export_ctranslate2(path, Path(scratch.name) / "model", which=which)
    except ConversionError as e:
        raise ConfigError(f"{path}: {e}") from None
    model = load_converted(Path(scratch.name) / "model", threads=threads)
    model.scratch = scratch  # type: ignore[attr-defined]  # the files live as long as the model
    return model
