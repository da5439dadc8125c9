import json
import logging

import pytest

from seq2seq import load
from seq2seq.demo.report import summarise, table
from seq2seq.demo.run import FULL, Experiment, Watcher, run_demo


@pytest.mark.slow
def test_quick_demo_leaves_report_plots_and_usable_runs(tmp_path, capsys, caplog):
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        report = run_demo(tmp_path, quick=True, jobs=2)
    # Each worker's progress is reported while it runs: one line per evaluation.
    for exp in FULL:
        assert sum(f"  {exp.name}: epoch " in r.message for r in caplog.records) == 2
    text = report.read_text()
    printed = capsys.readouterr().out
    assert "| variant | epochs | exact match at epoch 10 | final exact match |" in printed and str(report) in printed
    for exp in FULL:
        assert f"| {exp.name} | 2 | – |" in text
    for png in ("addition_curves.png", "date_curves.png", "date_attention_1.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
        assert png in text
    assert text.count("✓") + text.count("✗") == 20
    rows = json.loads((tmp_path / "summary.json").read_text())
    assert all(0.0 <= r["exact_match"] <= 1.0 and r["seconds_per_epoch"] > 0 for r in rows)
    assert load(tmp_path / "date-attention").translate(["April 3, 1996"])[0][0].text != ""
    # a second call reuses the finished runs and only rewrites the report
    weights = {e.name: (tmp_path / e.name / "checkpoints" / "last" / "model.safetensors").stat().st_mtime_ns
               for e in FULL}
    again = run_demo(tmp_path, quick=True, jobs=2)
    assert again == report and json.loads((tmp_path / "summary.json").read_text()) == rows
    assert weights == {e.name: (tmp_path / e.name / "checkpoints" / "last" / "model.safetensors").stat().st_mtime_ns
                       for e in FULL}


def _fake_run(path, rows, parameters=1234):
    (path / "checkpoints" / "last").mkdir(parents=True)
    (path / "checkpoints" / "last" / "model.json").write_text(json.dumps({"parameters": parameters}))
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_summarise_and_table_of_runs(tmp_path):
    rows = [{"epoch": e, "valid_exact_match": m, "seconds": 10.0 * e, "eval_seconds": 1.0}
            for e, m in ((1, 0.1), (2, 0.5), (3, 0.4))]
    short = summarise(_fake_run(tmp_path / "short", rows))
    assert short["run"] == "short" and short["epochs"] == 3 and short["exact_match"] == 0.4
    assert short["best_exact_match"] == 0.5 and short["exact_match_at_3"] == 0.4
    assert short["exact_match_at_10"] is None
    assert short["seconds_per_epoch"] == pytest.approx((30.0 + 3.0) / 3)
    assert short["curve"] == [10.0, 50.0, 40.0] and short["parameters"] == 1234
    long_rows = [{"epoch": e, "valid_exact_match": e / 20, "seconds": 2.0 * e, "eval_seconds": 0.5}
                 for e in range(1, 13)]
    long = summarise(_fake_run(tmp_path / "long", long_rows, parameters=1_234_567))
    assert long["exact_match_at_10"] == 0.5
    lines = table([short, long]).splitlines()
    assert lines[0].startswith("| variant | epochs | exact match at epoch 10 | final exact match | best |")
    assert lines[2] == "| short | 3 | – | 40.0% | 50.0% | 11.0 | 1,234 |"
    assert lines[3] == "| long | 12 | 50.0% | 60.0% | 60.0% | 2.5 | 1,234,567 |"


def test_watcher_reports_each_new_evaluation_once_and_waits_for_whole_lines(tmp_path, caplog):
    exps = [Experiment("addition", "peeky", 10), Experiment("date", "attention", 3)]
    watcher = Watcher(tmp_path, exps, quick=False)
    with caplog.at_level(logging.INFO, logger="seq2seq"):
        watcher.poll()  # no run directory yet
        run = tmp_path / "addition-peeky"
        run.mkdir()
        record = {"epoch": 1.0, "valid_exact_match": 0.25, "seconds": 9.6, "eval_seconds": 0.5}
        (run / "metrics.jsonl").write_text(json.dumps(record) + "\n" + '{"epoch": 2.0, "valid_ex')
        watcher.poll()
        watcher.poll()
    assert [r.message for r in caplog.records] == ["  addition-peeky: epoch 1/10, validation exact match 25.0% (10 s)"]
    assert Watcher(tmp_path, exps, quick=True).epochs == {"addition-peeky": 2, "date-attention": 2}
