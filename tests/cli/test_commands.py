"""The `seq2seq` command: listings, config, data inspect, plots, and user errors as one line with status 2."""

import json

import pytest
import yaml

import seq2seq
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

    monkeypatch.setattr("seq2seq.cli.parser.tasks_command", interrupted)
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
    for command in ("train", "eval", "translate", "serve", "export", "plot", "demo", "config", "tasks", "presets",
                    "score", "average"):
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


def test_score_prints_each_pairs_log_probability(make_run, tmp_path, capsys):
    run, other = make_run("a", seed=1), make_run("b", seed=2)
    data = tmp_path / "pairs.tsv"
    data.write_text("abc\tcba\nhe\teh\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["score", str(run), "--data", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    expected = seq2seq.load(run).score(["abc", "he"], ["cba", "eh"])
    assert lines == [f"{s.score:.4f}" for s in expected]
    assert main(["score", str(run), str(other), "--data", str(data), "--tokens", "--batch-size", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[1]["tokens"] == ["e", "h", "</s>"] and len(rows[1]["token_scores"]) == 3
    assert rows[0]["score"] == pytest.approx(seq2seq.load_ensemble([run, other]).score(["abc"], ["cba"])[0].score)
    mismatch = make_run("c", text="xyz")
    assert main(["score", str(run), str(mismatch), "--data", str(data)]) == 2
    assert f"{run} and {mismatch}: the target vocabularies differ" in capsys.readouterr().err


def test_average_writes_a_run_of_the_mean_weights(make_run, tmp_path, capsys):
    run = make_run(steps=(100, 200, 300))
    assert main(["average", str(run), "--last", "2", "--out", str(tmp_path / "avg")]) == 0
    assert "averaged 2 checkpoints (steps 200, 300)" in capsys.readouterr().out
    assert main(["translate", str(tmp_path / "avg"), "--input", str(run / "config.yaml"), "--output",
                 str(tmp_path / "out.txt")]) == 0
    assert main(["average", str(run), "--steps", "100,x", "--out", str(tmp_path / "b")]) == 2
    assert "--steps takes step numbers separated by commas, got '100,x'" in capsys.readouterr().err
    assert main(["average", str(run), "--steps", "100,150", "--out", str(tmp_path / "b")]) == 2
    assert "no checkpoint of step 150 (steps kept: 100, 200, 300)" in capsys.readouterr().err


def test_eval_of_several_runs_scores_their_ensemble(make_run, tmp_path, capsys):
    a, b = make_run("a", seed=1), make_run("b", seed=2)
    data = tmp_path / "pairs.tsv"
    data.write_text("abc\tcba\nhe\teh\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["eval", str(a), str(b), "--data", str(data), "--beam", "2"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["predictions"] == str(a / "predictions.ensemble.tsv") and metrics["sentences"] == 2
    ensemble = seq2seq.load_ensemble([a, b])
    scores = ensemble.score(["abc", "he"], ["cba", "eh"])
    expected = -sum(s.score for s in scores) / sum(len(s.tokens) for s in scores)
    assert metrics["loss"] == pytest.approx(expected, rel=1e-5)
    lines = (a / "predictions.ensemble.tsv").read_text().splitlines()
    assert lines[1].split("\t")[2] == ensemble.translate(["abc"], beam=2)[0][0].text
