"""One epoch of the textbook's own NumPy code (Saito, *Deep Learning from Scratch 2*, chapters 7 and 8; MIT, from
`../shared/baselines/dlfs2`, see its SOURCE.md), timed: the training steps and the validation of an epoch as the
book's `train_seq2seq.py` / `ch08/train.py` run them (Trainer.fit's step: forward, backward, shared weights merged,
clipping at 5, Adam; then `eval_seq2seq` one validation question at a time).

`--steps N --valid M` times the first N steps and M questions and scales them to the epoch's 351 steps and
5,000 questions (`--steps 0 --valid 0`: the whole epoch). Run by `textbook.py` on the same core with one thread;
prints one JSON object.

    python benchmarks/dlfs2_epoch.py --task addition --variant reverse-peeky [--book ../shared/baselines/dlfs2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DLFS2 = Path(__file__).resolve().parents[2] / "shared" / "baselines" / "dlfs2"
# The book's models and sizes: (module, class, word vector, hidden, reversed input).
VARIANTS = {("addition", "baseline"): ("ch07.seq2seq", "Seq2seq", 16, 128, False),
            ("addition", "reverse"): ("ch07.seq2seq", "Seq2seq", 16, 128, True),
            ("addition", "peeky"): ("ch07.peeky_seq2seq", "PeekySeq2seq", 16, 128, False),
            ("addition", "reverse-peeky"): ("ch07.peeky_seq2seq", "PeekySeq2seq", 16, 128, True),
            ("date", "attention"): ("ch08.attention_seq2seq", "AttentionSeq2seq", 16, 256, True)}


def _data_name(dataset: Path, name: str) -> str:
    """The data file's name for `sequence.load_data`, relative to its directory: the file itself, or where it
    points when a copy turned the book's symbolic link into a file holding the link's path."""
    path = dataset / name
    if path.is_file() and path.stat().st_size < 512:
        target = path.read_text(encoding="utf-8").strip()
        if "_" not in target and (dataset / target).is_file():
            return target
    return name


def book_flops(model, question_len: int, answer_len: int, batch: int, attention: bool) -> tuple[float, float]:
    """FLOPs of one training step (forward + backward = 3x forward) and of one validation question (forward over
    the question and the answer's steps, as `generate` runs them), from the book model's weights: each LSTM's
    Wx and Wh per token, the output layer per answer step, attention's scores and context over the question."""
    enc = sum(w.size for w in model.encoder.lstm.params[:2])
    dec = sum(w.size for w in model.decoder.lstm.params[:2]) + model.decoder.affine.params[0].size
    if attention:
        dec += 2 * question_len * model.decoder.lstm.params[1].shape[0]
    forward = 2.0 * (enc * question_len + dec * answer_len)
    return 3 * forward * batch, forward


def main() -> None:
    """Time the book's epoch (or its first steps and questions) and print the figures as JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", required=True, choices=("addition", "date"))
    p.add_argument("--variant", required=True)
    p.add_argument("--book", default=str(DLFS2), help="the book's code (common/, ch07/, ch08/, dataset/)")
    p.add_argument("--steps", type=int, default=60, help="training steps timed (0 = the whole epoch)")
    p.add_argument("--valid", type=int, default=500, help="validation questions timed (0 = all)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if (args.task, args.variant) not in VARIANTS:
        sys.exit(f"the book has no {args.variant} for {args.task}; variants: {sorted(VARIANTS)}")
    book = Path(args.book).resolve()
    for where in (book, book / "ch07", book / "ch08"):
        sys.path.insert(0, str(where))
    import importlib

    import numpy as np
    from common.optimizer import Adam
    from common.trainer import remove_duplicate
    from common.util import clip_grads, eval_seq2seq
    from dataset import sequence

    module, cls, wordvec, hidden, reverse = VARIANTS[(args.task, args.variant)]
    (x_train, t_train), (x_test, t_test) = sequence.load_data(_data_name(book / "dataset", f"{args.task}.txt"))
    char_to_id, id_to_char = sequence.get_vocab()
    if reverse:
        x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]
    np.random.seed(args.seed)
    model = getattr(importlib.import_module(module), cls)(len(char_to_id), wordvec, hidden)
    optimizer = Adam()
    batch, epoch_steps = 128, len(x_train) // 128
    steps = args.steps or epoch_steps
    idx = np.random.permutation(len(x_train))
    x, t = x_train[idx], t_train[idx]
    start, cpu = time.perf_counter(), time.thread_time()
    for i in range(steps):
        k = i % epoch_steps
        model.forward(x[k * batch:(k + 1) * batch], t[k * batch:(k + 1) * batch])
        model.backward()
        params, grads = remove_duplicate(model.params, model.grads)
        clip_grads(grads, 5.0)
        optimizer.update(params, grads)
    train_s, train_cpu = time.perf_counter() - start, time.thread_time() - cpu
    questions = args.valid or len(x_test)
    start, cpu, correct = time.perf_counter(), time.thread_time(), 0
    for i in range(questions):
        correct += eval_seq2seq(model, x_test[[i]], t_test[[i]], id_to_char, False, reverse)
    valid_s, valid_cpu = time.perf_counter() - start, time.thread_time() - cpu
    step_flop, question_flop = book_flops(model, x_train.shape[1], t_train.shape[1] - 1, batch, args.task == "date")
    print(json.dumps({
        "train_gflop_per_epoch": step_flop * epoch_steps / 1e9,
        "valid_gflop_per_epoch": question_flop * len(x_test) / 1e9,
        "task": args.task, "variant": args.variant, "steps_timed": steps, "questions_timed": questions,
        "epoch_steps": epoch_steps, "epoch_questions": len(x_test),
        "train_s_per_epoch": train_s / steps * epoch_steps, "valid_s_per_epoch": valid_s / questions * len(x_test),
        "ms_per_step": train_s / steps * 1000, "ms_per_question": valid_s / questions * 1000,
        "cpu_train_s_per_epoch": train_cpu / steps * epoch_steps,
        "cpu_valid_s_per_epoch": valid_cpu / questions * len(x_test),
        "numpy": np.__version__}))


if __name__ == "__main__":
    main()
