"""`seq2seq preprocess` on the command line: a data directory and how to train from it, or one line of error."""

import json

from seq2seq.cli import build_parser, main


def _write(path, n, bad_line=None):
    lines = [f"ein {'großer ' * (i % 10 == 0)}Hund {i}\ta dog {i}\n" for i in range(n)]
    if bad_line:
        lines[bad_line - 1] = "no tab\n"
    path.write_text("".join(lines))
    return str(path)


def test_preprocess_writes_a_directory_and_says_how_to_train_from_it(tmp_path, capsys):
    train, valid = _write(tmp_path / "t.tsv", 50), _write(tmp_path / "v.tsv", 5)
    out = tmp_path / "data"
    assert main(["preprocess", "--train", train, "--valid", valid, "--set", "data.tokenizer=word",
                 "--set", "data.max_source_length=3", "--workers", "2", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"seq2seq train --data {out} --out RUN" in captured.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["tokenizer"] == "word" and manifest["workers"] == 2
    assert (manifest["splits"]["train"]["pairs"], manifest["splits"]["train"]["dropped"]) == (45, 5)


def test_preprocess_errors_are_one_line_and_leave_nothing(tmp_path, capsys):
    train, valid = _write(tmp_path / "t.tsv", 50, bad_line=31), _write(tmp_path / "v.tsv", 5)
    assert main(["preprocess", "--train", train, "--valid", valid, "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == f"seq2seq: error: {train}:31: expected 2 tab-separated columns (source<TAB>" \
                                      f"target), found 1\n"
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.partial").exists()
    assert main(["preprocess", "--train", train, "--out", str(tmp_path / "d")]) == 2
    assert "preprocess needs training and validation data" in capsys.readouterr().err
    assert main(["preprocess", "--train", train, "--valid", valid, "--workers", "0", "--out", str(tmp_path / "d")]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err
    assert main(["preprocess", "--train", train, "--valid", valid, "--set", "data.source_type=features",
                 "--out", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err == f"seq2seq: error: {train}: feature data must be .npz or .csv " \
                                      f"(data.source_type/target_type=features), not .tsv\n"
    assert not (tmp_path / "d").exists() and not (tmp_path / "d.partial").exists()


def test_preprocess_has_help():
    assert "preprocess" in build_parser().format_help()
