"""seq2seq against OpenNMT-py (and JoeyNMT): same architecture, corpus, steps and cores, one table.

    bash benchmarks/peers/install.sh opennmt            # once: OpenNMT-py 3.5.1 in benchmarks/peers/.venvs/
    python benchmarks/peers/run.py --steps 300 --pin 0  # every row of issues 26 and 29, one core, one thread
    python benchmarks/peers/run.py --steps 300 --pin 0 --avx2-emulation   # every child restricted to AVX2
    python benchmarks/peers/run.py --steps 300 --two-cores                # both cores: 2 threads, 2 processes

Luong-style RNN: embedding 256, 1-layer bidirectional LSTM encoder, 1-layer LSTM decoder of 256,
general attention with input feeding, dropout 0.2, batches of 64 sentences, Adam 1e-3, clipping 5.
Every system trains `--steps` steps on the same tokenised corpus (Multi30k en->de, lower-cased,
punctuation split by our `word` tokenizer, vocabularies of tokens seen twice), then decodes the test set
greedy and with beam 5 (64 sentences a batch, at most 100 output tokens), one after another on the same
pinned core with one thread. Reported: target tokens/s in training (steady state: the first logging
interval of `--report-every` steps is left out, for every system), training FLOPs a step and the rate as a
share of the core's matmul peak, test sentences/s, BLEU (sacrebleu on the tokenised text, `tokenize=none`,
the same scorer for everyone).

"A bidirectional LSTM encoder of 256" means 128 per direction in OpenNMT-py (brnn, hidden_size 256)
but 256 per direction in JoeyNMT (hidden_size 256, bidirectional): ours runs in both shapes,
`ours-128x2` (model.encoder_hidden=128) and `ours-256x2` (model.encoder_hidden=256), each beside the peer
of its shape; parameter counts are printed.

Transformer rows (`ours-transformer`, `opennmt-transformer`): pre-norm, 3+3 layers of 256, 4 heads,
feed-forward 1024, sinusoidal positions, dropout 0.1 and attention dropout 0.1, output layer tied to the
target embedding, the same batches of 64 sentences, Adam 1e-3 and clipping 5 (a speed comparison: neither
runs its learning-rate warm-up here).

Exported rows decode the model their base row trained (their training columns are the base's):
`ours-onnx[-int8]` is `ours-128x2` exported to ONNX (float32, `--quantize int8`) on the ONNX engine;
`ours-transformer-onnx[-int8]` and `ours-transformer-ct2[-int8]` are `ours-transformer` on the ONNX engine and
on CTranslate2 (`export --format ctranslate2`, float32 and int8), through `seq2seq.load` as a user decodes.
`opennmt-transformer-ct2[-int8]` is OpenNMT-py's trained Transformer converted by CTranslate2's own converter
(`ct2-opennmt-py-converter`, float32 and int8) and decoded by CTranslate2; `ours-transformer-ct2[-int8]-direct`
is our CTranslate2 export decoded by the same code in alternating rounds (ct2_decode.py): "our converter loses
nothing" is that pair's ratio.

`--two-cores` (issue 26): on CPUs 0,1 with 2 threads, `ours-128x2`, `opennmt`, `ours-transformer`,
`opennmt-transformer`; `ours-128x2-torchrun` (`seq2seq train` as 2 torchrun processes of one thread against
1 process) and `opennmt-2procs` (OpenNMT-py's world_size 2 on CPU, which 3.5.1 does not support: the row
reports its failure).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/, for machine.py
from common import AVX2_EMULATION, MULTI30K, VENVS, prepare  # noqa: E402
from joeynmt import run_joeynmt  # noqa: E402
from opennmt import run_opennmt, run_opennmt_ct2, run_opennmt_procs  # noqa: E402
from ours import EXPORTED, OURS, run_ours, run_ours_onnx, run_ours_torchrun  # noqa: E402
from report import ratios, table, targets  # noqa: E402

from machine import machine_line  # noqa: E402  the machine line every benchmark prints

# Every row of issues 26 and 29 on one core, each pair of comparable systems run next to each other.
DEFAULT_SYSTEMS = ["ours-128x2", "opennmt", "ours-onnx", "ours-onnx-int8", "ours-transformer", "opennmt-transformer",
                   "ours-transformer-onnx", "ours-transformer-onnx-int8", "ours-transformer-ct2",
                   "ours-transformer-ct2-int8", "opennmt-transformer-ct2"]
TWO_CORE_SYSTEMS = ["ours-128x2", "opennmt", "ours-transformer", "opennmt-transformer", "ours-128x2-torchrun",
                    "opennmt-2procs"]


def run_system(system: str, data: Path, out: Path, args, rows: dict) -> dict[str, dict]:
    """Train and decode one system: its row (the CTranslate2-converted system gives several), by name."""
    if system in EXPORTED:
        base, engine, quantize = EXPORTED[system]
        return {system: run_ours_onnx(data, out / system, args, base, rows.get(base, {}), engine, quantize)}
    if system in OURS:
        return {system: run_ours(data, out / system, args, system)}
    if system == "ours-128x2-torchrun":
        return {system: run_ours_torchrun(data, out / system, args)}
    peer = system.split("-")[0]
    if peer not in ("opennmt", "joeynmt"):
        raise RuntimeError("unknown system")
    if not (VENVS / peer / ".installed").exists():
        raise RuntimeError(f"not installed (bash benchmarks/peers/install.sh {peer}; "
                           f"see {VENVS / (peer + '.install.log')})")
    if system == "opennmt-transformer-ct2":
        return run_opennmt_ct2(data, out, args, rows)
    if system == "opennmt-2procs":
        return {system: run_opennmt_procs(data, out / system, args)}
    if peer == "opennmt":
        return {system: run_opennmt(data, out / system, args, transformer=system.endswith("-transformer"))}
    return {system: run_joeynmt(data, out / system, args)}


def run_systems(systems: list[str], pin: str | None, data: Path, out: Path, args, rows: dict, notes: list) -> None:
    """Run `systems` one after another on `pin`, filling rows (and notes for those that could not run)."""
    args = argparse.Namespace(**{**vars(args), "pin": pin})
    for system in systems:
        print(f"== {system} (CPU {pin})", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            got = run_system(system, data, out, args, rows)
        except Exception as e:  # a system that cannot run is skipped, saying why
            notes.append(f"- {system}: skipped: {e}")
            print(notes[-1], file=sys.stderr, flush=True)
            continue
        rows.update({name: {**row, "system": system} for name, row in got.items()})
        print(f"   {system}: {time.perf_counter() - start:.0f} s: {got}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    """The command line, with --two-cores' defaults filled in."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--report-every", type=int, default=50, help="logging interval; the first is warm-up")
    p.add_argument("--pin", help="taskset CPU list, '' = no pinning (default 0; 0,1 with --two-cores)")
    p.add_argument("--systems", help=f"comma-separated rows (default: {','.join(DEFAULT_SYSTEMS)}; with "
                                     f"--two-cores {','.join(TWO_CORE_SYSTEMS)}); also ours-256x2, joeynmt, "
                                     f"ours-128x2-bf16, ours-transformer-bf16")
    p.add_argument("--peer-pin", help="run the peers on this CPU list, at the same time as ours on --pin")
    p.add_argument("--threads", type=int, help="intra-op threads of every system (default 1; 2 with --two-cores)")
    p.add_argument("--two-cores", action="store_true",
                   help="issue 26's two-core rows: CPUs 0,1, 2 threads, torchrun and OpenNMT-py's 2 processes")
    p.add_argument("--avx2-emulation", action="store_true",
                   help="restrict every child to AVX2: " + " ".join(f"{k}={v!r}" for k, v in AVX2_EMULATION.items()))
    p.add_argument("--ct2-rounds", type=int, default=3,
                   help="alternating rounds of the CTranslate2 rows decoded by the same code (medians)")
    p.add_argument("--decode-only", action="store_true",
                   help="decode the models an earlier run of the same --out trained again (training figures kept)")
    p.add_argument("--multi30k", type=Path, default=MULTI30K,
                   help="Multi30k's folder: {train,val,test_2016_flickr}.{en,de}.gz (default ../shared/data/multi30k)")
    p.add_argument("--out", help="output folder (default runs/peers; runs/peers-2cores with --two-cores)")
    args = p.parse_args()
    two = args.two_cores
    args.pin = ("0,1" if two else "0") if args.pin is None else (args.pin or None)
    args.threads = args.threads or (2 if two else 1)
    args.systems = (args.systems or ",".join(TWO_CORE_SYSTEMS if two else DEFAULT_SYSTEMS)).split(",")
    args.out = args.out or ("runs/peers-2cores" if two else "runs/peers")
    return args


def main() -> None:
    args = parse_args()
    if args.avx2_emulation:
        os.environ.update(AVX2_EMULATION)  # inherited by every child
    machine = machine_line()
    print(machine, file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    out = Path(args.out).resolve()
    data = prepare(out, args.multi30k)
    rows, notes = {}, []
    if args.peer_pin is None:
        run_systems(args.systems, args.pin, data, out, args, rows, notes)
    else:
        # Two queues on two cores at once: ours on --pin, the peers on --peer-pin (subprocesses, so threads do).
        mine = [s for s in args.systems if s.startswith("ours")]
        queues = [(mine, args.pin), ([s for s in args.systems if s not in mine], args.peer_pin)]
        workers = [threading.Thread(target=run_systems, args=(q, pin, data, out, args, rows, notes))
                   for q, pin in queues]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    rank = {s: i for i, s in enumerate(args.systems)}  # the two queues finish in any order: the table keeps ours
    rows = dict(sorted(rows.items(), key=lambda item: rank[item[1]["system"]]))
    import torch

    where = f"ours on CPU {args.pin}, peers on CPU {args.peer_pin} at the same time" if args.peer_pin else \
        f"pinned to CPU {args.pin}"
    load = f"load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    lines = [machine + (" | AVX2 emulated (every child restricted; onnxruntime cannot be)" if args.avx2_emulation
                        else ""),
             f"{args.steps} steps, batch 64 sentences, {where}, {args.threads} thread(s), torch {torch.__version__}; "
             f"{load}; {time.strftime('%Y-%m-%d %H:%M')}",
             "command: python benchmarks/peers/run.py " + shlex.join(sys.argv[1:]), ""]
    lines += table(rows) + [""] + ratios(rows)
    goals = targets(rows)
    lines += (["", "Targets (issues 26 and 29):", ""] + goals if goals else []) + ([""] + notes if notes else [])
    md = "\n".join(lines) + "\n"
    print(md)
    for name, text in (("peers.md", md), ("peers.json", json.dumps({"machine": machine, "rows": rows}, indent=2))):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)


if __name__ == "__main__":
    main()
