"""The `seq2seq` command: listings, config, data inspect, plots, and user errors as one line with status 2."""

import pytest
import yaml

from seq2seq import build_config
from seq2seq.cli import build_parser, main


def test_listing_commands(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "addition" in out and "keras-example" in out and "sine" in out
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "reverse-peeky" in out and "las" in out and "model.attention=dot" in out


def test_config_prints_the_resolved_config_as_yaml_that_reads_back(tmp_path, capsys):
    assert main(["config", "--preset", "attention", "--set", "decode.beam_size=3", "--set", "data.task=date"]) == 0
    text = capsys.readouterr().out
    assert "# recurrent cell of encoder and decoder" in text
    data = yaml.safe_load(text)
    assert data["preset"] == "attention" and data["decode"]["beam_size"] == 3 and data["data"]["task"] == "date"
    (tmp_path / "c.yaml").write_text(text)
    again = build_config(yaml_file=tmp_path / "c.yaml")
    assert again.to_dict() == {**build_config("attention", overrides=["decode.beam_size=3", "data.task=date"])
                               .to_dict(), "preset": again.preset}
    assert main(["config", "--set", "decode.strategy=beam", "--set", "decode.nbest=9", "--set",
                 "decode.beam_size=2"]) == 2
    assert "decode.nbest (9) cannot exceed decode.beam_size (2)" in capsys.readouterr().err


def test_data_inspect(tmp_path, capsys):
    (tmp_path / "d.tsv").write_text("abc\tcba\nab\tba\nbad line\n")
    assert main(["data", "inspect", str(tmp_path / "d.tsv")]) == 0
    out = capsys.readouterr().out
    assert "pairs: 2" in out and "invalid lines: 1" in out and "format tsv" in out


def test_data_inspect_reads_two_file_corpora(tmp_path, capsys):
    (tmp_path / "c.de").write_text("Hallo\nDanke\n")
    (tmp_path / "c.en").write_text("Hello\nThanks\n")
    assert main(["data", "inspect", str(tmp_path / "c"), "--format", "pair", "--source-suffix", ".de",
                 "--target-suffix", ".en"]) == 0
    assert "pairs: 2" in capsys.readouterr().out
    assert main(["data", "inspect", str(tmp_path / "c"), "--format", "pair"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seq2seq: error: format pair reads two files") and len(err.splitlines()) == 1
    assert main(["data", "inspect", str(tmp_path / "nope.tsv")]) == 2
    assert capsys.readouterr().err == f"seq2seq: error: {tmp_path / 'nope.tsv'}: file not found\n"


def test_an_interrupted_command_says_so_without_a_traceback(monkeypatch, capsys):
    def interrupted(_):
        raise KeyboardInterrupt

    monkeypatch.setattr("seq2seq.cli.commands.tasks_command", interrupted)
    assert main(["tasks"]) == 130
    assert capsys.readouterr().err == "seq2seq: interrupted\n"


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["train", "--task", "addition", "--set", "model.cell=transformer", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == \
        "seq2seq: error: model.cell: bad value 'transformer'; allowed values: lstm, gru, rnn"
    assert main(["translate", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\nc\n")
    assert main(["train", "--train", str(bad), "--valid", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "bad.tsv:2:" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "r")]) == 2
    assert "no data: give --task NAME, or --train FILE and --valid FILE" in capsys.readouterr().err
    assert main(["train", "--task", "sine", "--set", "decode.strategy=beam", "--out", str(tmp_path / "s")]) == 2
    assert "decode.strategy=beam has no meaning for data.target_type=features" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "nowhere"), "--output", str(tmp_path / "c.png")]) == 2
    assert "metrics.jsonl: missing" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["train", "--task", "reverse", "--out", str(tmp_path / "file" / "run")]) == 2
    assert capsys.readouterr().err == (f"seq2seq: error: {tmp_path / 'file' / 'run'}: cannot create it, "
                                       f"{tmp_path / 'file'} is a file, not a directory\n")
    assert main(["train", "--task", "reverse", "--set", "model.cell=[lstm]", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == "seq2seq: error: model.cell: bad value '[lstm]'; allowed values: lstm, gru, rnn\n"
    assert main(["train", "--task", "reverse", "--set", "train.lr=.nan", "--out", str(tmp_path / "r")]) == 2
    assert capsys.readouterr().err == "seq2seq: error: train.lr: expected a finite number, got nan\n"


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    for command in ("train", "eval", "translate", "serve", "export", "plot", "demo", "config", "tasks", "presets"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "decoding (defaults: the run's decode section)" in out and "--max-beam" in out


@pytest.mark.slow
def test_plot_learning_curves(reverse_run, tmp_path, capsys):
    assert main(["plot", str(reverse_run), "--output", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_version_names_the_package_torch_and_python(capsys):
    import platform

    import torch

    import seq2seq

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == (f"seq2seq {seq2seq.__version__} (torch {torch.__version__}, "
                                       f"Python {platform.python_version()})\n")
