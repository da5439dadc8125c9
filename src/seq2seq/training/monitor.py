"""What a person watching a run sees: a start banner, progress while an epoch runs (a bar on a terminal,
a log line every `train.log_every` steps or `train.log_seconds` seconds elsewhere: logs, nohup, CI), one
line per evaluation that always names the early-stopping metric, and TensorBoard event files."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from ..config import Config
from .schedule import Progress, tracked_metric
from .tensorboard import TensorBoardLog

log = logging.getLogger("seq2seq")

# What a side's size counts, for the banner.
SIZE_NAMES = {"tokens": "vocabulary", "features": "dimensions"}
# Short names in the evaluation line (the rest as in metrics.jsonl, without `valid_`).
SHORT = {"perplexity": "ppl", "token_accuracy": "acc", "exact_match": "exact", "unk_share": "unk"}


@contextlib.contextmanager
def visible_logging(show: bool) -> Iterator[None]:
    """Progress through `logging` for a caller that set none up (e.g. `seq2seq.train()` in a script or
    notebook): INFO lines of the `seq2seq` logger go to stderr for the duration. A caller's own logging
    configuration (handlers on `seq2seq` or the root logger) is left alone."""
    if not show or log.hasHandlers():
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _window() -> dict[str, float]:
    """Sums over the steps since the last progress report."""
    return {"loss": 0.0, "tokens": 0, "words": 0, "seconds": 0.0, "steps": 0}


def _value(key: str, value: float) -> str:
    return f"{value:.2f}" if key.endswith(("bleu", "bleu_tok", "chrf", "perplexity")) else f"{value:.4f}"


class Monitor:
    """Reports one run's progress (rank 0 only; nothing when `show` is false except TensorBoard)."""

    def __init__(self, cfg: Config, out: Path, *, show: bool, main: bool, resumed_at: int | None):
        self.cfg, self.show = cfg, show and main
        self.board = TensorBoardLog(out, cfg, resumed_at) if cfg.train.tensorboard and main else None
        self.bar: Any = None
        self.window = _window()
        self.last_report = time.monotonic()

    def banner(self, model: torch.nn.Module, source: Any, target: Any, pairs: dict[str, int], batches: int,
               device: torch.device, processes: int) -> None:
        """Log what is about to train, on what and how (the first lines of every run's output)."""
        if not self.show:
            return
        t = self.cfg.train
        params = sum(p.numel() for p in model.parameters())
        sides = [f"{side.kind} ({SIZE_NAMES.get(side.kind, 'size')} {side.size})" for side in (source, target)]
        log.info("model: %s, %s parameters | source %s -> target %s", self.cfg.preset or "custom", f"{params:,}",
                 *sides)
        log.info("data: %s training pairs (%d batches/epoch of %d %s), %s validation, %s test",
                 f"{pairs['train']:,}", batches, t.batch_size, t.batch_by, f"{pairs['valid']:,}",
                 f"{pairs['test']:,}")
        log.info("device %s, %d thread(s), %d process(es), %s | %d epochs, lr %g (%s), %s on %s, evaluating "
                 "every %s", device, torch.get_num_threads(), processes, t.precision, t.epochs, t.lr, t.schedule,
                 f"early stopping (patience {t.patience})" if t.patience else "best checkpoint",
                 tracked_metric(t, None), f"{t.eval_every} steps" if t.eval_every else "epoch")

    def start_epoch(self, epoch: int, batches: int, done: int) -> None:
        """A progress bar for the epoch when stderr is a terminal."""
        if self.show and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=batches, initial=done, desc=f"epoch {epoch + 1}/{self.cfg.train.epochs}",
                            unit="batch", leave=False, dynamic_ncols=True)

    def step(self, p: Progress, batches: int, loss: float, n_tgt: int, n_all: int, seconds: float, lr: float,
             size: int) -> None:
        """One optimiser step over `size` batches: the bar moves; a progress line and TensorBoard's
        training scalars come every `train.log_every` steps or `train.log_seconds` seconds."""
        w = self.window
        for key, value in (("loss", loss), ("tokens", n_tgt), ("words", n_all), ("seconds", seconds), ("steps", 1)):
            w[key] += value
        t = self.cfg.train
        if self.bar is not None:
            self.bar.update(size)
            speed = w["words"] / max(w["seconds"], 1e-9)
            self.bar.set_postfix(loss=f"{loss / max(n_tgt, 1):.3f}", tok_s=f"{speed:.0f}",
                                 **{p.tracked(t): "-" if p.best is None else f"{p.best:.4f}"})
        now = time.monotonic()
        due = t.log_every and p.step % t.log_every == 0
        if not (due or (t.log_seconds and now - self.last_report >= t.log_seconds)):
            return
        train_loss, speed = w["loss"] / max(w["tokens"], 1), w["words"] / max(w["seconds"], 1e-9)
        if self.board is not None:
            self.board.training(p.step, {"loss": train_loss, "lr": lr, "tokens_per_second": speed})
        if self.show and self.bar is None:
            left = (batches - p.batch_in_epoch) / t.accumulate * w["seconds"] / max(w["steps"], 1)
            best = "-" if p.best is None else f"{p.best:.4f}"
            log.info("epoch %d/%d batch %d/%d step %d | train loss %.4f | lr %.3g | %.0f tok/s | best %s %s | "
                     "%s trained, epoch ends in ~%s", p.epoch + 1, t.epochs, p.batch_in_epoch, batches, p.step,
                     train_loss, lr, speed, p.tracked(t), best, _duration(p.seconds), _duration(left))
        self.window = _window()
        self.last_report = now

    def end_epoch(self) -> None:
        """Close the epoch's bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def evaluated(self, record: dict[str, Any], p: Progress, improved: bool,
                  draw_attention: Callable[[TensorBoardLog], None]) -> None:
        """One line per evaluation: every validation metric, the tracked one with its best so far, speed,
        and the seconds spent training and evaluating; the same to TensorBoard (with the attention map)."""
        if self.board is not None:
            self.board.validation(p.step, record)
            draw_attention(self.board)
        if not self.show:
            return
        t = self.cfg.train
        name = p.tracked(t)
        valid = " ".join(f"{SHORT.get(k[6:], k[6:])} {_value(k, v)}" for k, v in record.items()
                         if k.startswith("valid_"))
        status = "new best" if improved else f"best {p.best:.4f}, no gain for {p.bad_evals}"
        log.info("epoch %.2f step %d | train loss %.4f | valid %s | %s %s (%s) | %.0f tok/s | train %s, eval %s",
                 record["epoch"], record["step"], record["train_loss"], valid, name, _value(name, record[name]),
                 status, record["train_tokens_per_second"], _duration(p.seconds), _duration(record["eval_seconds"]))

    def close(self) -> None:
        """Close the bar and the TensorBoard writer (again: nothing)."""
        self.end_epoch()
        if self.board is not None:
            self.board.close()
            self.board = None
