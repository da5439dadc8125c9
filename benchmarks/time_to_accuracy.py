"""How long configs take to reach a validation target: training CPU seconds and wall seconds per evaluation.

Each run trains in this process through the ordinary Trainer, one thread, evaluating after every epoch,
until its validation metric (--metric, default exact match) reaches --target or --epochs run out; the best
checkpoint is then scored on the test pairs. Runs are the built-in --tasks under each of --presets (the
task's default data: 45,000 training pairs, 5,000 validation pairs; the preset's batch, schedule and model),
or config files (--configs, e.g. Multi30k). Timings leave validation out: `train CPU s` is the process CPU
time spent training (what one core gives a run; robust when other processes share the core), `train wall
s` the wall time (the run's own `seconds`). Pin a core with `taskset -c 0`.

    taskset -c 0 .venv/bin/python benchmarks/time_to_accuracy.py --tasks date,reverse \\
        --presets attention,transformer-tiny --epochs 8
    taskset -c 0 .venv/bin/python benchmarks/time_to_accuracy.py --configs configs/multi30k-transformer.yaml \\
        --metric valid_bleu --target 100 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from seq2seq import build_config
from seq2seq.config import Config
from seq2seq.training import Trainer


class TimedTrainer(Trainer):
    """A Trainer that notes the process CPU time spent outside validation at each evaluation and stops once
    `metric` reaches `target`."""

    metric, target = "valid_exact_match", 1.0

    def run(self) -> dict[str, float]:
        """Train as usual, with the CPU clock started here (data preparation left out)."""
        self.started, self.evaluation_cpu, self.records = time.process_time(), 0.0, []
        return super().run()

    def _evaluate_and_save(self, window: dict[str, float]) -> dict[str, float]:
        start = time.process_time()
        record = super()._evaluate_and_save(window)
        self.evaluation_cpu += time.process_time() - start
        self.records.append({**record, "train_cpu_seconds": time.process_time() - self.started - self.evaluation_cpu})
        if record[self.metric] >= self.target:
            self.progress.finished = True
        return record


def race(name: str, cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Train one config to the target; its summary row."""
    out = Path(args.out) / name
    shutil.rmtree(out, ignore_errors=True)
    cfg.train.threads = 1
    TimedTrainer.metric, TimedTrainer.target = args.metric, args.target
    trainer = TimedTrainer(cfg, out, quiet=True)
    trainer.run()
    rows = trainer.records
    reached = next((r for r in rows if r[args.metric] >= args.target), None)
    test_file = out / "test_metrics.json"
    test = json.loads(test_file.read_text()) if test_file.is_file() else {}
    scale = 100 if args.metric in ("valid_exact_match", "valid_token_accuracy") else 1
    return {"run": name, "parameters": sum(p.numel() for p in trainer.model.parameters()),
            "epochs": [r["epoch"] for r in rows], "valid": [round(scale * r[args.metric], 2) for r in rows],
            "train_cpu_seconds": [round(r["train_cpu_seconds"], 1) for r in rows],
            "train_wall_seconds": [round(r["seconds"], 1) for r in rows],
            "reached": None if reached is None else {"epoch": reached["epoch"],
                                                     "train_cpu_seconds": round(reached["train_cpu_seconds"], 1),
                                                     "train_wall_seconds": round(reached["seconds"], 1)},
            "test": round(scale * test[args.metric.replace("valid_", "test_")], 2) if test else None}


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """Markdown: one row per run."""
    metric = args.metric.replace("valid_", "").replace("_", " ")
    lines = [f"| run | params | epochs to {args.target:g} | train CPU s | train wall s | valid {metric} by epoch | "
             f"CPU s by epoch | test {metric} |", "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: |"]
    for r in rows:
        got = r["reached"]
        lines.append(f"| {r['run']} | {r['parameters']:,} | {got['epoch'] if got else 'not reached'} | "
                     f"{got['train_cpu_seconds'] if got else r['train_cpu_seconds'][-1]} | "
                     f"{got['train_wall_seconds'] if got else r['train_wall_seconds'][-1]} | "
                     f"{', '.join(map(str, r['valid']))} | {', '.join(map(str, r['train_cpu_seconds']))} | "
                     f"{r['test']} |")
    return "\n".join(lines)


def main() -> None:
    """Run every config one after another and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="date,reverse", help="built-in tasks (with --presets)")
    p.add_argument("--presets", default="attention,transformer-tiny")
    p.add_argument("--configs", default="", help="config files to run instead of tasks x presets")
    p.add_argument("--epochs", type=int, default=8, help="at most this many epochs")
    p.add_argument("--metric", default="valid_exact_match")
    p.add_argument("--target", type=float, default=0.99, help="validation value to reach (exact match: 0-1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config overrides")
    p.add_argument("--out", default="runs/time-to-accuracy")
    args = p.parse_args()
    print_machine()
    torch.set_num_threads(1)
    common = {"train.epochs": args.epochs, **dict(s.split("=", 1) for s in args.set)}
    if args.configs:
        runs = {Path(c).stem: build_config(yaml_file=c, overrides=common) for c in args.configs.split(",")}
    else:
        runs = {f"{task}-{preset}": build_config(preset, overrides={"data.task": task, **common})
                for task in args.tasks.split(",") for preset in args.presets.split(",")}
    rows = [race(name, cfg, args) for name, cfg in runs.items()]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    print(f"torch {torch.__version__}, 1 thread, affinity {sorted(os.sched_getaffinity(0))}\n")
    print(table(rows, args))


if __name__ == "__main__":
    main()
