"""`seq2seq export --format ctranslate2`: a Transformer run (Transformer encoder and decoder, token sides) as a
CTranslate2 model (Klein et al. 2020, OpenNMT's inference engine), written through `ctranslate2.specs`, with the
sides' vocabularies, tokenizers and config beside it, checked against PyTorch before anything is written.

The mapping, layer by layer: our pre-norm blocks are CTranslate2's `pre_norm` layers (each sublayer's
LayerNorm in its spec, the stacks' final LayerNorm as `layer_norm`); query, key (no bias: zeros) and value
projections fused as CTranslate2 fuses them; the position table is ours, passed as `position_encodings`
(our sinusoids interleave sin and cos, CTranslate2's built-in ones put them in two halves); the embedding
scale sqrt(E) and a projection from E to the model width are folded into the embedding tables (so
`scale_embeddings` is off); a tied output layer (and its projection) is written out as the output matrix;
the attention CTranslate2 returns is the mean of the last layer's heads, as ours is.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..runs.bundle import Bundle, export_dir, load_bundle
from ..runs.directory import EXPORT_JSON
from .options import FORMAT, FORMAT_VERSION, QUANTIZATIONS, source_tokens

POSITIONS = 1024  # rows of the sinusoidal table written (the longest source or output the model can read)
TOLERANCE = 1e-3  # largest score difference to PyTorch a float32 export may show on its check sentences
CHECK_SENTENCES = ["", "a", "ab", "abcabc", "the quick brown fox jumps", "z" * 30]


class ConversionError(RuntimeError):
    """A model CTranslate2 cannot run, or whose conversion disagrees with PyTorch; the message says why."""


def refusal(bundle: Bundle) -> str | None:
    """Why this model cannot become a CTranslate2 model, or None if it can."""
    m, d = bundle.config.model, bundle.config.data
    if (m.encoder_type, m.decoder_type) != ("transformer", "transformer"):
        return (f"only a Transformer encoder with a Transformer decoder converts to CTranslate2 (this model: "
                f"{m.encoder_type} encoder, {m.decoder_type} decoder; CTranslate2 runs no RNNs): export it with "
                f"--format onnx")
    if (d.source_type, d.target_type) != ("tokens", "tokens"):
        return (f"CTranslate2 translates tokens to tokens (this model: {d.source_type} to {d.target_type}): "
                f"export it with --format onnx")
    return None


def _array(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().float().cpu().numpy())


def _linear(spec: Any, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
    spec.weight = _array(weight)
    if bias is not None:
        spec.bias = _array(bias)


def _norm(spec: Any, norm: torch.nn.LayerNorm) -> None:
    spec.gamma, spec.beta = _array(norm.weight), _array(norm.bias)


def _attention(spec: Any, attention: Any, norm: torch.nn.LayerNorm, self_attention: bool) -> None:
    _norm(spec.layer_norm, norm)
    key_bias = torch.zeros(attention.key.weight.size(0))
    if self_attention:
        _linear(spec.linear[0], torch.cat([attention.query.weight, attention.key.weight, attention.value.weight]),
                torch.cat([attention.query.bias, key_bias, attention.value.bias]))
    else:
        _linear(spec.linear[0], attention.query.weight, attention.query.bias)
        _linear(spec.linear[1], torch.cat([attention.key.weight, attention.value.weight]),
                torch.cat([key_bias, attention.value.bias]))
    _linear(spec.linear[-1], attention.output.weight, attention.output.bias)


def _feed_forward(spec: Any, block: Any, norm: torch.nn.LayerNorm) -> None:
    _norm(spec.layer_norm, norm)
    _linear(spec.linear_0, block.inner.weight, block.inner.bias)
    _linear(spec.linear_1, block.outer.weight, block.outer.bias)


def _inputs(spec: Any, embed: Any, layer: torch.nn.Embedding) -> None:
    """Embeddings as the first layer reads them (scaled, projected) and our position table."""
    table = layer.weight * embed.scaling.factor
    if embed.projection is not None:
        table = table @ embed.projection.weight.t()
    spec.scale_embeddings = False
    embeddings = spec.embeddings[0] if isinstance(spec.embeddings, list) else spec.embeddings
    embeddings.weight = _array(table)
    spec.position_encodings.encodings = _array(embed.positions(position_rows(embed.positions)))


def position_rows(positions: Any) -> int:
    """How many positions the converted model knows: a learned table's, else POSITIONS sinusoids."""
    return int(getattr(positions, "max_positions", POSITIONS))


def _output_layer(head: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """The output matrix (V, D) and bias (V,) the head applies to the decoder's last LayerNorm."""
    if not head.tie:
        return head.output.weight, head.output.bias
    weight = head.input.weight
    if head.tie_proj is not None:
        weight = weight @ head.tie_proj.weight
    return weight, head.output_bias


def build_spec(bundle: Bundle) -> Any:
    """The CTranslate2 TransformerSpec of a Transformer model, every variable set, vocabularies registered."""
    from ctranslate2.specs import transformer_spec

    cfg = bundle.config.model
    model = bundle.model
    encoder, decoder = model.encoder, model.decoder
    spec = transformer_spec.TransformerSpec.from_config((cfg.encoder_layers, cfg.decoder_layers),
                                                        cfg.transformer_heads, pre_norm=True,
                                                        alignment_heads=cfg.transformer_heads)
    spec.config.layer_norm_epsilon = float(encoder.norm.eps)
    with torch.no_grad():
        _inputs(spec.encoder, encoder.embed, encoder.input)
        for layer_spec, layer in zip(spec.encoder.layer, encoder.layers):
            _attention(layer_spec.self_attention, layer.attention, layer.attend.norm, True)
            _feed_forward(layer_spec.ffn, layer.feed_forward, layer.transform.norm)
        _norm(spec.encoder.layer_norm, encoder.norm)
        _inputs(spec.decoder, decoder.embed, decoder.head.input)
        for layer_spec, layer in zip(spec.decoder.layer, decoder.layers):
            _attention(layer_spec.self_attention, layer.self_attention, layer.attend_self.norm, True)
            _attention(layer_spec.attention, layer.cross_attention, layer.attend_source.norm, False)
            _feed_forward(layer_spec.ffn, layer.feed_forward, layer.transform.norm)
        _norm(spec.decoder.layer_norm, decoder.norm)
        _linear(spec.decoder.projection, *_output_layer(decoder.head))
    spec.register_source_vocabulary(list(bundle.source.vocab.tokens))
    spec.register_target_vocabulary(list(bundle.target.vocab.tokens))
    return spec


def _converter(bundle: Bundle) -> Any:
    from ctranslate2.converters.converter import Converter

    class _FromBundle(Converter):
        def _load(self) -> Any:
            return build_spec(bundle)

    return _FromBundle()


def _check(directory: Path, bundle: Bundle) -> float:
    """The largest difference between CTranslate2's and PyTorch's greedy scores on a few sentences (inf if an
    output differs), both capped at 8 steps."""
    import ctranslate2

    from ..inference.model import Model

    torch_model = Model(bundle)
    sources = [bundle.source.encode(s) for s in CHECK_SENTENCES]
    sources = [s for s in sources if s]
    expected = torch_model.generate(sources, torch_model.decode_options(beam=1, max_length=8, min_length=0))
    translator = ctranslate2.Translator(str(directory), device="cpu", intra_threads=1)
    got = translator.translate_batch([source_tokens(bundle.source, s) for s in sources], beam_size=1,
                                     max_decoding_length=8, min_decoding_length=0, return_scores=True,
                                     length_penalty=0.0)
    worst = 0.0
    for e, g in zip(expected, got):
        if bundle.target.vocab.encode(g.hypotheses[0]) != list(e[0].output):
            return float("inf")
        worst = max(worst, abs(float(g.scores[0]) - e[0].score))
    return worst


def _vmap(bundle: Bundle, per_word: int, pairs: list[tuple[str, str]] | None, path: Path) -> None:
    """Write the vocabulary shortlist (see `shortlist`) of the training pairs (the run's own unless given)."""
    from ..config import ConfigError
    from ..data.corpus import load_splits
    from . import shortlist

    source, target = bundle.source, bundle.target
    bad = shortlist.unwritable(source.vocab.tokens) or shortlist.unwritable(target.vocab.tokens)
    if bad is not None:
        raise ConversionError(f"--shortlist: the vocabulary token {bad!r} holds whitespace, which CTranslate2's "
                              f"vocabulary map cannot hold; convert without a shortlist")
    if pairs is None:
        try:
            pairs = load_splits(bundle.config)["train"]
        except (ConfigError, OSError) as e:
            raise ConversionError(f"--shortlist needs the run's training pairs: {e}") from None
    tokens = ((source_tokens(source, source.encode(s)), [target.vocab.tokens[i] for i in target.encode(t)])
              for s, t in pairs)
    path.write_text(shortlist.build_vmap(tokens, per_word, shortlist.COMMON), encoding="utf-8")


def export_ctranslate2(source: str | Path | Bundle, out: str | Path, which: str = "best",
                       quantization: str | None = None, shortlist: int = 0,
                       pairs: list[tuple[str, str]] | None = None) -> Path:
    """Convert a run directory's checkpoint (or a Bundle) into the directory `out` (created or replaced whole,
    atomically); returns `out`. quantization: the weights' type, float32 by default (see QUANTIZATIONS).
    shortlist > 0: a vocabulary map of that many candidates per source word from the training pairs (the run's,
    or `pairs`), which the engine then decodes with. ConversionError if the model is not a Transformer on
    tokens, or a float32 conversion disagrees."""
    quantization = quantization or "float32"
    if quantization not in QUANTIZATIONS:
        raise ConversionError(f"unknown CTranslate2 quantization {quantization!r}; one of: {', '.join(QUANTIZATIONS)}")
    bundle = source if isinstance(source, Bundle) else load_bundle(source, which=which)
    reason = refusal(bundle)
    if reason:
        raise ConversionError(reason)
    out = Path(out)
    with export_dir(bundle, out) as tmp:
        vmap = None
        if shortlist > 0:
            vmap = tmp.parent / f"{tmp.name}.vmap"
            _vmap(bundle, shortlist, pairs, vmap)
        try:
            _converter(bundle).convert(str(tmp), vmap=None if vmap is None else str(vmap),
                                       quantization=quantization, force=True)
        finally:
            if vmap is not None:
                vmap.unlink(missing_ok=True)
        worst = _check(tmp, bundle)
        if quantization == "float32" and not worst <= TOLERANCE:
            raise ConversionError(f"the CTranslate2 model differs from PyTorch by {worst:.3g} (more than "
                                  f"{TOLERANCE}): this model does not convert faithfully")
        _write_manifest(tmp, bundle, quantization, worst, shortlist)
    return out


def _write_manifest(directory: Path, bundle: Bundle, quantization: str, worst: float, shortlist: int) -> None:
    """export.json: the config and sides' sizes the engine rebuilds the sides from, and the check's result."""
    import ctranslate2

    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "quantization": quantization,
        "seq2seq_version": version("seq2seq"), "ctranslate2_version": ctranslate2.__version__,
        "config": bundle.config.to_dict(), "source_size": bundle.source.size, "target_size": bundle.target.size,
        "parameters": sum(p.numel() for p in bundle.model.parameters()),
        "check_max_abs_diff": worst if np.isfinite(worst) else None,
        "shortlist": shortlist,
        "max_positions": min(position_rows(bundle.model.encoder.embed.positions),
                             position_rows(bundle.model.decoder.embed.positions)),
    }
    (directory / EXPORT_JSON).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
