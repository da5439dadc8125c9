"""Typed, validated configuration: model / data / train / decode sections, presets, YAML in and out."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FORMAT_VERSION = 1


class ConfigError(ValueError):
    """A config key or value that cannot be used; the message names the key."""


def _choice(*values: str, aliases: dict[str, str] | None = None, help: str = "") -> Any:
    return field(default=values[0], metadata={"choices": values, "aliases": aliases or {}, "help": help})


def _opt(default: Any, help: str = "", low: float | None = None, high: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "low": low, "high": high})


@dataclass
class ModelConfig:
    """The architecture: every variant the seed documents describe is a value here."""

    cell: str = _choice("lstm", "gru", "rnn", help="recurrent cell of encoder and decoder")
    embedding_size: int = _opt(256, "token embedding (word vector) size", low=1)
    encoder_hidden: int = _opt(256, "encoder hidden size per direction", low=1)
    decoder_hidden: int = _opt(256, "decoder hidden size", low=1)
    encoder_layers: int = _opt(1, "stacked encoder layers", low=1)
    decoder_layers: int = _opt(1, "stacked decoder layers", low=1)
    bidirectional: bool = _opt(False, "bidirectional encoder")
    bidirectional_merge: str = _choice("concat", "sum", "mean", help="how the two directions merge")
    residual: bool = _opt(False, "skip connections between stacked layers (from layer 2 up)")
    dropout: float = _opt(0.0, "dropout on embeddings, between layers and before the output", low=0.0, high=0.99)
    bridge: str = _choice("copy", "zero", "linear", help="decoder initial state from the encoder's final state")
    feed_context: str = _choice(
        "init", "input", "peeky", help="init: only via the bridge; input: concat to every decoder input; "
        "peeky: every input and the output layer")
    attention: str = _choice(
        "none", "dot", "general", "concat",
        aliases={"mlp": "concat", "bahdanau": "concat", "additive": "concat", "luong": "general"},
        help="attention score function")
    attention_output: str = _choice(
        "concat", "tanh", help="concat: output layer on [c; h]; tanh: h~ = tanh(W[c; h]) (Luong)")
    input_feeding: bool = _opt(False, "feed the attentional state to the next decoder step")
    tie_embeddings: bool = _opt(False, "share target embedding and output weights")
    pyramid_layers: int = _opt(0, "feature sources: pyramidal bi-RNN layers under the encoder, each halving "
                               "the time steps (LAS listener)", low=0, high=6)
    feature_norm: bool = _opt(True, "feature sides: normalise each dimension by the training split's mean/std "
                              "(saved with the model); outputs and metrics are in the original units")
    stop_flag: bool = _opt(False, "feature targets: learn a stop flag (binary cross-entropy) that ends generation")


@dataclass
class DataConfig:
    """Where pairs come from and how text becomes ids."""

    task: str | None = _opt(None, "built-in task name (see `seq2seq tasks`)")
    train: str | None = _opt(None, "training file (TSV, JSONL, or `book` fixed format)")
    valid: str | None = _opt(None, "validation file")
    test: str | None = _opt(None, "test file")
    format: str = _choice("auto", "tsv", "jsonl", "book", "pair",
                          help="auto by extension; book = textbook `question_answer` lines")
    source_suffix: str = _opt("", "with format=pair: the source file's suffix, e.g. .de")
    target_suffix: str = _opt("", "with format=pair: the target file's suffix, e.g. .en")
    tokenizer: str = _choice("char", "word", "sentencepiece", "jamo", help="default for both sides")
    source_tokenizer: str | None = _opt(None, "overrides `tokenizer` for the source")
    target_tokenizer: str | None = _opt(None, "overrides `tokenizer` for the target")
    word_split: str = _choice("punct", "whitespace", help="word tokenizer: split punctuation or only spaces")
    lowercase: bool = _opt(False, "lower-case text before tokenising")
    sentencepiece_type: str = _choice("bpe", "unigram", help="sentencepiece model type")
    sentencepiece_vocab_size: int = _opt(8000, "sentencepiece vocabulary size", low=8)
    reverse_source: bool = _opt(False, "feed the source backwards (Sutskever et al. 2014)")
    min_freq: int = _opt(1, "drop tokens seen fewer times than this", low=1)
    max_vocab_size: int | None = _opt(None, "keep at most this many tokens per vocabulary", low=5)
    shared_vocab: bool = _opt(False, "one vocabulary for source and target")
    max_source_length: int | None = _opt(None, "drop (and count) longer training pairs, in tokens", low=1)
    max_target_length: int | None = _opt(None, "drop (and count) longer training pairs, in tokens", low=1)
    skip_invalid: bool = _opt(False, "report and skip malformed lines instead of stopping")
    train_size: int = _opt(45000, "built-in task: training pairs", low=1)
    valid_size: int = _opt(5000, "built-in task: validation pairs", low=1)
    test_size: int = _opt(1000, "built-in task: test pairs", low=0)
    task_seed: int = _opt(1234, "built-in task: generator seed")
    source_type: str = _choice("tokens", "features", help="token ids or real-valued vectors")
    target_type: str = _choice("tokens", "features", help="token ids or real-valued vectors")
    target_length: int | None = _opt(None, "feature targets: fixed number of vectors to generate (e.g. a "
                                     "forecast horizon)", low=1)
    npz_allow_pickle: bool = _opt(False, "read .npz object arrays, which numpy stores with pickle (can run code "
                                  "from the file: only for files you trust)")


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: int = _opt(10, "passes over the training data", low=1)
    batch_size: int = _opt(128, "sentences per batch (or tokens with batch_by=tokens)", low=1)
    batch_by: str = _choice("sentences", "tokens", help="what batch_size counts")
    bucket: bool = _opt(True, "group similar lengths to cut padding")
    optimizer: str = _choice("adam", "adamw", help="optimiser")
    lr: float = _opt(1e-3, "learning rate", low=0.0)
    weight_decay: float = _opt(0.0, "weight decay", low=0.0)
    schedule: str = _choice("constant", "inverse_sqrt", "linear", "plateau", help="learning-rate schedule")
    warmup_steps: int = _opt(0, "linear warm-up steps for inverse_sqrt/linear", low=0)
    plateau_factor: float = _opt(0.5, "plateau: lr multiplier", low=0.0, high=1.0)
    plateau_patience: int = _opt(1, "plateau: evaluations without improvement before cutting lr", low=0)
    clip_norm: float = _opt(5.0, "gradient clipping by global norm (0 = off); 5 as in the textbook", low=0.0)
    accumulate: int = _opt(1, "gradient accumulation steps", low=1)
    eval_every: int = _opt(0, "evaluate every N steps (0 = every epoch)", low=0)
    early_stopping_metric: str = _choice("valid_loss", "valid_exact_match", "valid_token_accuracy",
                                         "valid_bleu", "valid_mae", "valid_rmse", "valid_cer",
                                         help="metric for best checkpoint and early stopping (mae/rmse: "
                                         "feature targets; cer: feature sources with text targets)")
    patience: int = _opt(0, "stop after this many evaluations without improvement (0 = never)", low=0)
    seed: int = _opt(1, "seed for initialisation, data order and dropout")
    teacher_forcing: float = _opt(1.0, "probability of feeding the gold token; < 1 = scheduled sampling",
                                  low=0.0, high=1.0)
    label_smoothing: float = _opt(0.0, "label smoothing of the cross-entropy", low=0.0, high=0.99)
    feature_loss: str = _choice("mse", "l1", help="feature targets: squared or absolute error per step")
    precision: str = _choice("fp32", "bf16", "fp16", help="autocast precision")
    threads: int = _opt(0, "torch threads (0 = all cores, shared among the processes of a torchrun host)", low=0)
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N")
    eval_max_sentences: int = _opt(0, "cap on sentences decoded for exact match/BLEU per evaluation (0 = all)",
                                   low=0)


@dataclass
class DecodeConfig:
    """Generation defaults used by eval, translate and serve."""

    strategy: str = _choice("greedy", "sample", "beam", help="deterministic, probabilistic or beam search")
    beam_size: int = _opt(5, "beam width", low=1)
    nbest: int = _opt(1, "hypotheses returned per input", low=1)
    length_penalty: float = _opt(0.0, "GNMT alpha (0 = raw log-prob)", low=0.0)
    min_length: int = _opt(0, "tokens before </s> is allowed", low=0)
    max_length: int = _opt(0, "absolute cap (0 = use max_length_a * len + max_length_b)", low=0)
    max_length_a: float = _opt(2.0, "relative cap: a * source length + b", low=0.0)
    max_length_b: int = _opt(10, "relative cap: a * source length + b", low=0)
    temperature: float = _opt(1.0, "sampling temperature", low=1e-6)
    top_k: int = _opt(0, "sample from the k most likely (0 = all)", low=0)
    top_p: float = _opt(1.0, "nucleus sampling mass", low=0.0, high=1.0)
    batch_size: int = _opt(64, "sentences decoded at once", low=1)
    feature_length: str = _choice(
        "auto", "source", "stop", "fixed", help="feature targets: how many vectors to generate - fixed: "
        "data.target_length; stop: until the stop flag (capped by max_length rules); source: the source's "
        "length; auto: fixed if data.target_length is set, else stop with model.stop_flag, else source")


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

    def to_yaml(self) -> str:
        """The config as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        """Write the config as YAML."""
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    def set(self, key: str, value: Any) -> None:
        """Set `section.name` to value (strings are parsed as YAML scalars), validating it."""
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name:
            raise ConfigError(f"unknown config key '{key}': keys look like "
                              f"{'/'.join(SECTIONS)}.<name>, e.g. model.attention")
        obj = getattr(self, section)
        fields = {f.name: f for f in dataclasses.fields(obj)}
        if name not in fields:
            raise ConfigError(f"unknown config key '{key}'; {section} keys are: {', '.join(fields)}")
        setattr(obj, name, _coerce(key, fields[name], obj, value))

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
                self.set(prefix + k, v)

    def validate(self) -> Config:
        """Refuse impossible combinations, naming the keys; returns self."""
        m, d, t = self.model, self.data, self.train
        enc_out = m.encoder_hidden * (2 if m.bidirectional and m.bidirectional_merge == "concat" else 1)
        if m.bridge == "copy":
            if enc_out != m.decoder_hidden:
                raise ConfigError(
                    f"model.bridge=copy needs the encoder's final state size ({enc_out}: encoder_hidden="
                    f"{m.encoder_hidden}{', bidirectional concat' if enc_out != m.encoder_hidden else ''}) "
                    f"to equal model.decoder_hidden ({m.decoder_hidden}); use model.bridge=linear or zero")
            if m.encoder_layers != m.decoder_layers:
                raise ConfigError(
                    f"model.bridge=copy needs model.encoder_layers ({m.encoder_layers}) == "
                    f"model.decoder_layers ({m.decoder_layers}); use model.bridge=linear or zero")
        if m.attention == "dot" and enc_out != m.decoder_hidden:
            raise ConfigError(
                f"model.attention=dot needs encoder outputs ({enc_out}) and model.decoder_hidden "
                f"({m.decoder_hidden}) of one size; use model.attention=general or concat")
        if m.input_feeding and m.attention == "none":
            raise ConfigError("model.input_feeding=true needs model.attention to be dot, general or concat")
        if m.attention_output == "tanh" and m.attention == "none":
            raise ConfigError("model.attention_output=tanh needs model.attention to be dot, general or concat")
        if m.tie_embeddings and m.feed_context == "peeky":
            raise ConfigError("model.tie_embeddings=true cannot be used with model.feed_context=peeky")
        if d.task is None and d.train is None:
            pass  # checked by the train command, which knows whether data is needed
        if t.precision == "fp16" and t.device in ("cpu",):
            raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
        if d.shared_vocab and self.source_tokenizer != self.target_tokenizer:
            raise ConfigError("data.shared_vocab=true needs the same source and target tokenizer")
        self._validate_features()
        return self

    def _validate_features(self) -> None:
        m, d, t, dec = self.model, self.data, self.train, self.decode
        src_f, tgt_f = d.source_type == "features", d.target_type == "features"
        if m.pyramid_layers and not src_f:
            raise ConfigError("model.pyramid_layers needs data.source_type=features")
        if d.shared_vocab and (src_f or tgt_f):
            raise ConfigError("data.shared_vocab=true needs data.source_type=tokens and data.target_type=tokens")
        needs_tgt_f = {"model.stop_flag": m.stop_flag, "data.target_length": d.target_length is not None,
                       f"train.early_stopping_metric={t.early_stopping_metric}":
                           t.early_stopping_metric in ("valid_mae", "valid_rmse"),
                       f"decode.feature_length={dec.feature_length}": dec.feature_length != "auto"}
        for key, used in needs_tgt_f.items():
            if used and not tgt_f:
                raise ConfigError(f"{key} needs data.target_type=features")
        if tgt_f:
            if m.tie_embeddings:
                raise ConfigError("model.tie_embeddings=true needs data.target_type=tokens (features have no "
                                  "output embedding)")
            if t.early_stopping_metric not in ("valid_loss", "valid_mae", "valid_rmse"):
                raise ConfigError(f"train.early_stopping_metric={t.early_stopping_metric} is a text metric; "
                                  f"with data.target_type=features use valid_loss, valid_mae or valid_rmse")
            if dec.strategy != "greedy":
                raise ConfigError(f"decode.strategy={dec.strategy} has no meaning for data.target_type=features "
                                  f"(generation feeds back each output); use greedy")
            if dec.feature_length == "stop" and not m.stop_flag:
                raise ConfigError("decode.feature_length=stop needs model.stop_flag=true")
            if dec.feature_length == "fixed" and d.target_length is None:
                raise ConfigError("decode.feature_length=fixed needs data.target_length")
        if t.early_stopping_metric == "valid_cer" and (tgt_f or not src_f):
            raise ConfigError("train.early_stopping_metric=valid_cer needs data.source_type=features and "
                              "data.target_type=tokens")

    @property
    def source_tokenizer(self) -> str:
        """The effective source tokenizer kind."""
        return self.data.source_tokenizer or self.data.tokenizer

    @property
    def target_tokenizer(self) -> str:
        """The effective target tokenizer kind."""
        return self.data.target_tokenizer or self.data.tokenizer


def _coerce(key: str, f: dataclasses.Field, obj: Any, value: Any) -> Any:
    if isinstance(value, str) and f.type not in ("str", "str | None"):
        try:
            value = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as e:
            raise ConfigError(f"{key}: cannot parse value {value!r}: {e}") from None
    meta = f.metadata
    hint = typing.get_type_hints(type(obj))[f.name]
    optional = type(None) in typing.get_args(hint)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{key} may not be empty")
    if "choices" in meta and meta["choices"]:
        text = str(value).lower() if isinstance(value, str) else value
        text = meta["aliases"].get(text, text)
        if text not in meta["choices"]:
            raise ConfigError(f"{key}: bad value {value!r}; allowed values: {', '.join(meta['choices'])}"
                              + (f" (aliases: {', '.join(meta['aliases'])})" if meta["aliases"] else ""))
        return text
    if base is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        value = float(value)
    elif base is str:
        value = str(value)
    low, high = meta.get("low"), meta.get("high")
    if low is not None and value < low:
        raise ConfigError(f"{key}: {value!r} is below the minimum {low}")
    if high is not None and value > high:
        raise ConfigError(f"{key}: {value!r} is above the maximum {high}")
    return value


# The textbook draws batches uniformly at random; length-bucketed batches of these short questions
# (3-7 characters) save little and measurably slowed learning (addition, epoch 10: 59-82% vs 93%).
_BOOK7 = {"model.cell": "lstm", "model.embedding_size": 16, "model.encoder_hidden": 128,
          "model.decoder_hidden": 128, "train.batch_size": 128, "train.clip_norm": 5.0, "train.bucket": False}

PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "baseline": ("textbook ch. 7 seq2seq: LSTM, embedding 16, hidden 128, context via initial state", _BOOK7),
    "reverse": ("baseline with the source fed backwards", {**_BOOK7, "data.reverse_source": True}),
    "peeky": ("baseline with the context fed to every decoder step and output (peeky)",
              {**_BOOK7, "model.feed_context": "peeky"}),
    "reverse-peeky": ("reverse + peeky, the textbook's best ch. 7 model",
                      {**_BOOK7, "data.reverse_source": True, "model.feed_context": "peeky"}),
    "attention": ("textbook ch. 8: LSTM with dot attention, output on [c; h]",
                  {**_BOOK7, "model.embedding_size": 16, "model.encoder_hidden": 256,
                   "model.decoder_hidden": 256, "model.attention": "dot",
                   # Dates learn as fast from length-bucketed batches, and with most batches then
                   # free of padding the encoder skips packing: 1.66x faster steps on the book's dates.
                   "train.bucket": True}),
    "luong": ("Luong et al. 2015: bi-LSTM, general attention, tanh attentional state, input feeding",
              {"model.cell": "lstm", "model.bidirectional": True, "model.attention": "general",
               "model.attention_output": "tanh", "model.input_feeding": True, "model.bridge": "linear",
               "model.dropout": 0.2}),
    "bahdanau": ("Bahdanau et al. 2015: bi-GRU encoder, additive (concat) attention",
                 {"model.cell": "gru", "model.bidirectional": True, "model.attention": "concat",
                  "model.bridge": "linear", "model.dropout": 0.2}),
    "deep-residual": ("GNMT-like: 4+4 LSTM layers with residual connections and attention",
                      {"model.cell": "lstm", "model.encoder_layers": 4, "model.decoder_layers": 4,
                       "model.residual": True, "model.attention": "general", "model.bridge": "linear",
                       "model.dropout": 0.2}),
    "las": ("Listen, Attend and Spell (Chan et al. 2016): feature source, pyramidal bi-LSTM listener, "
            "concat-attention speller with input feeding",
            {"data.source_type": "features", "data.target_type": "tokens", "model.cell": "lstm",
             "model.embedding_size": 128, "model.encoder_hidden": 128, "model.decoder_hidden": 256,
             "model.pyramid_layers": 3, "model.bidirectional": True, "model.attention": "concat",
             "model.input_feeding": True, "model.bridge": "linear", "model.dropout": 0.1,
             "train.early_stopping_metric": "valid_cer"}),
}


def build_config(preset: str | None = None, yaml_file: str | Path | None = None,
                 overrides: list[str] | dict[str, Any] | None = None) -> Config:
    """Defaults, then a built-in task's own settings, then a preset, then a YAML file, then `key=value`
    overrides; validated."""
    raw: dict[str, Any] | None = None
    if yaml_file is not None:
        path = Path(yaml_file)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read config: {e}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: a config file must be a mapping of sections")
        version = raw.get("version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ConfigError(f"{path}: config format version {version!r} is newer than this seq2seq "
                              f"understands ({FORMAT_VERSION}); upgrade seq2seq")
        preset = preset or raw.get("preset")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset '{preset}'; presets: {', '.join(PRESETS)}")
    items = list(overrides.items() if isinstance(overrides, dict) else (_split(o) for o in overrides or []))
    cfg = _layered(Config(), preset, yaml_file, raw, items)
    task = _task_config(cfg.data.task)
    if task is not None:
        if task:
            # The task is known only once every layer is read; its own settings go under all of them.
            base = Config()
            for k, v in task.items():
                base.set(k, v)
            cfg = _layered(base, preset, yaml_file, raw, items)
        for side in ("source", "target"):
            want, got = task.get(f"data.{side}_type", "tokens"), getattr(cfg.data, f"{side}_type")
            if want != got:
                raise ConfigError(f"data.task={cfg.data.task} has {'real-valued' if want == 'features' else 'text'} "
                                  f"{side}s: it needs data.{side}_type={want}, not {got}")
    return cfg.validate()


def _layered(cfg: Config, preset: str | None, yaml_file: str | Path | None, raw: dict[str, Any] | None,
             items: list[tuple[str, Any]]) -> Config:
    if preset is not None:
        for k, v in PRESETS[preset][1].items():
            cfg.set(k, v)
        cfg.preset = preset
    if raw is not None:
        try:
            cfg.update(raw)
        except ConfigError as e:
            raise ConfigError(f"{yaml_file}: {e}") from None
    for k, v in items:
        cfg.set(k, v)
    return cfg


def _task_config(name: str | None) -> dict[str, Any] | None:
    """A built-in task's own settings (feature sides, forecast horizon, sizes; {} for text tasks), or None
    without a task or for an unknown name (refused with the list of tasks when the data is generated)."""
    from .data.tasks import TASKS

    task = TASKS.get(name) if name is not None else None
    return None if task is None else dict(task.config)


def _split(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. model.attention=general")
    return key.strip(), value


def describe_keys() -> list[tuple[str, Any, str]]:
    """(key, default, help) for every config key, for docs and `--help`."""
    out = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            choices = f.metadata.get("choices")
            extra = f" (one of: {', '.join(choices)})" if choices else ""
            out.append((f"{section}.{f.name}", f.default, f.metadata.get("help", "") + extra))
    return out


def commented_yaml(cfg: Config) -> str:
    """The config as YAML with each key's meaning and allowed values as a comment."""
    helps = {k: h for k, _, h in describe_keys()}
    lines = [f"# seq2seq config (format version {cfg.version})", f"preset: {yaml.safe_dump(cfg.preset).split(chr(10))[0]}"]
    for section in SECTIONS:
        lines.append(f"{section}:")
        for name, value in getattr(cfg, section).__dict__.items():
            text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True).strip().removesuffix("...").strip()
            lines.append(f"  {name}: {text}".ljust(40) + f"  # {helps[f'{section}.{name}']}")
    return "\n".join(lines) + "\n"
