"""Training and generation speed of a named config on a corpus, as JSON and a markdown table.

Measures, in one process: training throughput (source + target tokens per second, steady state after
`--warmup` steps, over `--steps` steps of `--batch-size` sentences, Adam + clipping as `seq2seq train`),
greedy and beam-5 generation throughput (test sentences per second at a fixed batch size), peak memory,
the machine's float32 matmul rate and the fraction of it the model reaches (LSTM + attention + output
FLOPs counted per token). Records torch version, thread count and CPU model.

    python benchmarks/speed.py --preset luong                       # Multi30k en->de when present
    python benchmarks/speed.py --preset luong --set model.encoder_hidden=128 --threads 1 --pin 0
    python benchmarks/speed.py --compare HEAD@luong luong --rounds 3   # a revision vs the working tree
    python benchmarks/speed.py --compare luong luong,model.input_feeding=false
    python benchmarks/speed.py --compare luong luong,data.preprocessed=DIR   # text files vs `train --data DIR`

A spec's `data.preprocessed=DIR` reads the training pairs from a `seq2seq preprocess` directory made with the
run's data settings (for Multi30k: `python benchmarks/speed.py --preprocess-multi30k DIR` writes one).

`--compare A B` runs A and B alternately (A B B A A B ...) as child processes of this one, each a full
measurement, and reports the median of each and the ratios B/A. A spec is `[REV@]PRESET[,key=value...]`;
`REV@` runs the seq2seq package of that git revision (checked out into a temporary worktree), the rest of
the benchmark being this file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import cpu_model, machine_line, print_machine  # benchmarks/machine.py: every benchmark's machine line

ROOT = Path(__file__).resolve().parents[1]
MULTI30K = ROOT.parent / "shared" / "data" / "multi30k"
# Multi30k en->de as the reference runs: lower-cased, punctuation split, tokens seen twice.
MULTI30K_SETS = ["data.format=pair", "data.source_suffix=.en.gz", "data.target_suffix=.de.gz",
                 "data.tokenizer=word", "data.word_split=punct", "data.lowercase=true", "data.min_freq=2"]


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_gflops(torch, shapes=((64, 512, 1024), (320, 256, 10000), (1024, 1024, 1024)), seconds=0.5):
    """float32 matmul rate at the model's shapes and at a large square one, by torch's `@` (its BLAS) and by
    oneDNN's linear kernel where torch has it (faster on some CPUs): {"MxKxN[ onednn]": GFLOP/s}."""
    try:
        onednn = torch.ops.mkldnn._linear_pointwise if torch.backends.mkldnn.is_available() else None
    except (AttributeError, RuntimeError):
        onednn = None
    out = {}
    for m, k, n in shapes:
        a, b = torch.randn(m, k), torch.randn(k, n)
        kernels = {"": lambda: a @ b}  # noqa: B023 - each lambda runs inside its own iteration
        if onednn is not None:
            bt = b.t().contiguous()
            kernels[" onednn"] = lambda: onednn(a, bt, None, "none", [], "")  # noqa: B023 - as above
        for name, run in kernels.items():
            for _ in range(3):
                run()
            reps, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                run()
                reps += 1
            out[f"{m}x{k}x{n}{name}"] = 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9
    return out


def flops_per_step(mc, src_vocab: int, tgt_vocab: int, src_tokens: int, tgt_tokens: int,
                   src_len_sum_per_tgt: float, src_len_sum_per_src: float = 0.0,
                   tgt_len_sum_per_tgt: float = 0.0) -> dict[str, float]:
    """Forward multiply-add FLOPs (x2) of one batch, by part. Training counts 3x forward (fwd + 2x bwd).

    src_len_sum_per_tgt: sum over target tokens of the (padded) source length they attend over; the other two
    (Transformer self-attention): over source tokens of the padded source length, over target tokens of the
    padded target length (the causal mask is applied, not skipped, so the whole square is counted).
    """
    kind = getattr(mc, "encoder_type", "rnn"), getattr(mc, "decoder_type", "rnn")
    if "transformer" in kind:
        d, f = mc.transformer_size, mc.transformer_ff_size
        block = 2 * (4 * d * d + 2 * d * f)  # per token: q, k, v, output projections and the feed-forward
    e, he, hd = mc.embedding_size, mc.encoder_hidden, mc.decoder_hidden
    dirs = 2 if mc.bidirectional else 1
    enc_out = he * (2 if mc.bidirectional and mc.bidirectional_merge == "concat" else 1)
    parts = {}
    if kind[0] == "transformer":
        enc_out = d
        parts["encoder_transformer"] = mc.encoder_layers * (block * src_tokens + 2 * 2 * d * src_len_sum_per_src)
    else:
        enc = 0
        for layer in range(mc.encoder_layers):
            inp = e if layer == 0 else he * dirs
            enc += dirs * 2 * 4 * he * (inp + he)
        parts["encoder_lstm"] = enc * src_tokens
    if kind[1] == "transformer":
        cross = 2 * 2 * d * d * tgt_tokens + 2 * 2 * enc_out * d * src_tokens + 2 * 2 * d * src_len_sum_per_tgt
        parts["decoder_transformer"] = mc.decoder_layers * (block * tgt_tokens + 2 * 2 * d * tgt_len_sum_per_tgt
                                                            + cross)
        parts["output_layer"] = 2 * d * tgt_vocab * tgt_tokens
        return parts
    feed = (hd if mc.attention_output == "tanh" else enc_out) if mc.input_feeding else 0
    ctx_in = enc_out if mc.feed_context != "init" else 0
    dec = 0
    for layer in range(mc.decoder_layers):
        inp = (e + feed + ctx_in) if layer == 0 else hd
        dec += 2 * 4 * hd * (inp + hd)
    parts["decoder_lstm"] = dec * tgt_tokens
    if mc.attention != "none":
        keys = 0 if mc.attention == "dot" else 2 * enc_out * hd * src_tokens
        scores_ctx = 2 * (hd + enc_out) * src_len_sum_per_tgt
        combine = 2 * (enc_out + hd) * hd * tgt_tokens if mc.attention_output == "tanh" else 0
        parts["attention"] = keys + scores_ctx + combine
        pre = hd if mc.attention_output == "tanh" else enc_out + hd
    else:
        pre = hd
    parts["output_layer"] = 2 * pre * tgt_vocab * tgt_tokens
    return parts


def load_data(cfg):
    if getattr(cfg.data, "preprocessed", None):
        # A `seq2seq preprocess` directory: training pairs read from memory maps batch by batch, as `train --data`.
        from seq2seq.data.shards import open_preprocessed

        src, tgt, splits = open_preprocessed(cfg, cfg.data.preprocessed)
        test_split = splits.get("test") or splits["valid"]
        test = test_split.take(range(len(test_split)))
        return src, tgt, splits["train"], test, [tgt.decode(t) for _, t in test]
    from seq2seq.data.corpus import build_sides, encode_pairs, load_splits

    splits = load_splits(cfg)
    src, tgt = build_sides(cfg, splits["train"])
    train = encode_pairs(splits["train"], src, tgt)
    test_split = splits.get("test") or splits["valid"]
    test = encode_pairs(test_split, src, tgt, label="test")
    return src, tgt, train, test, [p[1] for p in test_split]


def build_cfg(preset: str, sets: list[str], data: dict[str, str]):
    from seq2seq import build_config

    base = []
    if data.get("train"):
        base += [f"data.{k}={data[k]}" for k in ("train", "valid", "test") if data.get(k)]
        if data.get("multi30k"):
            base += MULTI30K_SETS
    else:
        base += ["data.task=date"]
    return build_config(preset or None, overrides=base + sets)


def _lengths(train):
    """Source and target lengths of the training pairs (a preprocessed split has them as arrays)."""
    if hasattr(train, "source_lengths"):
        return train.source_lengths.tolist(), train.target_lengths.tolist()
    return [len(s) for s, _ in train], [len(t) for _, t in train]


# `--compare` runs this file against older revisions of the package too: these three adapt to either API.
def _collate(items, idx, src, tgt):
    """A training batch (before the redesign collate took no sides)."""
    from seq2seq.data.batching import collate

    try:
        return collate(items, src, tgt, idx)
    except TypeError:
        return collate(items, idx)


def _scores(out):
    return out.scores if hasattr(out, "scores") else out.logits


def _generate(model, src_side, sources, strategy: str, beam: int, batch_size: int, max_length: int):
    """Hypotheses per source and a function giving a hypothesis' ids."""
    import seq2seq.decoding as decoding

    if hasattr(decoding, "decode_options"):
        from seq2seq.config import DecodeConfig

        options = DecodeConfig(strategy=strategy, beam_size=beam, batch_size=batch_size, max_length=max_length)
        return decoding.generate(model, src_side, sources, options), lambda h: h.output
    return (decoding.decode_ids(model, sources, strategy=strategy, beam_size=beam, batch_size=batch_size,
                                max_length=max_length), lambda h: h.ids)


def choose_kernels(torch, cfg, model, train, args, result: dict) -> str:
    """The kernel probe as `seq2seq train` runs it (training at --batch-size, generation at --decode-batch and
    beam 5), recorded in `result`; returns Adam's variant. A revision without the probe gets fused Adam, as its
    `seq2seq train` did."""
    try:
        from seq2seq.kernels import for_training
    except ImportError:
        result["kernels"] = ["no kernel probe in this revision (fused Adam)"]
        return "fused"
    cfg.train.batch_size, cfg.train.batch_by = args.batch_size, "sentences"
    cfg.decode.batch_size, cfg.decode.beam_size, cfg.decode.strategy = args.decode_batch, 5, "beam"
    sources, targets = _lengths(train)
    report = for_training(cfg, model, torch.device("cpu"), list(sources), [n + 1 for n in targets])
    result["kernels"] = report.lines()
    print("\n".join(report.lines()), file=sys.stderr, flush=True)
    return report.choice("adam", "fused")


def train_steps(torch, model, train, src, tgt, batch_size: int, steps: int, warmup: int, lr: float, clip: float,
                seed: int, bucket: bool, log_every: int = 0, precision: str = "fp32", adam: str = "fused"):
    """Train `warmup + steps` steps (forward under bf16 autocast with precision "bf16", as `seq2seq train`; Adam
    `adam`, "fused" or "foreach"); returns timings over the last `steps` and token counts."""
    from seq2seq.data.batching import make_batches

    opt = torch.optim.Adam(model.parameters(), lr=lr, **{adam: True})
    batches, epoch = [], 0
    model.train()
    times, cpu_times, src_tok, tgt_tok, attend, src_self, tgt_self = [], [], 0, 0, 0, 0, 0
    losses, reading = [], []
    sources, targets = _lengths(train)
    for step in range(warmup + steps):
        if not batches:
            # As lists of ints: older revisions return lists, newer ones a plan of index arrays.
            batches = [[int(i) for i in b] for b in make_batches(sources, targets, batch_size, bucket=bucket,
                                                                 seed=seed, epoch=epoch)]
            epoch += 1
        idx = batches.pop(0)
        fetch = time.perf_counter()
        # A preprocessed split reads a batch's pairs from its memory maps; the text path indexes a list.
        batch = _collate(train.take(idx) if hasattr(train, "take") else [train[i] for i in idx], idx, src, tgt)
        fetched = time.perf_counter() - fetch
        start, cpu = time.perf_counter(), time.process_time()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            out = model(batch.src, batch.src_lengths, batch.tgt_in)
            loss, n = model.loss(_scores(out), batch.tgt_out)
        opt.zero_grad(set_to_none=True)
        (loss / n).backward()
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        spent, spent_cpu = time.perf_counter() - start, time.process_time() - cpu
        losses.append(float(loss.detach()) / n)
        if log_every and (step + 1) % log_every == 0:
            print(f"  step {step + 1}: loss {statistics.mean(losses[-log_every:]):.3f}", file=sys.stderr)
        if step >= warmup:
            reading.append(fetched)
            times.append(spent)
            cpu_times.append(spent_cpu)
            src_tok += int(batch.src_lengths.sum())
            tgt_tok += n
            attend += int(batch.src_lengths.max()) * n
            src_self += int(batch.src_lengths.max()) * int(batch.src_lengths.sum())
            tgt_self += int(batch.tgt_out.size(1)) * n
    return {"seconds": sum(times), "cpu_seconds": sum(cpu_times), "reading_seconds": sum(reading),
            "src_tokens": src_tok, "tgt_tokens": tgt_tok,
            "attend": attend,
            "src_self": src_self, "tgt_self": tgt_self,
            "final_loss": statistics.mean(losses[-max(1, min(50, steps)):])}


def bleu(hyps: list[str], refs: list[str]) -> float | None:
    try:
        import sacrebleu
    except ImportError:
        return None
    # Both sides are already tokenised (lower-cased, punctuation split): score tokens as they are.
    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none").score


def decode_speed(torch, model, test, src_side, tgt_side, strategy: str, batch_size: int, beam: int,
                 max_length: int = 0):
    sources = [s for s, _ in test]
    start = time.perf_counter()
    out, ids = _generate(model, src_side, sources, strategy, beam, batch_size, max_length)
    seconds = time.perf_counter() - start
    hyps = [" ".join(tgt_side.vocab.decode(ids(h[0]))) for h in out]
    refs = [" ".join(tgt_side.vocab.decode(t)) for _, t in test]
    return {"sentences_per_second": len(sources) / seconds, "seconds": seconds, "sentences": len(sources),
            "bleu": bleu(hyps, refs), "output_tokens": sum(len(ids(h[0])) + 1 for h in out)}, hyps


def measure(args) -> dict:
    """One full measurement in this process."""
    import torch

    import seq2seq
    from seq2seq.models import build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    try:  # what `seq2seq train` and `translate` do (an older revision under --compare may lack it)
        from seq2seq.kernels.allocator import keep_freed_memory
    except ImportError:
        pass
    else:
        keep_freed_memory()
    torch.manual_seed(args.seed)
    data = {"train": args.train, "valid": args.valid, "test": args.test, "multi30k": args.multi30k}
    cfg = build_cfg(args.preset, args.set, data)
    t0 = time.perf_counter()
    src, tgt, train, test, _ = load_data(cfg)
    load_s = time.perf_counter() - t0
    model = build_model(cfg.model, len(src.vocab), len(tgt.vocab))
    n_params = sum(p.numel() for p in model.parameters())
    result = {
        "config": {"preset": args.preset, "set": args.set, "model": vars(cfg.model)},
        "seq2seq_path": str(Path(seq2seq.__file__).resolve().parent),
        "data": {"train": cfg.data.train or f"task:{cfg.data.task}", "train_pairs": len(train),
                 "test_pairs": len(test), "src_vocab": len(src.vocab), "tgt_vocab": len(tgt.vocab),
                 "load_seconds": round(load_s, 2)},
        "parameters": n_params,
        "env": {"machine": machine_line(), "torch": torch.__version__, "threads": torch.get_num_threads(),
                "cpu": cpu_model(),
                "python": platform.python_version(), "affinity": sorted(os.sched_getaffinity(0))},
    }
    adam = choose_kernels(torch, cfg, model, train, args, result)
    rss0 = peak_rss_mib()
    tr = train_steps(torch, model, train, src, tgt, args.batch_size, args.steps, args.warmup, args.lr, args.clip,
                     args.seed, cfg.train.bucket, args.log_every, getattr(cfg.train, "precision", "fp32"), adam)
    result["train"] = {
        "steps": args.steps, "warmup": args.warmup, "batch_size": args.batch_size,
        "tokens_per_second": (tr["src_tokens"] + tr["tgt_tokens"]) / tr["seconds"],
        # The same tokens over the step and the reading of its batch (pairs taken, padded): what `--data` changes.
        "tokens_per_second_with_reading": (tr["src_tokens"] + tr["tgt_tokens"])
        / (tr["seconds"] + tr["reading_seconds"]),
        "reading_seconds_per_step": tr["reading_seconds"] / args.steps,
        "target_tokens_per_second": tr["tgt_tokens"] / tr["seconds"],
        # CPU time of the process: what the neighbours of a shared machine take is not counted
        "tokens_per_cpu_second": (tr["src_tokens"] + tr["tgt_tokens"]) / tr["cpu_seconds"],
        "seconds_per_step": tr["seconds"] / args.steps, "final_loss": tr["final_loss"],
        "peak_rss_mib": peak_rss_mib(), "peak_rss_growth_mib": peak_rss_mib() - rss0,
    }
    parts = flops_per_step(cfg.model, len(src.vocab), len(tgt.vocab), tr["src_tokens"], tr["tgt_tokens"],
                           tr["attend"], tr["src_self"], tr["tgt_self"])
    train_flops = 3 * sum(parts.values())
    mm = matmul_gflops(torch)
    result["flops"] = {"train_gflop_per_step": train_flops / args.steps / 1e9,
                       "by_part_fraction": {k: v / sum(parts.values()) for k, v in parts.items()},
                       "achieved_gflops": train_flops / tr["seconds"] / 1e9, "matmul_gflops": mm,
                       "fraction_of_peak": train_flops / tr["seconds"] / 1e9 / max(mm.values())}
    if args.save_run:
        # A run directory of the model just trained, for the ONNX engine's row of peers/run.py.
        from seq2seq.runs.bundle import Bundle
        from seq2seq.runs.checkpoint import write_checkpoint

        write_checkpoint(Path(args.save_run), args.steps, Bundle(cfg, model.eval(), src, tgt).save_into,
                         ("best", "last"))
    if args.checkpoint:
        from seq2seq import load

        model = load(args.checkpoint, engine="torch").net  # decode a trained model: output lengths as in real use
    result["decode"] = {}
    for name, strategy, beam in (("greedy", "greedy", 1), ("beam5", "beam", 5)):
        if name not in args.decode:
            continue
        with torch.inference_mode():
            stats, hyps = decode_speed(torch, model, test, src, tgt, strategy, args.decode_batch, beam, args.max_length)
        stats["peak_rss_mib"] = peak_rss_mib()
        result["decode"][name] = stats
        if args.hyps_dir:
            Path(args.hyps_dir).mkdir(parents=True, exist_ok=True)
            (Path(args.hyps_dir) / f"{name}.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
    return result


def table(rows: list[tuple[str, dict]]) -> str:
    """Markdown: one row per measured config."""
    lines = ["| config | params | train tok/s (src+tgt) | train tgt tok/s | GFLOP/s (% of peak) | greedy sent/s | "
             "beam-5 sent/s | BLEU greedy / beam | peak RSS MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for name, r in rows:
        t, d, f = r["train"], r.get("decode", {}), r["flops"]
        g, b = d.get("greedy", {}), d.get("beam5", {})
        fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        lines.append(
            f"| {name} | {r['parameters'] / 1e6:.2f}M | {t['tokens_per_second']:.0f} | "
            f"{t['target_tokens_per_second']:.0f} | {f['achieved_gflops']:.1f} ({100 * f['fraction_of_peak']:.0f}%) | "
            f"{g.get('sentences_per_second', 0):.1f} | {b.get('sentences_per_second', 0):.1f} | "
            f"{fmt(g.get('bleu'))} / {fmt(b.get('bleu'))} | "
            f"{max([t['peak_rss_mib']] + [x['peak_rss_mib'] for x in d.values()]):.0f} |")
    return "\n".join(lines)


def env_line(r: dict) -> str:
    e = r["env"]
    return (f"{e.get('machine', 'machine: not recorded')}\n"
            f"torch {e['torch']}, {e['threads']} thread(s), CPU {e['cpu']}, cores {e['affinity']}; "
            f"data {r['data']['train']} ({r['data']['train_pairs']} pairs, vocab {r['data']['src_vocab']}/"
            f"{r['data']['tgt_vocab']}); matmul peak "
            f"{max(r['flops']['matmul_gflops'].values()):.1f} GFLOP/s")


# -- compare mode: alternate child processes --

def parse_spec(spec: str) -> tuple[str | None, str, list[str]]:
    rev, _, rest = spec.rpartition("@")
    preset, *sets = rest.split(",")
    return (rev or None), preset, sets


def worktree_src(rev: str, tmp: Path) -> Path:
    dest = tmp / rev.replace("/", "_")
    if not dest.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(dest), rev], check=True,
                       stdout=subprocess.DEVNULL)
    return dest / "src"


def child_cmd(args, preset: str, sets: list[str], out: Path) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(out), "--preset", preset,
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
           "--decode-batch", str(args.decode_batch), "--threads", str(args.threads), "--seed", str(args.seed),
           "--decode", ",".join(args.decode), "--max-length", str(args.max_length)]
    for k in ("train", "valid", "test", "checkpoint"):
        if getattr(args, k):
            cmd += [f"--{k}", getattr(args, k)]
    if not args.multi30k:
        cmd += ["--no-multi30k"]
    for s in list(args.set) + sets:
        cmd += ["--set", s]
    if args.pin is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", args.pin] + cmd
    return cmd


def compare(args) -> None:
    specs = args.compare
    order = []
    for r in range(args.rounds):  # ABBA...: neither side always runs first
        order += [0, 1] if r % 2 == 0 else [1, 0]
    results: list[list[dict]] = [[], []]
    tmp = Path(tempfile.mkdtemp(prefix="speed-compare-"))
    worktrees = []
    try:
        envs = []
        for spec in specs:
            rev, _, _ = parse_spec(spec)
            env = dict(os.environ)
            if rev:
                src = worktree_src(rev, tmp)
                worktrees.append(src.parent)
                env["PYTHONPATH"] = str(src) + os.pathsep + env.get("PYTHONPATH", "")
            envs.append(env)
        for n, i in enumerate(order):
            _, preset, sets = parse_spec(specs[i])
            out = tmp / f"run{n}.json"
            print(f"[{n + 1}/{len(order)}] {specs[i]}", file=sys.stderr)
            subprocess.run(child_cmd(args, preset, sets, out), env=envs[i], check=True)
            results[i].append(json.loads(out.read_text()))
    finally:
        for w in worktrees:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(w)], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    metrics = {"train tok/s": lambda r: r["train"]["tokens_per_second"],
               "train tok/s with batch reading": lambda r: r["train"].get("tokens_per_second_with_reading"),
               "train tok/CPU-s": lambda r: r["train"].get("tokens_per_cpu_second"),
               "greedy sent/s": lambda r: r["decode"].get("greedy", {}).get("sentences_per_second"),
               "beam-5 sent/s": lambda r: r["decode"].get("beam5", {}).get("sentences_per_second")}
    lines = [f"| metric | {specs[0]} (median) | {specs[1]} (median) | ratio B/A | per-round ratios |",
             "| --- | ---: | ---: | ---: | --- |"]
    summary = {}
    for name, get in metrics.items():
        a = [get(r) for r in results[0]]
        b = [get(r) for r in results[1]]
        if None in a or None in b:
            continue
        pairs = [y / x for x, y in zip(a, b, strict=True)]
        ma, mb = statistics.median(a), statistics.median(b)
        summary[name] = {"a": a, "b": b, "ratio_of_medians": mb / ma, "median_ratio": statistics.median(pairs)}
        lines.append(f"| {name} | {ma:.1f} | {mb:.1f} | {mb / ma:.2f}x | {', '.join(f'{p:.2f}' for p in pairs)} |")
    md = "\n".join(lines) + "\n\n" + env_line(results[0][0]) + "\n"
    for spec, runs in zip(specs, results):
        md += f"\n{spec}, kernels of its first round:\n" + "\n".join(runs[0].get("kernels", ["not recorded"])) + "\n"
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({"specs": specs, "summary": summary, "runs": results}, indent=2))
    (out / "compare.md").write_text(md)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--preset", default="luong")
    p.add_argument("--set", action="append", default=[], help="config override key=value (repeatable)")
    p.add_argument("--train", help="training file or pair prefix (default: Multi30k when present, else the "
                   "built-in date task)")
    p.add_argument("--valid")
    p.add_argument("--test")
    p.add_argument("--no-multi30k", dest="multi30k", action="store_false")
    p.add_argument("--steps", type=int, default=100, help="timed training steps")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first")
    p.add_argument("--batch-size", type=int, default=64, help="training sentences per batch")
    p.add_argument("--decode-batch", type=int, default=64, help="sentences per generation batch")
    p.add_argument("--decode", type=lambda s: s.split(","), default=["greedy", "beam5"],
                   help="comma-separated subset of greedy,beam5 (empty: none)")
    p.add_argument("--max-length", type=int, default=0,
                   help="absolute output cap in generation (0: 2 x source length + 10, the default)")
    p.add_argument("--checkpoint", help="run dir of a trained model to decode (default: the model just trained)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--clip", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0 = torch's default)")
    p.add_argument("--pin", help="taskset CPU list for the measurement, e.g. 0")
    p.add_argument("--log-every", type=int, default=0)
    p.add_argument("--hyps-dir", help="write decoded test outputs here")
    p.add_argument("--save-run", help="write the trained model here as a run directory")
    p.add_argument("--out", default="runs/speed")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--preprocess-multi30k", metavar="DIR",
                   help="write Multi30k as a `seq2seq preprocess` directory with this benchmark's data settings")
    args = p.parse_args()
    args.decode = [d for d in args.decode if d]
    if args.multi30k and not args.train and (MULTI30K / "train.en.gz").is_file():
        args.train, args.valid, args.test = (str(MULTI30K / n) for n in ("train", "val", "test_2016_flickr"))
    elif not args.train:
        args.multi30k = False
    else:
        args.multi30k = args.multi30k and str(MULTI30K) in str(Path(args.train).resolve())
    if args.preprocess_multi30k:
        if not (args.train and args.valid and args.test):
            sys.exit(f"speed.py: Multi30k is not in {MULTI30K}: give --train, --valid and --test (and --set)")
        cmd = [sys.executable, "-m", "seq2seq", "preprocess", "--train", args.train, "--valid", args.valid,
               "--test", args.test, "--out", args.preprocess_multi30k]
        for s in (MULTI30K_SETS if args.multi30k else []) + args.set:
            cmd += ["--set", s]
        sys.exit(subprocess.run(cmd).returncode)
    if args.compare:
        print_machine()
        compare(args)
        return
    if args.pin is not None and not args.worker and shutil.which("taskset"):
        os.sched_setaffinity(0, {int(c) for c in args.pin.split(",")})
    if not args.worker:
        print_machine()
    result = measure(args)
    if args.worker:
        Path(args.worker).write_text(json.dumps(result))
        return
    name = args.preset + "".join(f",{s}" for s in args.set)
    md = table([(name, result)]) + "\n\n" + env_line(result) + "\n"
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.json").write_text(json.dumps(result, indent=2))
    (out / "speed.md").write_text(md)


if __name__ == "__main__":
    main()
