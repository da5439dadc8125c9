"""The peers harness's Markdown: the table, ratios of comparable rows, and the issues' targets met or not."""

from __future__ import annotations

from opennmt import FIXED_LENGTH as FIXED  # the output length of ct2_decode.py's fixed-length rounds

# A peer row's training FLOPs are counted with our row of the same architecture (speed.py's count per target
# token: the same model on the same corpus and batches of 64 sentences; padding differs a little).
SAME_SHAPE = {"opennmt": "ours-128x2", "opennmt-transformer": "ours-transformer", "joeynmt": "ours-256x2",
              "opennmt-2procs": "ours-128x2", "ours-128x2-torchrun": "ours-128x2"}


# Ratios printed under the table: (ours, baseline).
PAIRS = [("ours-128x2", "opennmt"), ("ours-onnx", "opennmt"), ("ours-onnx-int8", "opennmt"),
         ("ours-onnx", "ours-128x2"), ("ours-onnx-int8", "ours-onnx"),
         ("ours-256x2", "joeynmt"), ("ours-128x2", "joeynmt"), ("ours-onnx", "joeynmt"),
         ("ours-transformer", "opennmt-transformer"), ("ours-transformer-onnx", "opennmt-transformer"),
         ("ours-transformer-onnx-int8", "opennmt-transformer"), ("ours-transformer-ct2", "opennmt-transformer"),
         ("ours-transformer-ct2-int8", "opennmt-transformer"), ("ours-transformer-onnx", "ours-transformer"),
         ("ours-transformer-onnx-int8", "ours-transformer-onnx"), ("ours-transformer-ct2", "ours-transformer"),
         ("ours-transformer-ct2-int8", "ours-transformer-ct2"),
         ("opennmt-transformer-ct2", "opennmt-transformer"),
         ("opennmt-transformer-ct2-int8", "opennmt-transformer-ct2"),
         ("ours-transformer-ct2-direct", "opennmt-transformer-ct2"),
         ("ours-transformer-ct2-int8-direct", "opennmt-transformer-ct2-int8"),
         ("ours-transformer-ct2", "opennmt-transformer-ct2"),
         ("ours-transformer-ct2-int8", "opennmt-transformer-ct2-int8"),
         ("ours-128x2-torchrun", "opennmt-2procs")]

# Rows that decode a model another row trained: their training columns are that row's.
EXPORTED_FROM = {"ours-onnx", "ours-onnx-int8", "ours-transformer-onnx", "ours-transformer-onnx-int8",
                 "ours-transformer-ct2", "ours-transformer-ct2-int8", "ours-transformer-ct2-direct",
                 "ours-transformer-ct2-int8-direct", "opennmt-transformer-ct2", "opennmt-transformer-ct2-int8"}

RNN_FP32 = ["ours-128x2", "ours-onnx"]
RNN_ALL = RNN_FP32 + ["ours-onnx-int8"]
TF_FP32 = ["ours-transformer", "ours-transformer-onnx", "ours-transformer-ct2"]
TF_ALL = TF_FP32 + ["ours-transformer-onnx-int8", "ours-transformer-ct2-int8"]
# (what, our candidate rows (the fastest counts), baseline row, metric, at least)
TARGETS = [
    ("#26 training ours-128x2 / OpenNMT-py", ["ours-128x2"], "opennmt", "train_tgt_tok_s", 1.5),
    ("#26 greedy, fastest fp32 engine / OpenNMT-py", RNN_FP32, "opennmt", "greedy_sent_s", 2.0),
    ("#26 beam-5, fastest fp32 engine / OpenNMT-py", RNN_FP32, "opennmt", "beam5_sent_s", 1.5),
    ("#29 ONNX int8 / ONNX fp32, greedy", ["ours-onnx-int8"], "ours-onnx", "greedy_sent_s", 1.5),
    ("#29 ONNX int8 / ONNX fp32, beam-5", ["ours-onnx-int8"], "ours-onnx", "beam5_sent_s", 1.5),
    ("#29 fastest engine / OpenNMT-py, greedy", RNN_ALL, "opennmt", "greedy_sent_s", 3.0),
    ("#29 fastest engine / OpenNMT-py, beam-5", RNN_ALL, "opennmt", "beam5_sent_s", 2.0),
    ("Transformer: training ours / OpenNMT-py", ["ours-transformer"], "opennmt-transformer", "train_tgt_tok_s", 1.5),
    ("Transformer: greedy, fastest fp32 engine / OpenNMT-py", TF_FP32, "opennmt-transformer", "greedy_sent_s", 2.0),
    ("Transformer: beam-5, fastest fp32 engine / OpenNMT-py", TF_FP32, "opennmt-transformer", "beam5_sent_s", 1.5),
    ("Transformer: fastest engine / OpenNMT-py, greedy", TF_ALL, "opennmt-transformer", "greedy_sent_s", 3.0),
    ("Transformer: fastest engine / OpenNMT-py, beam-5", TF_ALL, "opennmt-transformer", "beam5_sent_s", 2.0),
    # "the converter loses nothing": our export as fast as OpenNMT-py's converted model, decoded by the same code
    # in alternating rounds; 0.95 leaves room for the noise of a shared core.
    # Every output the same length (ct2_decode.py --fixed-length): the two models do the same work.
    ("#29 our CT2 export / OpenNMT-py converted, fp32 greedy", ["ours-transformer-ct2-direct"],
     "opennmt-transformer-ct2", "greedy_fixed_sent_s", 0.95),
    ("#29 our CT2 export / OpenNMT-py converted, fp32 beam-5", ["ours-transformer-ct2-direct"],
     "opennmt-transformer-ct2", "beam5_fixed_sent_s", 0.95),
    ("#29 our CT2 export / OpenNMT-py converted, int8 greedy", ["ours-transformer-ct2-int8-direct"],
     "opennmt-transformer-ct2-int8", "greedy_fixed_sent_s", 0.95),
    ("#29 our CT2 export / OpenNMT-py converted, int8 beam-5", ["ours-transformer-ct2-int8-direct"],
     "opennmt-transformer-ct2-int8", "beam5_fixed_sent_s", 0.95),
]


def _cell(r: dict, key: str, digits: int) -> str:
    value = r.get(key)
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def _training_flops(name: str, r: dict, rows: dict) -> tuple[float, float, float] | None:
    """(GFLOP a step, GFLOP/s, share of the matmul peak) of a row that trained; None for the others."""
    shape = r if "flop_per_tgt_token" in r else rows.get(SAME_SHAPE.get(name, ""), {})
    rate = r.get("train_tgt_tok_s")
    if "flop_per_tgt_token" not in shape or rate is None or rate != rate:
        return None
    gflops = shape["flop_per_tgt_token"] * rate / 1e9
    return shape["train_gflop_per_step"], gflops, gflops / shape["matmul_peak_gflops"]


def table(rows: dict) -> list[str]:
    """The Markdown table of every row, with the core's matmul peak and a warning for a rate above it."""
    lines = ["| system | params | train tgt tok/s | train GFLOP/step | train GFLOP/s (% of peak) | greedy sent/s | "
             "beam-5 sent/s | BLEU greedy | BLEU beam-5 | output tokens (greedy / beam-5) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    over = []
    for name, r in rows.items():
        params = f"{r['params'] / 1e6:.2f}M" if r.get("params") == r.get("params") and "params" in r else "–"
        counted = _training_flops(name, r, rows) if name not in EXPORTED_FROM else None
        step = rate = "–"
        if counted:
            mark = "" if "flop_per_tgt_token" in r else "≈"
            step, rate = f"{mark}{counted[0]:.2f}", f"{mark}{counted[1]:.1f} ({100 * counted[2]:.0f}%)"
            if counted[2] > 1:
                over.append(name)
        lines.append(f"| {name} | {params} | {_cell(r, 'train_tgt_tok_s', 0)} | {step} | {rate} | "
                     f"{_cell(r, 'greedy_sent_s', 1)} | {_cell(r, 'beam5_sent_s', 1)} | {_cell(r, 'bleu_greedy', 2)} | "
                     f"{_cell(r, 'bleu_beam5', 2)} | {_cell(r, 'len_greedy', 1)} / {_cell(r, 'len_beam5', 1)} |")
    peaks = sorted({r["matmul_peak_gflops"] for r in rows.values() if "matmul_peak_gflops" in r})
    if peaks:
        lines += ["", f"Matmul peak of the core (float32, the faster of torch's BLAS and oneDNN at the model's shapes "
                      f"and 1024^3, measured in each of our training processes): "
                      f"{', '.join(f'{p:.1f}' for p in peaks)} GFLOP/s; a training rate above it is impossible, so a "
                      f"ratio that implies one is a counting or timing error. ≈: a peer's FLOPs counted with our row "
                      f"of the same architecture (speed.py's count per target token)."]
    if over:
        lines.append(f"**Above the core's matmul peak: {', '.join(over)}**: check the count before trusting the row.")
    return lines


def _ratio(a: dict, b: dict, key: str) -> str:
    if key not in a or key not in b or a[key] != a[key] or b[key] != b[key] or not b[key]:
        return "–"
    return f"{a[key] / b[key]:.2f}x"


def ratios(rows: dict) -> list[str]:
    """One line per comparable pair present: training, greedy and beam-5 ratios and the BLEU of both."""
    lines = []
    for ours, peer in PAIRS:
        if ours in rows and peer in rows:
            a, b = rows[ours], rows[peer]
            same_training = a.get("train_tgt_tok_s") == b.get("train_tgt_tok_s")
            trained = _ratio(a, b, "train_tgt_tok_s")
            train = "" if same_training or trained == "–" else f"training {trained}, "
            fixed = f" (every output {FIXED} tokens: greedy {_ratio(a, b, 'greedy_fixed_sent_s')}, beam-5 " \
                f"{_ratio(a, b, 'beam5_fixed_sent_s')})" if "greedy_fixed_sent_s" in a else ""
            lines.append(f"- {ours} / {peer}: {train}greedy {_ratio(a, b, 'greedy_sent_s')}, beam-5 "
                         f"{_ratio(a, b, 'beam5_sent_s')}{fixed}; BLEU greedy {_cell(a, 'bleu_greedy', 2)} vs "
                         f"{_cell(b, 'bleu_greedy', 2)}, beam-5 {_cell(a, 'bleu_beam5', 2)} vs "
                         f"{_cell(b, 'bleu_beam5', 2)}")
    torchrun = rows.get("ours-128x2-torchrun", {})
    if "procs1_tgt_tok_s" in torchrun:
        one, two = torchrun["procs1_tgt_tok_s"], torchrun["procs2_tgt_tok_s"]
        lines.append(f"- ours-128x2-torchrun (`seq2seq train`, one epoch of 64 x steps pairs): 1 process of 1 thread "
                     f"{one:,.0f} tgt tok/s, 2 torchrun processes of 1 thread {two:,.0f} ({two / one:.2f}x)")
    return lines


def targets(rows: dict) -> list[str]:
    """The targets of issues 26 and 29 whose rows ran: the ratio, its fastest row and met / NOT met."""
    lines = ["| target | ratio | fastest of ours | at least | |", "| --- | ---: | --- | ---: | --- |"]
    for what, candidates, base, key, least in TARGETS:
        present = [c for c in candidates if key in rows.get(c, {}) and rows[c][key] == rows[c][key]]
        if base not in rows or key not in rows[base] or not present:
            continue
        best = max(present, key=lambda c: rows[c][key])
        ratio = rows[best][key] / rows[base][key]
        lines.append(f"| {what} | {ratio:.2f}x | {best} | {least}x | {'met' if ratio >= least else '**NOT met**'} |")
    return lines if len(lines) > 2 else []
