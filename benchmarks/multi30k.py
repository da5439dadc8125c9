"""Multi30k (task 1, test2016 Flickr) end to end: train a config, tune beam/alpha on val, score test.

Training goes through the ordinary CLI (`seq2seq train`, resumed with `--resume` if the run directory
holds an unfinished run), pinned to one core with one thread by default. Then, through the Python API
(`seq2seq.load(run).translate(texts, beam=K, alpha=A)`, because `seq2seq translate` has no length-penalty
option), the validation set is decoded greedy and with every beam size x length penalty of the grid; the
setting with the best validation BLEU is chosen (never test), and test is decoded greedy and with it.

Scores, all with sacrebleu against the raw (untouched) references:
- `bleu_tok`: lower-cased tokenised BLEU, the usual Multi30k convention: hypotheses and references split
  by the toolkit's lower-cased `word` tokenizer (punctuation split), `tokenize="none"`.
- `bleu_13a`: sacreBLEU's default (13a, cased) on the output as `translate` prints it (detokenised by
  the toolkit) vs the raw references; `bleu_13a_lc`: the same with `lowercase=True` (13a keeps hyphenated
  words whole, so it is the closest to Moses-tokenised lower-cased BLEU of the literature). A model
  trained on lower-cased text (`data.lowercase: true`) cannot score well cased; `multi30k-small.yaml` keeps case.
- `chrf`: chrF2 of the detokenised output vs the raw references (cased).
- `unk`: the share of outputs holding `<unk>` (what a reader of the translations sees as a hole).

The toolkit's own validation scores (metrics.jsonl's `valid_bleu`, `valid_bleu_tok`) are computed the same way
on greedy output, so the table sets the best checkpoint's `valid_bleu` beside the sacreBLEU of its greedy
`translate` output on val: the two agree.

    python benchmarks/multi30k.py --name small --direction en-de --config configs/multi30k-small.yaml
    python benchmarks/multi30k.py --name small-deen --direction de-en --config configs/multi30k-small.yaml \
        --set train.epochs=20 --beams 1,5,10 --alphas 0,1

Writes RUN/benchmark.json and RUN/benchmark.md (one table row), and appends the row to --results.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "multi30k"
SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
SEQ2SEQ = str(Path(sys.executable).parent / "seq2seq")


# -- text: tokenised references, detokenised hypotheses --

def read_lines(stem: str, lang: str) -> list[str]:
    """The raw lines of DATA/{stem}.{lang}.gz (trailing whitespace stripped)."""
    with gzip.open(DATA / f"{stem}.{lang}.gz", "rt", encoding="utf-8") as f:  # DATA: --data
        return [line.rstrip("\n").strip() for line in f]


def tok(text: str) -> str:
    """Lower-cased word tokens as the toolkit's `word` tokenizer (punct) makes them; `<unk>` stays one token
    (the toolkit's `literature_tokens`, which its validation `bleu_tok` reads too)."""
    from seq2seq.evaluation.metrics import literature_tokens

    return literature_tokens(text)


def scores(tok_hyps: list[str], detok_hyps: list[str], raw_refs: list[str],
           unk: float | None = None) -> dict[str, float]:
    """bleu_tok (+ its length ratio), bleu_13a, bleu_13a_lc, chrf and (given) the <unk> share; see the module
    docstring."""
    import sacrebleu

    tb = sacrebleu.corpus_bleu(tok_hyps, [[tok(r) for r in raw_refs]], tokenize="none", force=True)
    out = {"bleu_tok": round(tb.score, 2), "len_ratio": round(tb.sys_len / tb.ref_len, 4),
           "bleu_13a": round(sacrebleu.corpus_bleu(detok_hyps, [raw_refs]).score, 2),
           "bleu_13a_lc": round(sacrebleu.corpus_bleu(detok_hyps, [raw_refs], lowercase=True).score, 2),
           "chrf": round(sacrebleu.corpus_chrf(detok_hyps, [raw_refs]).score, 2)}
    if unk is not None:
        out["unk"] = round(unk, 4)
    return out


def unk_share(outs: list[Any]) -> float:
    """The share of Translations whose tokens hold `<unk>`."""
    return sum("<unk>" in o.tokens for o in outs) / max(len(outs), 1)


# -- training --

def train_command(args: argparse.Namespace, run: Path, src: str, tgt: str) -> list[str]:
    """The `seq2seq train` command line (a fresh run, or `--resume` of an unfinished one)."""
    if (run / "checkpoints" / "last").exists():
        return [SEQ2SEQ, "train", "--out", str(run), "--resume", "--quiet"]
    cmd = [SEQ2SEQ, "train", "--train", str(DATA / "train"), "--valid", str(DATA / "val"),
           "--test", str(DATA / "test_2016_flickr"), "--out", str(run), "--quiet"]
    cmd += ["--config", args.config] if args.config else ["--preset", args.preset]
    sets = ["data.format=pair", f"data.source_suffix=.{src}.gz", f"data.target_suffix=.{tgt}.gz",
            f"train.threads={args.threads}"] + args.set
    for s in sets:
        cmd += ["--set", s]
    return cmd


def train(args: argparse.Namespace, run: Path, src: str, tgt: str) -> list[str]:
    """Train (or resume) unless finished; wall seconds accumulate over resumptions in RUN/wall.json."""
    commands_file, wall_file = run / "commands.json", run / "wall.json"
    done = (run / "test_metrics.json").exists()
    commands = json.loads(commands_file.read_text()) if commands_file.exists() else []
    if done and not args.retrain:
        return commands
    cmd = train_command(args, run, src, tgt)
    shown = ("OMP_NUM_THREADS=1 " if args.threads == 1 else "") + \
        (f"taskset -c {args.pin} " if args.pin else "") + shlex.join(cmd)
    print(f"[multi30k] {shown}", flush=True)
    run.mkdir(parents=True, exist_ok=True)
    commands.append(shown)
    commands_file.write_text(json.dumps(commands, indent=1))
    walls = json.loads(wall_file.read_text()) if wall_file.exists() else []
    start = time.perf_counter()
    with open(run / "train.log", "a", encoding="utf-8") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode
    walls.append(round(time.perf_counter() - start, 1))
    wall_file.write_text(json.dumps(walls))
    if rc != 0:
        sys.exit(f"training failed ({rc}); see {run / 'train.log'}")
    return commands


def training_summary(run: Path, metric: str) -> dict[str, Any]:
    """Epochs, best epoch, times and the validation curve from RUN/metrics.jsonl."""
    recs = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
    lower = metric in ("valid_loss",)
    best = (min if lower else max)(recs, key=lambda r: r.get(metric, r["valid_loss"]))
    walls = json.loads((run / "wall.json").read_text()) if (run / "wall.json").exists() else []
    return {"epochs": recs[-1]["epoch"], "best_epoch": best["epoch"], "steps": recs[-1]["step"],
            "train_seconds": recs[-1]["seconds"], "eval_seconds": round(sum(r["eval_seconds"] for r in recs), 1),
            # Without RUN/wall.json (a run trained outside this script): its training and evaluation seconds.
            "wall_seconds": round(sum(walls) or recs[-1]["seconds"] + sum(r["eval_seconds"] for r in recs), 1),
            "train_tokens_per_second": round(sum(r["train_tokens_per_second"] for r in recs) / len(recs)),
            "best_valid": {k: best[k] for k in ("valid_bleu", "valid_bleu_tok", "valid_unk_share") if k in best},
            "curve": [{k: round(r[k], 3) for k in ("epoch", "valid_loss", "valid_bleu", "valid_bleu_tok") if k in r}
                      for r in recs]}


# -- decoding --

def decode(model: Any, sources: list[str], beam: int, alpha: float, batch: int) -> tuple[list[Any], float]:
    """The best Translation of each source, and seconds."""
    start = time.perf_counter()
    outs = model.translate(sources, beam=beam, alpha=alpha, batch_size=batch)
    return [o[0] for o in outs], time.perf_counter() - start


def texts(model: Any, outs: list[Any], unk_replace: bool = False) -> tuple[list[str], list[str]]:
    """Tokenised and detokenised hypotheses. unk_replace (word targets): each `<unk>` becomes the source
    token it attends to most (Luong et al. 2015's unknown-word replacement, a post-processing step)."""
    if model.target.tokenizer.kind != "word":
        return [tok(o.text) for o in outs], [o.text.strip() for o in outs]  # subwords: o.text is detokenised
    words = []
    for o in outs:
        ws = list(o.tokens)
        if unk_replace and o.attention:
            ws = [o.source_tokens[max(range(len(o.attention[i])), key=o.attention[i].__getitem__)]
                  if w == "<unk>" and o.source_tokens else w for i, w in enumerate(ws)]
        words.append(ws)
    return [tok(" ".join(ws)) for ws in words], [model.target.tokenizer.readable(" ".join(ws)) for ws in words]


def evaluate(args: argparse.Namespace, run: Path, src: str, tgt: str) -> dict[str, Any]:
    """Grid on val, then test greedy and with the chosen (beam, alpha); hypotheses saved under RUN/hyps/."""
    import torch

    import seq2seq

    torch.set_num_threads(args.threads)
    model = seq2seq.load(run)
    hyps_dir = run / "hyps"
    hyps_dir.mkdir(exist_ok=True)
    data = {name: (read_lines(stem, src), read_lines(stem, tgt)) for name, stem in SPLITS.items() if name != "train"}
    grid = [(1, 0.0)] + [(k, a) for k in args.beams if k > 1 for a in args.alphas]
    val = []
    for beam, alpha in grid:
        outs, secs = decode(model, data["valid"][0], beam, alpha, args.decode_batch)
        toks, detoks = texts(model, outs)
        row = {"beam": beam, "alpha": alpha, **scores(toks, detoks, data["valid"][1], unk_share(outs)),
               "sent_per_s": round(len(toks) / secs, 1)}
        print(f"[multi30k] val {row}", flush=True)
        val.append(row)
    chosen = max((r for r in val if r["beam"] > 1), key=lambda r: r["bleu_tok"], default=val[0])
    test = {}
    for name, (beam, alpha) in (("greedy", (1, 0.0)), ("beam", (chosen["beam"], chosen["alpha"]))):
        outs, secs = decode(model, data["test"][0], beam, alpha, args.decode_batch)
        toks, detoks = texts(model, outs)
        (hyps_dir / f"test.{name}.tok.{tgt}").write_text("".join(t + "\n" for t in toks), encoding="utf-8")
        (hyps_dir / f"test.{name}.detok.{tgt}").write_text("".join(t + "\n" for t in detoks), encoding="utf-8")
        test[name] = {"beam": beam, "alpha": alpha, **scores(toks, detoks, data["test"][1], unk_share(outs)),
                      "sent_per_s": round(len(toks) / secs, 1)}
        print(f"[multi30k] test {name} {test[name]}", flush=True)
        if model.target.tokenizer.kind == "word":
            toks, detoks = texts(model, outs, unk_replace=True)
            test[name + "_unk_replaced"] = {"beam": beam, "alpha": alpha, **scores(toks, detoks, data["test"][1])}
            print(f"[multi30k] test {name}, <unk> replaced {test[name + '_unk_replaced']}", flush=True)
    n_tgt = sum(len(model.target.encode(t)) + 1 for t in read_lines("train", tgt))
    return {"parameters": sum(p.numel() for p in model.net.parameters()), "train_target_tokens": n_tgt,
            "valid_grid": val, "chosen": {"beam": chosen["beam"], "alpha": chosen["alpha"]}, "test": test,
            "translate_cli": f"{SEQ2SEQ} translate {run} --input SRC --beam {chosen['beam']}"
                             f"  # alpha {chosen['alpha']} only via the Python API"}


def markdown_row(r: dict[str, Any]) -> str:
    """name | dir | params | epochs (best) | wall | tok/s | val BLEU toolkit vs translate | val tok BLEU | test
    greedy | test beam | <unk> | beam, alpha."""
    t, g, b = r["training"], r["test"]["greedy"], r["test"]["beam"]
    val = {(v["beam"], v["alpha"]): v for v in r["valid_grid"]}
    greedy_val = val[(1, 0.0)]
    reported = t.get("best_valid", {}).get("valid_bleu")
    shown = "–" if reported is None else f"{reported:.2f}"

    def unk(row: dict[str, Any]) -> str:
        return "–" if "unk" not in row else f"{row['unk'] * 100:.1f}%"

    return (f"| {r['name']} | {r['direction']} | {r['parameters'] / 1e6:.2f}M | {t['epochs']:g} ({t['best_epoch']:g})"
            f" | {t['wall_seconds'] / 3600:.2f} h | {t['train_tokens_per_second']}"
            f" | {shown} / {greedy_val['bleu_13a']:.2f}"
            f" | {greedy_val['bleu_tok']:.2f} / {val[(b['beam'], b['alpha'])]['bleu_tok']:.2f}"
            f" | {g['bleu_tok']:.2f} / {g['bleu_13a']:.2f} / {g['bleu_13a_lc']:.2f} / {g['chrf']:.1f}"
            f" | {b['bleu_tok']:.2f} / {b['bleu_13a']:.2f} / {b['bleu_13a_lc']:.2f} / {b['chrf']:.1f}"
            f" | {unk(g)} / {unk(b)} | {b['beam']}, {b['alpha']:g} |")


def plot_curves(metrics_files: list[Path], png: Path) -> Path:
    """Validation BLEU (the toolkit's, greedy, on the validation sentences it scores) against training wall
    hours, one line per run, to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for f in metrics_files:
        recs = [json.loads(x) for x in f.read_text().splitlines() if x.strip()]
        recs = [r for r in recs if "valid_bleu" in r]
        if recs:
            ax.plot([r["seconds"] / 3600 for r in recs], [r["valid_bleu"] for r in recs], marker="o", markersize=3,
                    label=f.parent.name)
    ax.set_xlabel("training time, hours (one thread, wall clock)")
    ax.set_ylabel("validation BLEU (greedy, sacreBLEU of the printed output)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


HEADER = ("| run | dir | params | epochs (best) | wall (1 core) | train tok/s (src+tgt) | val sacreBLEU greedy: "
          "toolkit (best) / translate | val tok BLEU greedy / beam | test greedy: tok BLEU / sacreBLEU / sacreBLEU lc "
          "/ chrF | test beam: same four | test outputs with <unk>: greedy / beam | beam, alpha |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")


def main() -> None:
    global DATA
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", help="run name: the run directory is RUNS/NAME")
    p.add_argument("--table", action="store_true", help="only print the table of every RUNS/*/benchmark.json")
    p.add_argument("--plot", metavar="PNG", help="only draw validation BLEU against training time of RUNS/*")
    p.add_argument("--direction", choices=("en-de", "de-en"), default="en-de")
    p.add_argument("--config", help="YAML config (else --preset)")
    p.add_argument("--preset", default="luong")
    p.add_argument("--set", action="append", default=[], help="config override key=value (repeatable)")
    p.add_argument("--runs", default=str(ROOT / "runs" / "multi30k"), help="directory of run directories")
    p.add_argument("--results", default=None, help="markdown file the row is appended to (default RUNS/results.md)")
    p.add_argument("--beams", type=lambda s: [int(x) for x in s.split(",")], default=[5, 10, 12])
    p.add_argument("--alphas", type=lambda s: [float(x) for x in s.split(",")], default=[0.0, 0.5, 1.0, 1.5])
    p.add_argument("--decode-batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pin", default="1", help="CPU list this process and training are pinned to ('' = none)")
    p.add_argument("--retrain", action="store_true", help="resume training even if the run finished (more epochs)")
    p.add_argument("--train-only", action="store_true")
    p.add_argument("--no-train", action="store_true", help="score the run as it is (e.g. one stopped early)")
    p.add_argument("--data", default=str(DATA), help="the Multi30k directory (default ../shared/data/multi30k)")
    args = p.parse_args()
    DATA = Path(args.data)
    if args.plot:
        print(plot_curves(sorted(Path(args.runs).glob("*/metrics.jsonl")), Path(args.plot)))
        return
    if args.table:
        found = sorted(Path(args.runs).glob("*/benchmark.json"), key=lambda f: f.stat().st_mtime)
        print("\n".join([HEADER] + [markdown_row(json.loads(f.read_text())) for f in found]))
        return
    if not args.name:
        p.error("--name is required")
    if args.pin:
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    print_machine()
    if args.threads == 1:
        os.environ["OMP_NUM_THREADS"] = "1"
    src, tgt = args.direction.split("-")
    run = Path(args.runs) / args.name
    commands = [] if args.no_train else train(args, run, src, tgt)
    if args.train_only:
        return
    result = {"name": args.name, "direction": args.direction, "run": str(run), "commands": commands,
              "config": (run / "config.yaml").read_text()}
    cfg_metric = re.search(r"early_stopping_metric: (\S+)", result["config"])
    result["training"] = training_summary(run, cfg_metric.group(1) if cfg_metric else "valid_loss")
    result.update(evaluate(args, run, src, tgt))
    result["training"]["train_target_tokens_per_second"] = round(
        result["train_target_tokens"] * result["training"]["epochs"] / max(result["training"]["train_seconds"], 1e-9))
    (run / "benchmark.json").write_text(json.dumps(result, indent=2) + "\n")
    row = markdown_row(result)
    (run / "benchmark.md").write_text(HEADER + "\n" + row + "\n")
    results = Path(args.results or Path(args.runs) / "results.md")
    if not results.exists():
        results.write_text(HEADER + "\n")
    with open(results, "a", encoding="utf-8") as f:
        f.write(row + "\n")
    print(HEADER + "\n" + row)


if __name__ == "__main__":
    main()
