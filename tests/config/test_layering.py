"""Layering: defaults < a built-in task's own settings < preset < YAML file < --set overrides, and the side
types a task cannot work without."""

import pytest

from seq2seq import build_config
from seq2seq.config import ConfigError, save
from seq2seq.config.layering import layered_config, split_override

TASK = {"train.epochs": 3, "model.cell": "gru", "train.batch_size": 1, "train.clip_norm": 1.0}


def _tasks(name):
    return (dict(TASK), {}) if name == "mine" else None


def test_each_layer_overrides_the_one_below(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("data:\n  task: mine\ntrain:\n  batch_size: 64\n  clip_norm: 2.0\n")
    cfg = layered_config("baseline", yaml_file, ["train.clip_norm=3"], task_defaults=_tasks)
    assert cfg.train.epochs == 3  # the task's own setting, left alone above
    assert cfg.model.cell == "lstm"  # the preset over the task
    assert cfg.train.batch_size == 64  # the YAML file over the preset
    assert cfg.train.clip_norm == 3.0  # --set over the YAML file
    assert cfg.model.embedding_size == 16 and cfg.preset == "baseline"  # the preset's other keys
    assert cfg.model.encoder_layers == 1  # a default nobody touched


def test_task_named_by_overrides_last_one_wins():
    cfg = layered_config(overrides=["data.task=other", "data.task=mine"], task_defaults=_tasks)
    assert cfg.train.epochs == 3
    cfg = layered_config(overrides=["data.task=mine", "data.task=other"], task_defaults=_tasks)
    assert cfg.train.epochs == 10


def test_feature_task_defaults_lie_under_every_layer():
    cfg = build_config(overrides={"data.task": "keras-example"})
    assert (cfg.data.source_type, cfg.data.target_type) == ("features", "features")
    # The keras example's own training settings (it does not learn in 20 epochs with the general defaults).
    assert (cfg.model.attention, cfg.train.feature_loss, cfg.train.lr, cfg.train.schedule, cfg.train.batch_size) == (
        "general", "l1", 0.003, "linear", 32)
    assert build_config("baseline", overrides={"data.task": "keras-example"}).train.batch_size == 128
    assert build_config(overrides={"data.task": "sine"}).data.target_length == 10
    # A task's own settings lie under every layer: an explicit value wins, even one equal to the default.
    assert build_config(overrides={"data.task": "sine", "data.target_length": 4}).data.target_length == 4
    assert build_config(overrides={"data.task": "sine", "data.train_size": 45000}).data.train_size == 45000


def test_task_named_in_a_yaml_file(tmp_path):
    path = tmp_path / "sine.yaml"
    path.write_text("data:\n  task: sine\n  test_size: 7\n")
    cfg = build_config(yaml_file=path)
    assert cfg.data.target_length == 10 and cfg.data.train_size == 4000 and cfg.data.test_size == 7


def test_task_less_layering_ignores_tasks():
    cfg = layered_config(overrides={"data.task": "sine"})
    assert cfg.data.target_length is None and cfg.data.source_type == "tokens"
    assert layered_config(overrides={"data.task": "mine"}, task_defaults=_tasks).train.epochs == 3


def test_text_and_unknown_tasks_keep_the_defaults():
    for task in ("addition", "reverse", "nope"):  # an unknown name is refused when its data is generated
        expected = build_config().to_dict()
        expected["data"]["task"] = task
        assert build_config(overrides={"data.task": task}).to_dict() == expected


@pytest.mark.parametrize("overrides, preset, message", [
    ({"data.task": "keras-example", "data.source_type": "tokens"}, None,
     "data.task=keras-example needs data.source_type=features, not tokens"),
    ({"data.task": "sine", "data.target_type": "tokens"}, None,
     "data.task=sine needs data.target_type=features, not tokens"),
    ({"data.task": "addition", "data.target_type": "features"}, None,
     "data.task=addition needs data.target_type=tokens, not features"),
    ({"data.task": "addition"}, "las", "data.task=addition needs data.source_type=tokens, not features"),
])
def test_task_side_types_are_required(overrides, preset, message):
    with pytest.raises(ConfigError) as err:
        build_config(preset, overrides=overrides)
    assert str(err.value) == message


def test_required_keys_of_a_custom_task():
    def tasks(name):
        return {}, {"data.source_type": "features"}
    with pytest.raises(ConfigError, match="^data.task=x needs data.source_type=features, not tokens$"):
        layered_config(overrides={"data.task": "x"}, task_defaults=tasks)


def test_preset_argument_wins_over_the_yaml_preset(tmp_path):
    path = tmp_path / "c.yaml"
    save(build_config("luong"), path)
    assert build_config(yaml_file=path).preset == "luong"
    cfg = build_config("bahdanau", yaml_file=path)
    # the file's values still lie above the preset: its saved model section is luong's
    assert cfg.preset == "bahdanau" and cfg.model.cell == "lstm" and cfg.model.attention == "general"


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'nope'; presets: baseline"):
        build_config("nope")


@pytest.mark.parametrize("override, message", [
    ("model.celll=lstm", "unknown config key 'model.celll'; model keys are: cell,"),
    ("modle.cell=lstm", "unknown config key 'modle.cell'"),
    ("model.attention", "expected key=value"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError) as err:
        build_config(overrides=[override])
    assert message in str(err.value)


def test_split_override():
    assert split_override(" model.cell =gru") == ("model.cell", "gru")
    assert split_override("data.train=a=b.tsv") == ("data.train", "a=b.tsv")
    assert split_override("data.valid=") == ("data.valid", "")
    with pytest.raises(ConfigError, match=r"^--set 'x': expected key=value, e\.g\. model\.attention=general"):
        split_override("x")


def test_overrides_as_list_or_mapping_agree():
    a = build_config(overrides=["model.cell=gru", "train.lr=0.5"])
    b = build_config(overrides={"model.cell": "gru", "train.lr": 0.5})
    assert a.to_dict() == b.to_dict()
