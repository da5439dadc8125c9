"""Every cross-key check of a config, in one place: impossible combinations are refused naming the keys."""

from __future__ import annotations

from typing import Any

from .fields import ConfigError
from .schema import Config, DecodeConfig, ModelConfig


def validate(cfg: Config) -> Config:
    """Refuse impossible combinations, naming the keys; returns cfg."""
    _check_side_types(cfg)
    _check_model(cfg)
    _check_sides(cfg)
    _check_features(cfg)
    check_decode(cfg.decode, cfg.data.target_type)
    if cfg.train.precision == "fp16" and cfg.train.device == "cpu":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
    return cfg


def encoder_output_size(cfg: Config) -> int:
    """The size of the encoder's outputs and final states: both directions' when they are concatenated."""
    m = cfg.model
    if m.encoder_type == "transformer":
        return m.transformer_size
    return m.encoder_hidden * (2 if m.bidirectional and m.bidirectional_merge == "concat" else 1)


# Keys only a recurrent encoder, a recurrent decoder, either recurrent stack or a Transformer side reads. On a
# model without such a side they would do nothing, so a value other than the default is refused, not ignored.
_RNN_ENCODER_KEYS = ("bidirectional", "bidirectional_merge", "encoder_hidden", "pyramid_layers")
_RNN_DECODER_KEYS = ("decoder_hidden", "bridge", "feed_context", "attention", "attention_output", "input_feeding")
_RNN_KEYS = ("cell", "residual")
_TRANSFORMER_KEYS = ("transformer_size", "transformer_heads", "transformer_ff_size", "attention_dropout",
                     "activation_dropout", "positions", "max_positions")


def _changed(m: ModelConfig, keys: tuple[str, ...]) -> list[str]:
    """`model.key=value` for each of `keys` set to something other than its default."""
    default = ModelConfig()
    shown = {True: "true", False: "false"}
    return [f"model.{k}={shown.get(v, v) if isinstance(v, bool) else v}" for k in keys
            if (v := getattr(m, k)) != getattr(default, k)]


def _check_side_types(cfg: Config) -> None:
    """Rules between recurrent and Transformer sides (model.encoder_type / model.decoder_type)."""
    m = cfg.model
    kinds = (m.encoder_type, m.decoder_type)
    unused = []
    if m.encoder_type == "transformer":
        unused += _changed(m, _RNN_ENCODER_KEYS)
    if m.decoder_type == "transformer":
        unused += _changed(m, _RNN_DECODER_KEYS)
    if "rnn" not in kinds:
        unused += _changed(m, _RNN_KEYS)
    if "transformer" not in kinds:
        unused += _changed(m, _TRANSFORMER_KEYS)
    if unused:
        hint = "; feature sources shorten time with model.subsample_layers" if m.pyramid_layers else ""
        raise ConfigError(f"model.encoder_type={m.encoder_type} with model.decoder_type={m.decoder_type} has no "
                          f"use for {', '.join(unused)}: leave them at their defaults{hint}")
    if "transformer" in kinds and m.transformer_size % m.transformer_heads:
        raise ConfigError(f"model.transformer_heads ({m.transformer_heads}) must divide model.transformer_size "
                          f"({m.transformer_size})")
    if m.max_positions != ModelConfig().max_positions and m.positions != "learned":
        raise ConfigError("model.max_positions needs model.positions=learned (sinusoidal positions have no limit)")
    if m.subsample_layers and (m.encoder_type != "transformer" or cfg.data.source_type != "features"):
        raise ConfigError("model.subsample_layers needs model.encoder_type=transformer and "
                          "data.source_type=features (recurrent encoders use model.pyramid_layers)")
    # The rule of a hybrid: a recurrent decoder's initial state comes from the Transformer encoder's outputs
    # averaged over the real source steps, through the linear bridge, or is zero; there is nothing to copy.
    if m.encoder_type == "transformer" and m.decoder_type == "rnn" and m.bridge in ("copy", "hidden"):
        raise ConfigError(f"model.bridge={m.bridge} needs a recurrent encoder's final state; a Transformer encoder "
                          "has none: use model.bridge=linear (the mean of its outputs, projected) or zero")


def _check_model(cfg: Config) -> None:
    m = cfg.model
    if m.decoder_type == "transformer":
        return  # the checks below are of a recurrent decoder's keys
    enc_out = encoder_output_size(cfg)
    if m.bridge in ("copy", "hidden"):
        if enc_out != m.decoder_hidden:
            raise ConfigError(
                f"model.bridge={m.bridge} needs the encoder's final state size ({enc_out}: encoder_hidden="
                f"{m.encoder_hidden}{', bidirectional concat' if enc_out != m.encoder_hidden else ''}) "
                f"to equal model.decoder_hidden ({m.decoder_hidden}); use model.bridge=linear or zero")
        if m.encoder_layers != m.decoder_layers:
            raise ConfigError(
                f"model.bridge={m.bridge} needs model.encoder_layers ({m.encoder_layers}) == "
                f"model.decoder_layers ({m.decoder_layers}); use model.bridge=linear or zero")
    if m.attention in ("dot", "scaled_dot") and enc_out != m.decoder_hidden:
        raise ConfigError(
            f"model.attention={m.attention} needs encoder outputs ({enc_out}) and model.decoder_hidden "
            f"({m.decoder_hidden}) of one size; use model.attention=general or concat")
    for key, used in (("model.input_feeding=true", m.input_feeding),
                      ("model.attention_output=tanh", m.attention_output == "tanh"), ("model.copy=true", m.copy),
                      (f"train.coverage_loss={cfg.train.coverage_loss}", cfg.train.coverage_loss > 0),
                      (f"decode.coverage_penalty={cfg.decode.coverage_penalty}", cfg.decode.coverage_penalty > 0)):
        if used and m.attention == "none":
            raise ConfigError(f"{key} needs model.attention to be dot, general, concat, scaled_dot or location")
    if m.tie_embeddings and m.feed_context == "peeky":
        raise ConfigError("model.tie_embeddings=true cannot be used with model.feed_context=peeky")
    _check_attention(cfg, enc_out)


def _check_attention(cfg: Config, enc_out: int) -> None:
    m = cfg.model
    if m.attention_heads > 1:
        if m.attention not in ("dot", "scaled_dot", "general"):
            raise ConfigError(f"model.attention_heads={m.attention_heads} needs model.attention dot, scaled_dot or "
                              f"general (not {m.attention})")
        for key, size in (("model.decoder_hidden", m.decoder_hidden), ("the encoder outputs", enc_out)):
            if size % m.attention_heads:
                raise ConfigError(f"model.attention_heads={m.attention_heads} must divide {key} ({size})")
    if m.attention == "location" and m.location_kernel % 2 == 0:
        raise ConfigError(f"model.location_kernel={m.location_kernel} must be odd (the convolution is centred on "
                          f"each source position)")
    if m.coverage and m.attention not in ("concat", "location"):
        raise ConfigError(f"model.coverage=true needs an additive score: model.attention=concat or location "
                          f"(not {m.attention})")


def _check_sides(cfg: Config) -> None:
    d = cfg.data
    if d.shared_vocab and (d.source_type, d.target_type) != ("tokens", "tokens"):
        raise ConfigError("data.shared_vocab=true needs data.source_type=tokens and data.target_type=tokens")
    if d.shared_vocab and cfg.source_tokenizer != cfg.target_tokenizer:
        raise ConfigError("data.shared_vocab=true needs the same source and target tokenizer")
    if cfg.model.pyramid_layers and d.source_type != "features":
        raise ConfigError("model.pyramid_layers needs data.source_type=features")
    m = cfg.model
    for key, used, side in (("data.source_vocab", d.source_vocab, "source"),
                            ("model.source_embeddings", m.source_embeddings, "source"),
                            ("data.target_vocab", d.target_vocab, "target"),
                            ("model.target_embeddings", m.target_embeddings, "target"),
                            ("model.copy=true", m.copy, "source"), ("model.copy=true", m.copy, "target")):
        if used and getattr(d, f"{side}_type") != "tokens":
            raise ConfigError(f"{key} needs data.{side}_type=tokens")
    if m.freeze_embeddings and not (m.source_embeddings or m.target_embeddings):
        raise ConfigError("model.freeze_embeddings=true needs model.source_embeddings or model.target_embeddings")
    if m.word_dropout > 0 and d.source_type == "features" and d.target_type == "features":
        raise ConfigError("model.word_dropout drops tokens: it needs data.source_type=tokens or "
                          "data.target_type=tokens")
    if m.share_embeddings and not d.shared_vocab:
        raise ConfigError("model.share_embeddings=true needs data.shared_vocab=true (one vocabulary, so one "
                          "embedding can serve both sides)")
    if d.shared_vocab and d.source_vocab and d.target_vocab and d.source_vocab != d.target_vocab:
        raise ConfigError(f"data.shared_vocab=true makes one vocabulary: data.source_vocab ({d.source_vocab}) and "
                          f"data.target_vocab ({d.target_vocab}) differ")
    metric = cfg.train.early_stopping_metric
    if metric == "valid_cer" and (d.target_type != "tokens" or d.source_type != "features"):
        raise ConfigError("train.early_stopping_metric=valid_cer needs data.source_type=features and "
                          "data.target_type=tokens")
    if (metric in ("valid_bleu", "valid_bleu_tok") and d.target_type == "tokens"
            and cfg.target_tokenizer not in ("word", "sentencepiece")):
        raise ConfigError(f"train.early_stopping_metric={metric} needs a word or sentencepiece target tokenizer "
                          f"(BLEU counts words), not {cfg.target_tokenizer}; use valid_chrf, valid_exact_match or "
                          f"valid_loss")


def _check_features(cfg: Config) -> None:
    m, d, t, dec = cfg.model, cfg.data, cfg.train, cfg.decode
    if d.target_type != "features":
        needs = {"model.stop_flag": m.stop_flag, "data.target_length": d.target_length is not None,
                 f"train.early_stopping_metric={t.early_stopping_metric}":
                     t.early_stopping_metric in ("valid_mae", "valid_rmse"),
                 f"decode.feature_length={dec.feature_length}": dec.feature_length != "auto"}
        for key, used in needs.items():
            if used:
                raise ConfigError(f"{key} needs data.target_type=features")
        return
    if m.tie_embeddings:
        raise ConfigError("model.tie_embeddings=true needs data.target_type=tokens (features have no "
                          "output embedding)")
    if t.early_stopping_metric not in ("valid_loss", "valid_mae", "valid_rmse"):
        raise ConfigError(f"train.early_stopping_metric={t.early_stopping_metric} is a text metric; "
                          f"with data.target_type=features use valid_loss, valid_mae or valid_rmse")
    if dec.feature_length == "stop" and not m.stop_flag:
        raise ConfigError("decode.feature_length=stop needs model.stop_flag=true")
    if dec.feature_length == "fixed" and d.target_length is None:
        raise ConfigError("decode.feature_length=fixed needs data.target_length")


def check_decode(dec: DecodeConfig, target_type: str) -> DecodeConfig:
    """Refuse decoding options that contradict each other or the model's target type; returns dec."""
    if target_type == "features" and dec.strategy != "greedy":
        raise ConfigError(f"decode.strategy={dec.strategy} has no meaning for data.target_type=features "
                          f"(generation feeds back each output); use greedy")
    if target_type == "features" and dec.nbest > 1:
        raise ConfigError(f"decode.nbest={dec.nbest} has no meaning for data.target_type=features "
                          f"(generation is deterministic); use 1")
    if dec.strategy == "beam" and dec.nbest > dec.beam_size:
        raise ConfigError(f"decode.nbest ({dec.nbest}) cannot exceed decode.beam_size ({dec.beam_size}): beam "
                          f"search finds at most beam_size outputs")
    if dec.max_length > dec.max_output_length:
        raise ConfigError(f"decode.max_length ({dec.max_length}) exceeds decode.max_output_length "
                          f"({dec.max_output_length}), the hard cap on generated steps; raise that too")
    if dec.strategy == "greedy" and dec.nbest > 1:
        raise ConfigError(f"decode.nbest={dec.nbest} needs decode.strategy=beam (with beam_size >= nbest) or "
                          f"sample; greedy search finds one output")
    return dec


def check_required(cfg: Config, required: dict[str, Any], origin: str) -> None:
    """Refuse a config that overrode a value `origin` (e.g. a built-in task) cannot work without."""
    for key, want in required.items():
        section, _, name = key.partition(".")
        got = getattr(getattr(cfg, section), name)
        if got != want:
            raise ConfigError(f"{origin} needs {key}={want}, not {got}")


def check_device(cfg: Config, device_type: str) -> None:
    """Refuse a precision the resolved device cannot run (fp16 autocast is CUDA-only)."""
    if cfg.train.precision == "fp16" and device_type != "cuda":
        raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
