"""The in-run baseline of `textbook.py`: a plain PyTorch training loop of the addition model, timed step for
step against the toolkit's own training step on the same batches' data.

The plain loop is what one writes by hand after the textbook: fixed-width, space-padded questions (7
characters, reversed) and answers (`_` + 4 characters), two `nn.LSTM`s (embedding 16, hidden 128, the
peeky decoder reading the encoder's last state at every input and output), mean cross-entropy, clipping
at 5, Adam 1e-3, batches of 128. The toolkit's step is `Trainer._update` of `seq2seq train --preset
reverse-peeky` on the same file. Both are timed in this process, alternating rounds, one thread, by CPU
time (`time.process_time`, robust to another process sharing the core); the medians and their ratio are
returned, with each loop's share of the float32 matmul ceiling: the step's matmul FLOPs (forward + backward
= 3x forward, counted from the sequences each loop actually runs) over its time, against the best matmul
rate measured in the same process.

    python benchmarks/plain_loop.py --train runs/textbook/addition.train.txt
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from machine import print_machine  # benchmarks/machine.py: the machine line every benchmark prints
from roofline import torch_peaks


class PlainPeeky(nn.Module):
    """The textbook's PeekySeq2seq in plain PyTorch: encoder LSTM, decoder LSTM fed [embedding; context],
    output layer on [h; context]."""

    def __init__(self, vocab: int, embedding: int = 16, hidden: int = 128):
        super().__init__()
        self.enc_embed = nn.Embedding(vocab, embedding)
        self.encoder = nn.LSTM(embedding, hidden, batch_first=True)
        self.dec_embed = nn.Embedding(vocab, embedding)
        self.decoder = nn.LSTM(embedding + hidden, hidden, batch_first=True)
        self.out = nn.Linear(2 * hidden, vocab)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """src (B, S), tgt_in (B, T) ids -> logits (B, T, V)."""
        _, (h, c) = self.encoder(self.enc_embed(src))
        context = h[-1].unsqueeze(1).expand(-1, tgt_in.size(1), -1)
        tops, _ = self.decoder(torch.cat([self.dec_embed(tgt_in), context], -1), (h, c))
        return self.out(torch.cat([tops, context], -1))


def book_tensors(path: Path) -> tuple[Tensor, Tensor, int]:
    """A textbook `question_answer` file -> (N, 7) reversed questions, (N, 5) `_` + answers, vocabulary size."""
    questions, answers = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        q, a = line.split("_", 1)
        questions.append(q[::-1])
        answers.append("_" + a)
    chars = sorted({c for text in questions + answers for c in text})
    ids = {c: i for i, c in enumerate(chars)}
    encode = lambda texts: torch.tensor([[ids[c] for c in t] for t in texts])  # noqa: E731
    return encode(questions), encode(answers), len(chars)


def lstm_flops(inputs: int, hidden: int, tokens: int) -> int:
    """Forward multiply-add FLOPs (x2) of an LSTM layer over `tokens` steps of all rows: four gates."""
    return 2 * 4 * hidden * (inputs + hidden) * tokens


def peeky_flops(src_tokens: int, tgt_tokens: int, vocab: int, embedding: int = 16, hidden: int = 128) -> int:
    """Forward + backward FLOPs of one step of the peeky model: encoder LSTM, decoder LSTM reading
    [embedding; context], output layer on [h; context]."""
    forward = (lstm_flops(embedding, hidden, src_tokens) + lstm_flops(embedding + hidden, hidden, tgt_tokens)
               + 2 * 2 * hidden * vocab * tgt_tokens)
    return 3 * forward


class PlainLoop:
    """One optimiser step of the plain loop per `step()`, over the file's batches in turn."""

    def __init__(self, path: Path, batch_size: int = 128):
        torch.manual_seed(0)
        self.src, self.ans, vocab = book_tensors(path)
        self.model = PlainPeeky(vocab)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.batch_size, self.at = batch_size, 0
        self.vocab = vocab
        # Every row runs all 7 question and 4 answer steps (space padding included).
        self.flops = peeky_flops(batch_size * self.src.size(1), batch_size * (self.ans.size(1) - 1), vocab)

    def step(self) -> float:
        """Forward, backward, clip, Adam on the next batch; returns the loss."""
        rows = slice(self.at, self.at + self.batch_size)
        self.at = (self.at + self.batch_size) % (len(self.src) - self.batch_size)
        src, ans = self.src[rows], self.ans[rows]
        logits = self.model(src, ans[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), ans[:, 1:].reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.optimizer.step()
        return float(loss.detach())


class ToolkitLoop:
    """The toolkit's training step (`Trainer._update`) of `--preset reverse-peeky` on the same file."""

    def __init__(self, path: Path, out: Path):
        from seq2seq import build_config
        from seq2seq.training.loop import Trainer

        cfg = build_config("reverse-peeky", overrides={"data.train": str(path), "data.valid": str(path),
                                                       "train.threads": 1, "train.epochs": 1})
        self.trainer = Trainer(cfg, out, quiet=True)
        self.batches = self.trainer._epoch_batches(0)
        self.trainer.model.train()
        self.at = 0
        # With the textbook's bridge (h alone) the encoder runs every row to the batch's longest question in one
        # call, as the decoder does to the longest target.
        tr, vocab = self.trainer, len(self.trainer.bundle.target.vocab)
        data = tr.train_ids
        self.flops = statistics.mean(
            peeky_flops(len(idx) * int(data.source_lengths[idx].max()),
                        len(idx) * (int(data.target_lengths[idx].max()) + tr.extra_steps), vocab)
            for idx in self.batches)

    def step(self) -> float:
        """One optimiser step on the next batch; returns the summed loss."""
        loss, _, _ = self.trainer._update([self.batches[self.at]])
        self.at = (self.at + 1) % len(self.batches)
        return loss


def compare(path: Path, rounds: int = 7, steps: int = 30) -> dict[str, float]:
    """Median CPU ms a step of each loop over alternating rounds, and plain / toolkit (> 1: toolkit faster)."""
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        loops = {"plain": PlainLoop(path), "toolkit": ToolkitLoop(path, Path(tmp) / "run")}
        times: dict[str, list[float]] = {name: [] for name in loops}
        for loop in loops.values():  # warm-up: allocator, oneDNN primitives
            for _ in range(10):
                loop.step()
        for r in range(rounds):
            for name in (("plain", "toolkit") if r % 2 == 0 else ("toolkit", "plain")):
                start = time.process_time()
                for _ in range(steps):
                    loops[name].step()
                times[name].append((time.process_time() - start) / steps * 1000)
        peak = torch_peaks()["fp32"]  # by thread CPU time, like the loops
        flops = {name: loop.flops for name, loop in loops.items()}
    plain, toolkit = statistics.median(times["plain"]), statistics.median(times["toolkit"])
    return {"plain_ms": plain, "toolkit_ms": toolkit, "speedup": plain / toolkit, "matmul_peak_gflops": peak,
            "plain_gflop": flops["plain"] / 1e9, "toolkit_gflop": flops["toolkit"] / 1e9,
            "plain_fraction_of_peak": flops["plain"] / (plain / 1000) / 1e9 / peak,
            "toolkit_fraction_of_peak": flops["toolkit"] / (toolkit / 1000) / 1e9 / peak}


def main() -> None:
    """Print the comparison for one textbook-format file."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", required=True, help="a textbook `question_answer` file (addition)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--out", help="also write the figures to this JSON file")
    args = p.parse_args()
    print_machine()
    r = compare(Path(args.train), args.rounds, args.steps)
    if args.out:
        Path(args.out).write_text(json.dumps(r) + "\n", encoding="utf-8")
    print(f"addition step, CPU ms (median of {args.rounds} alternating rounds of {args.steps}): plain loop "
          f"{r['plain_ms']:.2f}, toolkit {r['toolkit_ms']:.2f}; toolkit speed-up {r['speedup']:.2f}x")
    print(f"matmul ceiling {r['matmul_peak_gflops']:.1f} GFLOP/s: plain loop {r['plain_gflop']:.3f} GFLOP a step, "
          f"{100 * r['plain_fraction_of_peak']:.0f}% of it; toolkit {r['toolkit_gflop']:.3f} GFLOP, "
          f"{100 * r['toolkit_fraction_of_peak']:.0f}%")


if __name__ == "__main__":
    main()
