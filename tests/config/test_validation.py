"""Cross-key validation: every impossible combination is refused at config time, naming the keys."""

import re

import pytest

from seq2seq import build_config
from seq2seq.config import Config, ConfigError, DecodeConfig, check_decode, validate
from seq2seq.config.validation import check_device, check_required, encoder_output_size


def _refused(overrides, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        build_config(overrides=overrides)


@pytest.mark.parametrize("overrides, key", [
    (["model.encoder_hidden=64", "model.decoder_hidden=128"], "model.bridge=copy"),
    (["model.encoder_layers=2"], "model.bridge=copy needs model.encoder_layers"),
    (["model.bidirectional=true"], "model.bridge=copy"),
    (["model.bridge=linear", "model.bidirectional=true", "model.attention=dot"], "model.attention=dot"),
    (["model.input_feeding=true"], "model.input_feeding=true needs model.attention"),
    (["model.attention_output=tanh"], "model.attention_output=tanh needs model.attention"),
])
def test_impossible_combinations_refused(overrides, key):
    _refused(overrides, key)


@pytest.mark.parametrize("over, key", [
    ({"model.bridge": "copy", "model.encoder_hidden": 8, "model.decoder_hidden": 16}, "model.bridge"),
    ({"model.bridge": "copy", "model.bidirectional": True}, "model.bridge"),
    ({"model.bridge": "copy", "model.encoder_layers": 2}, "model.bridge"),
    ({"model.attention": "dot", "model.bridge": "zero", "model.decoder_hidden": 8}, "model.attention"),
    ({"model.input_feeding": True}, "model.input_feeding"),
    ({"model.attention_output": "tanh"}, "model.attention_output"),
    ({"model.tie_embeddings": True, "model.feed_context": "peeky"}, "model.tie_embeddings"),
    ({"model.cell": "transformer"}, "model.cell"),
    ({"model.attention": "cosine"}, "model.attention"),
])
def test_impossible_combinations_fail_at_config_time(over, key):
    _refused(over, key)


def test_copy_bridge_message_gives_the_sizes():
    with pytest.raises(ConfigError) as err:
        build_config(overrides={"model.bidirectional": True, "model.encoder_hidden": 8, "model.decoder_hidden": 8})
    assert str(err.value) == ("model.bridge=copy needs the encoder's final state size (16: encoder_hidden=8, "
                              "bidirectional concat) to equal model.decoder_hidden (8); use model.bridge=linear "
                              "or zero")


@pytest.mark.parametrize("merge, size", [("concat", 16), ("sum", 8), ("mean", 8)])
def test_encoder_output_size(merge, size):
    cfg = Config()
    cfg.model.encoder_hidden, cfg.model.bidirectional_merge = 8, merge
    assert encoder_output_size(cfg) == 8
    cfg.model.bidirectional = True
    assert encoder_output_size(cfg) == size


def test_merged_directions_fit_a_copy_bridge_and_dot_attention():
    cfg = build_config(overrides={"model.bidirectional": True, "model.bidirectional_merge": "sum",
                                  "model.encoder_hidden": 8, "model.decoder_hidden": 8, "model.attention": "dot"})
    assert cfg.model.bridge == "copy"


@pytest.mark.parametrize("overrides, key", [
    # feature-target keys without feature targets
    ({"model.stop_flag": True}, "model.stop_flag"),
    ({"data.target_length": 4}, "data.target_length"),
    ({"train.early_stopping_metric": "valid_mae"}, "train.early_stopping_metric=valid_mae"),
    ({"decode.feature_length": "source"}, "decode.feature_length=source"),
    # feature sources only
    ({"model.pyramid_layers": 2}, "model.pyramid_layers"),
    ({"train.early_stopping_metric": "valid_cer"}, "train.early_stopping_metric=valid_cer"),
    # BLEU counts words
    ({"train.early_stopping_metric": "valid_bleu"}, "valid_bleu needs a word or sentencepiece target tokenizer"),
    # feature targets
    ({"data.task": "sine", "decode.strategy": "beam"}, "decode.strategy"),
    ({"data.task": "sine", "decode.feature_length": "stop"}, "model.stop_flag"),
    ({"data.source_type": "features", "data.target_type": "features", "decode.feature_length": "fixed"},
     "decode.feature_length=fixed needs data.target_length"),
    ({"data.task": "sine", "train.early_stopping_metric": "valid_bleu"}, "train.early_stopping_metric"),
    ({"data.task": "keras-example", "model.tie_embeddings": True}, "model.tie_embeddings"),
    ({"train.feature_loss": "huber"}, "train.feature_loss"),
    ({"data.source_type": "features", "data.target_type": "features", "train.early_stopping_metric": "valid_cer"},
     "train.early_stopping_metric=valid_cer"),
    # sides
    ({"data.shared_vocab": True, "data.source_type": "features"}, "data.shared_vocab=true needs data.source_type"),
    ({"data.shared_vocab": True, "data.target_tokenizer": "word"}, "data.shared_vocab=true needs the same"),
    # device
    ({"train.precision": "fp16", "train.device": "cpu"}, "train.precision=fp16 needs a CUDA device"),
])
def test_feature_and_side_combinations_refused(overrides, key):
    _refused(overrides, key)


def test_valid_feature_combinations():
    cfg = build_config(overrides={"data.source_type": "features", "data.target_type": "features",
                                  "model.stop_flag": True, "decode.feature_length": "stop",
                                  "train.early_stopping_metric": "valid_rmse"})
    assert cfg.decode.feature_length == "stop"
    cfg = build_config(overrides={"data.source_type": "features", "train.early_stopping_metric": "valid_cer",
                                  "model.pyramid_layers": 2})
    assert cfg.model.pyramid_layers == 2
    assert build_config(overrides={"data.shared_vocab": True, "data.tokenizer": "word"}).data.shared_vocab
    assert build_config(overrides={"train.precision": "fp16"}).train.device == "auto"  # decided on the device


@pytest.mark.parametrize("over, key", [
    ({"nbest": 2}, "decode.nbest=2 needs decode.strategy=beam"),
    ({"strategy": "beam", "beam_size": 2, "nbest": 3}, "decode.nbest (3) cannot exceed decode.beam_size (2)"),
])
def test_decode_nbest_needs_beam_or_sampling(over, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        check_decode(DecodeConfig(**over), "tokens")
    _refused({f"decode.{k}": v for k, v in over.items()}, key)


@pytest.mark.parametrize("over", [{"strategy": "beam", "beam_size": 3, "nbest": 3},
                                  {"strategy": "sample", "nbest": 7, "beam_size": 2}, {}])
def test_decode_nbest_accepted(over):
    dec = DecodeConfig(**over)
    assert check_decode(dec, "tokens") is dec


@pytest.mark.parametrize("over, key", [
    ({"strategy": "beam"}, "decode.strategy=beam has no meaning for data.target_type=features"),
    ({"strategy": "sample"}, "decode.strategy=sample has no meaning for data.target_type=features"),
    ({"strategy": "sample", "nbest": 2}, "decode.strategy=sample has no meaning"),
])
def test_feature_targets_decode_greedily_one_output(over, key):
    with pytest.raises(ConfigError, match=re.escape(key)):
        check_decode(DecodeConfig(**over), "features")
    check_decode(DecodeConfig(**over), "tokens")


def test_feature_targets_refuse_nbest():
    # with strategy greedy the target type is named first: nbest has no meaning for vectors at all
    with pytest.raises(ConfigError, match=re.escape("decode.nbest=2 has no meaning for data.target_type=features")):
        check_decode(DecodeConfig(nbest=2), "features")
    _refused({"data.task": "sine", "decode.nbest": 2}, "decode.nbest=2 has no meaning")


def test_validate_returns_the_config_and_sees_direct_edits():
    cfg = Config()
    assert validate(cfg) is cfg
    cfg.model.input_feeding = True  # bypassing Config.set and build_config
    with pytest.raises(ConfigError, match="model.input_feeding"):
        validate(cfg)


def test_check_required():
    cfg = Config()
    check_required(cfg, {"data.source_type": "tokens"}, "data.task=x")
    with pytest.raises(ConfigError) as err:
        check_required(cfg, {"data.source_type": "features", "data.target_type": "tokens"}, "data.task=x")
    assert str(err.value) == "data.task=x needs data.source_type=features, not tokens"


def test_check_device():
    cfg = build_config(overrides={"train.precision": "fp16"})
    check_device(cfg, "cuda")
    with pytest.raises(ConfigError, match="train.precision=fp16 needs a CUDA device"):
        check_device(cfg, "cpu")
    check_device(build_config(overrides={"train.precision": "bf16"}), "cpu")


# ---------------------------------------------------------------- recurrent and Transformer sides

T = {"model.encoder_type": "transformer", "model.decoder_type": "transformer"}


@pytest.mark.parametrize("over, message", [
    ({"model.encoder_type": "transformer"},
     "model.bridge=copy needs a recurrent encoder's final state; a Transformer encoder has none: use "
     "model.bridge=linear (the mean of its outputs, projected) or zero"),
    ({"model.decoder_type": "transformer", "model.attention": "general", "model.input_feeding": True},
     "model.encoder_type=rnn with model.decoder_type=transformer has no use for model.attention=general, "
     "model.input_feeding=true: leave them at their defaults"),
    ({"model.encoder_type": "transformer", "model.bridge": "linear", "model.bidirectional": True},
     "has no use for model.bidirectional=true"),
    ({**T, "model.cell": "gru", "model.residual": True}, "has no use for model.cell=gru, model.residual=true"),
    ({"model.transformer_heads": 8}, "model.encoder_type=rnn with model.decoder_type=rnn has no use for "
                                     "model.transformer_heads=8"),
    ({**T, "model.transformer_size": 10, "model.transformer_heads": 4},
     "model.transformer_heads (4) must divide model.transformer_size (10)"),
    ({**T, "model.max_positions": 64}, "model.max_positions needs model.positions=learned"),
    ({**T, "model.subsample_layers": 2}, "model.subsample_layers needs model.encoder_type=transformer and "
                                         "data.source_type=features"),
    ({"data.source_type": "features", "model.subsample_layers": 2},
     "model.subsample_layers needs model.encoder_type=transformer"),
    ({**T, "data.source_type": "features", "model.pyramid_layers": 2},
     "has no use for model.pyramid_layers=2: leave them at their defaults; feature sources shorten time with "
     "model.subsample_layers"),
    ({"model.encoder_type": "transformer", "model.bridge": "zero", "model.attention": "dot",
      "model.transformer_size": 64}, "model.attention=dot needs encoder outputs (64) and model.decoder_hidden (256)"),
])
def test_side_type_combinations_refused(over, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build_config(overrides=over)


@pytest.mark.parametrize("over, size", [
    (T, 256),
    ({**T, "model.positions": "learned", "model.max_positions": 64, "model.tie_embeddings": True}, 256),
    ({**T, "data.source_type": "features", "model.subsample_layers": 2, "model.transformer_size": 128}, 128),
    ({"model.encoder_type": "transformer", "model.bridge": "linear", "model.attention": "general",
      "model.input_feeding": True, "model.cell": "gru", "model.transformer_size": 64}, 64),
    ({"model.encoder_type": "transformer", "model.bridge": "zero", "model.attention": "dot",
      "model.transformer_size": 256}, 256),
    ({"model.decoder_type": "transformer", "model.bidirectional": True, "model.encoder_hidden": 64,
      "model.cell": "gru", "model.transformer_heads": 8}, 128),
])
def test_side_type_combinations_accepted_with_the_encoder_output_size(over, size):
    assert encoder_output_size(build_config(overrides=over)) == size
