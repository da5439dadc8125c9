"""The config schema: model / data / train / decode sections, each key with its help, choices and bounds."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .fields import ConfigError, choice, coerce, option

FORMAT_VERSION = 1


@dataclass
class ModelConfig:
    """The architecture: every variant of the encoder-decoder family is a value here."""

    cell: str = choice("lstm", "gru", "rnn", help="recurrent cell of encoder and decoder")
    embedding_size: int = option(256, "token embedding (word vector) size", low=1)
    encoder_hidden: int = option(256, "encoder hidden size per direction", low=1)
    decoder_hidden: int = option(256, "decoder hidden size", low=1)
    encoder_layers: int = option(1, "stacked encoder layers", low=1)
    decoder_layers: int = option(1, "stacked decoder layers", low=1)
    bidirectional: bool = option(False, "bidirectional encoder")
    bidirectional_merge: str = choice("concat", "sum", "mean", help="how the two directions merge")
    residual: bool = option(False, "skip connections between stacked layers (from layer 2 up)")
    dropout: float = option(0.0, "dropout on embeddings, between layers and before the output", low=0.0, high=0.99)
    # `copy` and `hidden` add no weights (`hidden` is that of Saito, Deep Learning from Scratch 2: h alone, the cell
    # from zero); the config refuses them where sizes differ.
    bridge: str = choice("copy", "hidden", "zero", "linear",
                         help="decoder initial state from the encoder's final state")
    feed_context: str = choice(
        "init", "input", "peeky", help="init: only via the bridge; input: concat to every decoder input; "
        "peeky: every input and the output layer")
    attention: str = choice(
        "none", "dot", "general", "concat", "scaled_dot", "location",
        aliases={"mlp": "concat", "bahdanau": "concat", "additive": "concat", "luong": "general",
                 "scaled-dot": "scaled_dot", "location-aware": "location"},
        help="attention score function (location: additive with a convolution over the previous step's weights)")
    attention_heads: int = option(1, "attention heads of dot/scaled_dot/general attention (concatenated and "
                                  "projected)", low=1)
    # Chorowski et al. (2015) use 10 filters; 31 positions reach 15 steps either way of the last focus.
    location_channels: int = option(10, "location attention: convolution filters", low=1)
    location_kernel: int = option(31, "location attention: convolution width in source steps (odd)", low=1)
    coverage: bool = option(False, "feed the running sum of past attention weights into the additive score "
                            "(concat or location attention)")
    copy: bool = option(False, "pointer-generator: mix generating from the vocabulary with copying source "
                        "tokens, also ones outside the target vocabulary")
    attention_output: str = choice(
        "concat", "tanh", help="concat: output layer on [c; h]; tanh: h~ = tanh(W[c; h]) (Luong)")
    input_feeding: bool = option(False, "feed the attentional state to the next decoder step")
    tie_embeddings: bool = option(False, "share target embedding and output weights")
    word_dropout: float = option(0.0, "token sides: drop whole tokens' embeddings while training (Gal & "
                                 "Ghahramani 2016)", low=0.0, high=0.99)
    share_embeddings: bool = option(False, "one embedding for source and target (needs data.shared_vocab); with "
                                    "tie_embeddings the output layer shares it too (Press & Wolf 2017)")
    source_embeddings: str | None = option(None, "pretrained source word vectors (word2vec/GloVe/fastText text "
                                           "format) to initialise the source embedding")
    target_embeddings: str | None = option(None, "pretrained target word vectors to initialise the target "
                                           "embedding")
    freeze_embeddings: bool = option(False, "keep the embeddings read from source/target_embeddings fixed")
    pyramid_layers: int = option(0, "feature sources: pyramidal bi-RNN layers under the encoder, each halving "
                                 "the time steps (LAS listener)", low=0, high=6)
    # On by default: raw speech features and time series differ in scale by orders of magnitude per dimension.
    feature_norm: bool = option(True, "feature sides: normalise each dimension by the training split's mean/std "
                                "(saved with the model); outputs and metrics are in the original units")
    stop_flag: bool = option(False, "feature targets: learn a stop flag (binary cross-entropy) that ends generation")
    encoder_type: str = choice("rnn", "transformer", help="encoder: a recurrent stack or a Transformer "
                               "(self-attention, Vaswani et al. 2017)")
    decoder_type: str = choice("rnn", "transformer", help="decoder: a recurrent stack (with the attention keys "
                               "above) or a Transformer; independent of encoder_type, so hybrids work")
    transformer_size: int = option(256, "Transformer sides: model width d_model (embeddings of another size are "
                                   "projected to it)", low=1)
    transformer_heads: int = option(4, "Transformer sides: attention heads (must divide transformer_size)", low=1)
    transformer_ff_size: int = option(1024, "Transformer sides: inner size of the position-wise feed-forward layer",
                                      low=1)
    attention_dropout: float = option(0.0, "Transformer sides: dropout on attention weights", low=0.0, high=0.99)
    activation_dropout: float = option(0.0, "Transformer sides: dropout inside the feed-forward layer, after its "
                                       "ReLU", low=0.0, high=0.99)
    positions: str = choice("sinusoidal", "learned", help="Transformer sides: fixed sinusoidal or learned "
                            "position embeddings")
    max_positions: int = option(1024, "positions=learned: the longest sequence a side can read or write", low=1)
    subsample_layers: int = option(0, "feature sources with encoder_type=transformer: strided convolutions before "
                                   "the Transformer, each halving the time steps", low=0, high=6)

    @property
    def attends(self) -> bool:
        """Whether generation attends over the source: an RNN decoder with attention, or a Transformer decoder."""
        return self.attention != "none" or self.decoder_type == "transformer"


@dataclass
class DataConfig:
    """Where pairs come from and how text becomes ids."""

    task: str | None = option(None, "built-in task name (see `seq2seq tasks`)")
    train: str | None = option(None, "training file (TSV, JSONL, or `book` fixed format)")
    valid: str | None = option(None, "validation file")
    test: str | None = option(None, "test file")
    preprocessed: str | None = option(None, "a data directory written by `seq2seq preprocess`: train from its "
                                      "memory-mapped shards instead of data.train/valid/test")
    corpus_weights: str | None = option(None, "with data.preprocessed of several training corpora: how often each "
                                        "is drawn, `name:weight,...` (OpenNMT-py's weight; null = each pair once "
                                        "per epoch)")
    format: str = choice("auto", "tsv", "jsonl", "book", "pair",
                         help="auto by extension; book = the `question_answer` lines of Saito's book")
    source_suffix: str = option("", "with format=pair: the source file's suffix, e.g. .de")
    target_suffix: str = option("", "with format=pair: the target file's suffix, e.g. .en")
    # Characters: the built-in tasks (numbers, dates) are character transductions.
    tokenizer: str = choice("char", "word", "sentencepiece", "jamo", help="default for both sides")
    source_tokenizer: str | None = option(None, "overrides `tokenizer` for the source")
    target_tokenizer: str | None = option(None, "overrides `tokenizer` for the target")
    word_split: str = choice("punct", "whitespace", help="word tokenizer: split punctuation or only spaces")
    lowercase: bool = option(False, "lower-case text before tokenising")
    sentencepiece_type: str = choice("bpe", "unigram", help="sentencepiece model type")
    sentencepiece_vocab_size: int = option(8000, "sentencepiece vocabulary size", low=8)
    reverse_source: bool = option(False, "feed the source backwards (Sutskever et al. 2014)")
    min_freq: int = option(1, "drop tokens seen fewer times than this", low=1)
    max_vocab_size: int | None = option(None, "keep at most this many tokens per vocabulary", low=5)
    shared_vocab: bool = option(False, "one vocabulary for source and target")
    source_vocab: str | None = option(None, "source vocabulary file (one token per line, optionally a count), "
                                      "instead of one built from the training data")
    target_vocab: str | None = option(None, "target vocabulary file (one token per line, optionally a count)")
    # 1000, not unlimited: one runaway line (a 5 MB line of characters) would make its batch need tens of
    # gigabytes. Validation and test pairs are bounded by decode.max_source_length / max_output_length instead.
    max_source_length: int | None = option(1000, "drop (and count) longer training pairs, in source steps "
                                           "(tokens or frames; null = no limit)", low=1)
    max_target_length: int | None = option(1000, "drop (and count) longer training pairs, in target steps "
                                           "(null = no limit)", low=1)
    skip_invalid: bool = option(False, "report and skip malformed lines instead of stopping")
    # The book's addition file has 50,000 lines: 45,000 to train and 5,000 to validate.
    train_size: int = option(45000, "built-in task: training pairs", low=1)
    valid_size: int = option(5000, "built-in task: validation pairs", low=1)
    test_size: int = option(1000, "built-in task: test pairs", low=0)
    task_seed: int = option(1234, "built-in task: generator seed")
    source_type: str = choice("tokens", "features", help="token ids or real-valued vectors")
    target_type: str = choice("tokens", "features", help="token ids or real-valued vectors")
    target_length: int | None = option(None, "feature targets: fixed number of vectors to generate (e.g. a "
                                       "forecast horizon)", low=1)
    npz_allow_pickle: bool = option(False, "read .npz object arrays, which numpy stores with pickle (can run code "
                                    "from the file: only for files you trust)")


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: int = option(10, "passes over the training data", low=1)
    # 128 sentences: the book's batch; large enough to keep a CPU's matrix units busy on small models.
    batch_size: int = option(128, "sentences per batch (or tokens with batch_by=tokens)", low=1)
    batch_by: str = choice("sentences", "tokens", help="what batch_size counts")
    bucket: bool = option(True, "group similar lengths to cut padding")
    optimizer: str = choice("adam", "adamw", help="optimiser")
    lr: float = option(1e-3, "learning rate", low=0.0)
    weight_decay: float = option(0.0, "weight decay", low=0.0)
    schedule: str = choice("constant", "inverse_sqrt", "linear", "plateau", help="learning-rate schedule")
    warmup_steps: int = option(0, "linear warm-up steps for inverse_sqrt/linear", low=0)
    plateau_factor: float = option(0.5, "plateau: lr multiplier", low=0.0, high=1.0)
    plateau_patience: int = option(1, "plateau: evaluations without improvement before cutting lr", low=0)
    clip_norm: float = option(5.0, "gradient clipping by global norm (0 = off); 5 as in Saito's book", low=0.0)
    accumulate: int = option(1, "gradient accumulation steps", low=1)
    eval_every: int = option(0, "evaluate every N steps (0 = every epoch)", low=0)
    early_stopping_metric: str = choice("valid_loss", "valid_exact_match", "valid_token_accuracy",
                                        "valid_bleu", "valid_bleu_tok", "valid_chrf", "valid_mae", "valid_rmse",
                                        "valid_cer",
                                        help="metric for best checkpoint and early stopping (bleu: cased "
                                        "sacreBLEU of the output as translate prints it; bleu_tok: lower-cased "
                                        "tokenised BLEU; mae/rmse: feature targets; cer: feature sources with "
                                        "text targets)")
    patience: int = option(0, "stop after this many evaluations without improvement (0 = never)", low=0)
    seed: int = option(1, "seed for initialisation, data order and dropout")
    teacher_forcing: float = option(1.0, "probability of feeding the gold token; < 1 = scheduled sampling",
                                    low=0.0, high=1.0)
    label_smoothing: float = option(0.0, "label smoothing of the cross-entropy", low=0.0, high=0.99)
    feature_loss: str = choice("mse", "l1", help="feature targets: squared or absolute error per step")
    precision: str = choice("fp32", "bf16", "fp16", help="autocast precision")
    # 0 rather than a number: more threads than cores slows small LSTMs sharply, and under torchrun
    # several processes share one host's cores.
    threads: int = option(0, "torch threads (0 = all cores, shared among the processes of a torchrun host)", low=0)
    device: str = option("auto", "auto, cpu, cuda, cuda:N")
    coverage_loss: float = option(0.0, "weight of the coverage loss sum_t sum_i min(a_ti, coverage_ti), which "
                                  "penalises attending again to what was attended (See et al. 2017)", low=0.0)
    keep_checkpoints: int = option(0, "also keep the last N step checkpoints (for `seq2seq average`)", low=0)
    eval_max_sentences: int = option(0, "cap on sentences decoded for exact match/BLEU per evaluation (0 = all)",
                                     low=0)
    tensorboard: bool = option(False, "write TensorBoard event files into the run directory (needs the "
                               "tensorboard extra: pip install 'seq2seq[tensorboard]')")
    log_every: int = option(0, "a progress line every N steps when stderr is not a terminal (0 = off)", low=0)
    # Seconds rather than steps: a step takes milliseconds on a toy task and seconds on a large model.
    log_seconds: float = option(30.0, "a progress line every N seconds when stderr is not a terminal (0 = off)",
                                low=0.0)
    kernels: str = choice("auto", "onednn", "blas", help="CPU kernels of training's linear layers and cell steps "
                          "(auto: the faster on this machine, measured at start and cached; onednn or blas: forced)")


@dataclass
class DecodeConfig:
    """How outputs are generated: the defaults of eval, translate, serve and `Model.translate`, which a
    command-line flag, an API keyword or an HTTP request field overrides for one call."""

    strategy: str = choice("greedy", "sample", "beam", help="deterministic, probabilistic or beam search")
    # Bounded: each hypothesis of a beam (or draw of nbest) costs as much as a whole greedy search.
    beam_size: int = option(5, "beam width (strategy=beam)", low=1, high=256)
    nbest: int = option(1, "hypotheses returned per input (beam: <= beam_size; sample: independent draws)", low=1,
                        high=256)
    # 0: the raw log-probability ranks hypotheses, as in the book; Wu et al. (2016) use 0.6-1.0.
    length_penalty: float = option(0.0, "GNMT alpha (0 = raw log-prob)", low=0.0)
    # 0: no penalty, as in the book; Wu et al. (2016) tune beta in 0.0-1.0.
    coverage_penalty: float = option(0.0, "beam search: GNMT coverage penalty beta (sources left unread rank "
                                     "lower)", low=0.0)
    min_length: int = option(0, "tokens before </s> is allowed", low=0)
    max_length: int = option(0, "absolute cap (0 = use max_length_a * len + max_length_b)", low=0)
    # A ceiling over both rules, so that no input or option runs generation unbounded (a*len+b grows with the
    # input; the attention a step reads grows with it too).
    max_output_length: int = option(1000, "hard cap on generated steps, above max_length and the relative cap",
                                    low=1, high=100_000)
    max_source_length: int = option(1000, "longest input translate, the API and the server take, in source steps "
                                    "(tokens or frames); longer inputs are refused unless truncate_source", low=1,
                                    high=1_000_000)
    truncate_source: bool = option(False, "cut inputs longer than max_source_length to that length (with "
                                   "a warning) instead of refusing them")
    # 2x + 10 covers every built-in task and translation; speech frames (10 ms) need far less (las: 0.5).
    max_length_a: float = option(2.0, "relative cap: a * source length + b", low=0.0)
    max_length_b: int = option(10, "relative cap: a * source length + b", low=0)
    temperature: float = option(1.0, "sampling temperature", low=1e-6)
    top_k: int = option(0, "sample from the k most likely (0 = all)", low=0)
    top_p: float = option(1.0, "nucleus sampling mass", low=0.0, high=1.0)
    # No fixed default: a fixed seed would give the same "random" samples on every run.
    seed: int | None = option(None, "sampling seed: the same seed and inputs give the same samples (null = a "
                              "fresh seed each call, logged)", low=0, high=2**63 - 1)
    batch_size: int = option(64, "sentences decoded at once", low=1)
    feature_length: str = choice(
        "auto", "source", "stop", "fixed", help="feature targets: how many vectors to generate - fixed: "
        "data.target_length; stop: until the stop flag (capped by max_length rules); source: the source's "
        "length; auto: fixed if data.target_length is set, else stop with model.stop_flag, else source")
    kernels: str = choice("auto", "onednn", "blas", help="CPU kernels of generation's linear layers and cell "
                          "steps (auto: the faster on this machine, measured when a model loads and cached; onednn "
                          "or blas: forced)")


SECTIONS: dict[str, type] = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig,
                             "decode": DecodeConfig}


@dataclass
class Config:
    """The whole, resolved configuration of a run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    preset: str | None = None
    version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict, suitable for YAML/JSON."""
        return dataclasses.asdict(self)

    def set(self, key: str, value: Any) -> None:
        """Set `section.name` to value (strings are parsed as YAML scalars), validating it."""
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(f"unknown config key {key!r}: keys look like "
                              f"{'/'.join(SECTIONS)}.<name>, e.g. model.attention")
        setattr(getattr(self, section), name, section_value(SECTIONS[section], section, name, value))

    def update(self, values: dict[str, Any], prefix: str = "") -> None:
        """Apply a nested dict of overrides (as read from YAML)."""
        for k, v in values.items():
            if prefix == "" and k in ("preset", "version"):
                continue
            if prefix == "" and k in SECTIONS:
                if not isinstance(v, dict):
                    raise ConfigError(f"config section '{k}' must be a mapping, got {v!r}")
                self.update(v, prefix=k + ".")
            else:
                self.set(prefix + str(k), v)

    @property
    def source_tokenizer(self) -> str:
        """The effective source tokenizer kind."""
        return self.data.source_tokenizer or self.data.tokenizer

    @property
    def target_tokenizer(self) -> str:
        """The effective target tokenizer kind."""
        return self.data.target_tokenizer or self.data.tokenizer


def section_value(cls: type, section: str, name: str, value: Any) -> Any:
    """`value` coerced for the key `section.name` of the section dataclass `cls`; ConfigError if unknown."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise ConfigError(f"unknown config key {section + '.' + name!r}; {section} keys are: {', '.join(fields)}")
    return coerce(f"{section}.{name}", cls, fields[name], value)
