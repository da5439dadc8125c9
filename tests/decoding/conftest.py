"""Small random models and batches for the decoding tests (fixtures that return factories)."""

import pytest
import torch

from seq2seq import build_config
from seq2seq.data.sides import TokenSide
from seq2seq.data.tokenizers import build_tokenizer
from seq2seq.data.vocab import BOS, EOS, PAD, Vocab
from seq2seq.models import build_model

VOCAB = 12  # 4 specials and the letters a-h

# The Transformer and the two hybrids, named like presets: (preset, overrides).
ARCHITECTURES = {
    "transformer-tiny": ("transformer-tiny", {}),
    "transformer-encoder+luong-decoder": ("transformer-tiny", {
        "model.decoder_type": "rnn", "model.attention": "general", "model.attention_output": "tanh",
        "model.input_feeding": True, "model.bridge": "linear"}),
    "birnn-encoder+transformer-decoder": ("transformer-tiny", {"model.encoder_type": "rnn",
                                                               "model.bidirectional": True}),
}


def _model(preset="attention", seed=0, **extra):
    preset, overrides = ARCHITECTURES.get(preset, (preset, {}))
    config = build_config(preset, overrides=overrides).model
    overrides = {**overrides, "model.embedding_size": 8, **extra}
    if config.encoder_type == "rnn":
        overrides["model.encoder_hidden"] = 16
    if config.decoder_type == "rnn":
        overrides["model.decoder_hidden"] = 16
    if "transformer" in (config.encoder_type, config.decoder_type):
        overrides.update({"model.transformer_size": 16, "model.transformer_heads": 2, "model.transformer_ff_size": 32})
    torch.manual_seed(seed)
    model = build_model(build_config(preset, overrides=overrides).model, VOCAB, VOCAB)
    # Random small models rarely say </s>; a bias makes hypotheses of mixed lengths.
    with torch.no_grad():
        bias = model.head.output_bias if model.head.tie else model.head.output.bias
        bias[EOS] += 1.5
    return model.eval()


def _batch(seed=0, n=6):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(2, 9, (n,), generator=g)
    src = torch.randint(4, VOCAB, (n, int(lengths.max())), generator=g)
    src[torch.arange(src.size(1)) >= lengths.unsqueeze(1)] = PAD
    return src, lengths


def _teacher_forced_score(model, src, length, ids):
    """The summed log-probability of ids (and </s>, unless cut off by the cap) given one padded source row."""
    tgt = torch.tensor([[BOS] + ids])
    with torch.no_grad():
        out = model(src.unsqueeze(0)[:, :length], length.view(1), tgt)
    logp = out.scores.log_softmax(-1)[0]
    gold = torch.tensor(ids + [EOS])[: logp.size(0)]
    return float(logp.gather(1, gold.unsqueeze(1)).sum())


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny networks: one torch thread is faster than several (much faster when other processes keep the
    other cores busy); restored after each test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_model():
    return _model


@pytest.fixture
def make_batch():
    return _batch


@pytest.fixture
def teacher_forced_score():
    return _teacher_forced_score


@pytest.fixture
def side():
    """A token side whose vocabulary matches the models (its padding is what `generate` uses)."""
    side = TokenSide(build_tokenizer("char"), Vocab.build([list("abcdefgh")]))
    assert side.size == VOCAB
    return side
