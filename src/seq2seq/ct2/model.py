"""`Ct2Model`: a directory written by `seq2seq export --format ctranslate2` ready to translate on CTranslate2
(no torch, no onnxruntime: `pip install seq2seq[ctranslate2]`).

The decoding options map onto CTranslate2's `translate_batch`: beam_size, nbest (num_hypotheses), the length
caps (decode.max_length, or max_length_a * source length + max_length_b per sentence: sentences of one batch
are decoded in groups of equal cap), sampling with temperature, top_k and top_p (draw i seeded
decode.seed + i, by CTranslate2's own generator, so the draws differ from the other engines'), attention (the
mean of the last layer's heads). Refused, because CTranslate2 computes them differently: a length penalty
(CTranslate2 divides by length ** alpha, not GNMT's ((5 + length) / 6) ** alpha), a coverage penalty, and
min_length (CTranslate2 renormalises the probabilities once </s> is barred, which changes scores and beams).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ConfigError, DecodeConfig
from ..config.overrides import with_seed
from ..data.batching import sort_for_inference
from ..inference.translator import Translator
from ..runs.directory import EXPORT_JSON, CheckpointError, load_export, read_json
from ..search.hypothesis import Hypothesis
from ..search.ops import NumpyOps
from ..search.rules import max_token_steps
from .options import FORMAT, FORMAT_VERSION, source_tokens


class Ct2Model(Translator):
    """A converted Transformer: the same `translate`, `predict` and `decode_options` as `seq2seq.Model`."""

    engine = "ctranslate2"

    def __init__(self, directory: Path, manifest: dict[str, Any], threads: int | None = None):
        config, source, target = load_export(directory, manifest, FORMAT, "CTranslate2", FORMAT_VERSION)
        super().__init__(config, source, target)
        self.directory = directory
        self.manifest = manifest
        self.threads = threads
        self.max_positions = int(manifest.get("max_positions", 1024))
        self.use_vmap = bool(manifest.get("shortlist"))  # decode with the vocabulary shortlist written beside
        try:
            self.translator = self._translator()
        except (RuntimeError, ValueError) as e:
            raise CheckpointError(f"{directory}: cannot load the CTranslate2 model ({e})") from None

    def _translator(self, seed: int | None = None) -> Any:
        """A CTranslate2 Translator of the model; its worker thread's random generator is seeded when the
        thread starts, so a seeded draw needs a translator of its own."""
        import ctranslate2

        if seed is not None:
            ctranslate2.set_random_seed(seed)
        return ctranslate2.Translator(str(self.directory), device="cpu", inter_threads=1,
                                      intra_threads=self.threads or 0)

    @property
    def parameter_count(self) -> int:
        """The model's number of weights (before conversion)."""
        return int(self.manifest.get("parameters", 0))

    def decode_options(self, options: DecodeConfig | None = None, **overrides: Any) -> DecodeConfig:
        """As `Translator.decode_options`, refusing what CTranslate2 computes differently."""
        opts = super().decode_options(options, **overrides)
        refused = {"length_penalty": "CTranslate2 divides a score by length ** alpha, not by GNMT's "
                                     "((5 + length) / 6) ** alpha",
                   "coverage_penalty": "CTranslate2's coverage penalty is another formula",
                   "min_length": "CTranslate2 renormalises the probabilities once </s> is barred, which "
                                 "changes scores and beam rankings"}
        for name, why in refused.items():
            value = getattr(opts, name)
            if value > 0:
                raise ConfigError(f"decode.{name}={value} is not available on the ctranslate2 engine ({why}); "
                                  f"decode with --engine torch or onnx")
        return opts

    def generate(self, sources: Sequence[Any], options: DecodeConfig,
                 keep_attention: bool = False) -> list[list[Hypothesis]]:
        """Per encoded source, its hypotheses best first: decode.nbest of them for beam search and sampling
        (independent draws, each by a translator loaded for its seed), one for greedy; batches of
        decode.batch_size, longest first."""
        options = with_seed(options)
        results: list[list[Hypothesis]] = [[] for _ in sources]
        sampling = options.strategy == "sample"
        kwargs = {"beam_size": options.beam_size if options.strategy == "beam" else 1,
                  "num_hypotheses": options.nbest if options.strategy == "beam" else 1,
                  "length_penalty": 0.0, "min_decoding_length": 0, "max_input_length": 0,
                  "return_scores": True, "return_attention": keep_attention, "use_vmap": self.use_vmap,
                  "sampling_topk": options.top_k if sampling else 1,
                  "sampling_topp": options.top_p if sampling else 1.0,
                  "sampling_temperature": options.temperature if sampling else 1.0}
        # CTranslate2 knows the positions the converter wrote (a longer output would have none)
        lengths = np.array([len(s) for s in sources], dtype=np.int64)
        caps = [min(c, self.max_positions) for c in max_token_steps(lengths, options, NumpyOps()).tolist()]
        for draw in range(options.nbest if sampling else 1):
            translator = self._translator(options.seed + draw) if sampling else self.translator
            for batch in sort_for_inference([len(s) for s in sources], options.batch_size):
                for cap, group in itertools.groupby(batch, key=lambda i: caps[i]):
                    idx = list(group)
                    out = translator.translate_batch([source_tokens(self.source, sources[i]) for i in idx],
                                                          max_decoding_length=cap, **kwargs)
                    for i, result in zip(idx, out):
                        results[i].extend(self._hypotheses(result, len(sources[i]), keep_attention))
        return results

    def _hypotheses(self, result: Any, steps: int, keep_attention: bool) -> list[Hypothesis]:
        """CTranslate2's result for one source of `steps` tokens -> Hypotheses (token ids, summed
        log-probability, attention (output tokens, steps))."""
        out = []
        for j, tokens in enumerate(result.hypotheses):
            attention = None
            if keep_attention:
                rows = result.attention[j]
                attention = np.array(rows, dtype=np.float32).reshape(len(rows), steps)
            out.append(Hypothesis(self.target.vocab.encode(tokens), float(result.scores[j]), attention))
        return out


def load_converted(directory: str | Path, threads: int | None = None) -> Ct2Model:
    """A converted model from its directory; `threads`: CTranslate2's intra-op threads (None: its default)."""
    directory = Path(directory)
    return Ct2Model(directory, read_json(directory / EXPORT_JSON), threads)
