"""The demo's report: results table, learning curves, attention heatmaps and sample predictions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config.build import build_config
from ..data.tasks import generate_splits
from ..evaluation.plots import attention_heatmap, learning_curves, read_metrics
from ..inference.model import Model


def summarise(run: Path) -> dict[str, Any]:
    """One table row of a finished run: epochs, final/best exact match, seconds per epoch, parameters."""
    rows = read_metrics(run)
    last = rows[-1]
    meta = json.loads((run / "checkpoints" / "last" / "model.json").read_text(encoding="utf-8"))
    per_epoch = (last["seconds"] + sum(r["eval_seconds"] for r in rows)) / max(last["epoch"], 1e-9)
    at = {r["epoch"]: r["valid_exact_match"] for r in rows}
    return {"run": run.name, "epochs": last["epoch"], "exact_match": last["valid_exact_match"],
            "exact_match_at_10": at.get(10), "exact_match_at_3": at.get(3),
            "best_exact_match": max(r["valid_exact_match"] for r in rows), "seconds_per_epoch": per_epoch,
            "parameters": meta["parameters"],
            "curve": [round(r["valid_exact_match"] * 100, 1) for r in rows]}


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of summarise() rows."""
    lines = ["| variant | epochs | exact match at epoch 10 | final exact match | best | s / epoch (1 core) "
             "| parameters |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        at10 = "–" if r["exact_match_at_10"] is None else f"{r['exact_match_at_10'] * 100:.1f}%"
        lines.append(f"| {r['run']} | {r['epochs']:g} | {at10} | {r['exact_match'] * 100:.1f}% | "
                     f"{r['best_exact_match'] * 100:.1f}% | {r['seconds_per_epoch']:.1f} | {r['parameters']:,} |")
    return "\n".join(lines)


def samples(run: Path, n: int = 10) -> tuple[list[str], list[tuple[str, str, str]]]:
    """`n` test pairs of the run's task with the model's greedy answers, as markdown lines and raw triples."""
    cfg = build_config(yaml_file=run / "config.yaml")
    d = cfg.data
    test = generate_splits(d.task, d.train_size, d.valid_size, max(d.test_size, n), d.task_seed)["test"][:n]
    model = Model.from_run(run)
    outputs = model.translate([s for s, _ in test])
    lines, triples = [], []
    for (src, ref), hyps in zip(test, outputs):
        mark = "✓" if hyps[0].text == ref else "✗"
        lines.append(f"| `{src}` | `{ref}` | `{hyps[0].text}` | {mark} |")
        triples.append((src, ref, hyps[0].text))
    return lines, triples


def write_report(out: Path, experiments: Sequence[Any], wall_seconds: float) -> Path:
    """Write out/report.md with its PNGs; prints the table and returns the report's path."""
    experiments = sorted(experiments, key=lambda e: e.task)
    runs = [out / e.name for e in experiments]
    rows = [summarise(r) for r in runs]
    by_task: dict[str, list[Path]] = {}
    for e, r in zip(experiments, runs):
        by_task.setdefault(e.task, []).append(r)
    parts = [f"# seq2seq demo\n\nThe experiments of Saito's Deep Learning from Scratch 2 (chapters 7-8), trained "
             f"from scratch in {wall_seconds:.0f} s "
             f"of wall time.\n\n{table(rows)}\n"]
    for task, task_runs in by_task.items():
        png = learning_curves(task_runs, out / f"{task}_curves.png", metrics=("valid_exact_match",))
        parts.append(f"## {task}\n\n![validation exact match per epoch]({png.name})\n")
        lines, triples = samples(task_runs[0])
        parts.append(f"Ten test questions answered by `{task_runs[0].name}`:\n\n| input | expected | output | |\n"
                     "| --- | --- | --- | --- |\n" + "\n".join(lines) + "\n")
        model = Model.from_run(task_runs[0])
        if model.config.model.attends:
            for i, (src, _, _) in enumerate(triples[:3]):
                hyp = model.translate([src], attention=True)[0][0]
                path = attention_heatmap(hyp.attention, hyp.source_tokens, hyp.tokens + ["</s>"],
                                         out / f"{task}_attention_{i + 1}.png", title=src)
                parts.append(f"![attention for {src}]({path.name})\n")
    report = out / "report.md"
    report.write_text("\n".join(parts), encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(f"\nreport: {report}")
    return report
