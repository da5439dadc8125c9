import json

from seq2seq.api import load
from seq2seq.demo import FULL, run_demo


def test_quick_demo_leaves_report_plots_and_usable_runs(tmp_path, capsys):
    report = run_demo(tmp_path, quick=True, jobs=2)
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
