"""`OnnxModel`: a directory written by `seq2seq export` ready to translate, on onnxruntime and numpy (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import DecodeConfig
from ..inference.translator import Translator
from ..runs.directory import EXPORT_JSON, CheckpointError, load_export, read_json
from ..search.generate import generate
from ..search.hypothesis import Hypothesis
from .graphs import Graphs
from .heads import rules_for
from .stepper import OnnxStepper

FORMAT_VERSION = 1  # the newest export.json this engine reads


class OnnxModel(Translator):
    """An exported model: the same `translate`, `predict` and `decode_options` as `seq2seq.Model`."""

    engine = "onnx"

    def __init__(self, directory: Path, manifest: dict[str, Any], threads: int | None = None):
        config, source, target = load_export(directory, manifest, "seq2seq-onnx", "ONNX", FORMAT_VERSION)
        super().__init__(config, source, target)
        self.directory = directory
        self.manifest = manifest
        self.scratch: Any = None  # a temporary export directory this model owns (a run loaded with engine="onnx")
        try:
            self.graphs = Graphs(directory, manifest, threads)
        except Exception as e:  # onnxruntime raises its own exception types for a missing or broken graph
            raise CheckpointError(f"{directory}: cannot load the ONNX graphs ({e})") from None
        self.stepper = OnnxStepper(self.graphs, rules_for(config, target.size))

    @property
    def parameter_count(self) -> int:
        """The model's number of weights (as exported)."""
        return int(self.manifest.get("parameters", 0))

    def generate(self, sources: Sequence[Any], options: DecodeConfig,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Per encoded source, its hypotheses best first, with attention."""
        return generate(self.stepper, self.source, sources, options, keep_attention=keep_attention)


def load_exported(directory: str | Path, threads: int | None = None) -> OnnxModel:
    """An exported model from its directory; `threads`: onnxruntime's intra-op threads (None: its default)."""
    directory = Path(directory)
    return OnnxModel(directory, read_json(directory / EXPORT_JSON), threads)
