"""The training loop: batches, optimiser steps with clipping and accumulation, evaluation, checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError, checkpoint_dir, load_state_into
from ..config import Config, ConfigError, save
from ..configure import build_config
from ..data.batching import collate, make_batches
from ..distributed import all_sum, broadcast_object, shard, shutdown
from ..evaluation import evaluate, metric_names
from ..models.coverage import coverage_loss
from .checkpointer import METRICS_FILE, Checkpointer
from .prepare import prepare
from .runtime import start_runtime
from .schedule import Progress, lr_factor

log = logging.getLogger("seq2seq")


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is intact."""


class Trainer:
    """Trains one model into a run directory; `run()` returns the final metrics."""

    def __init__(self, cfg: Config, out_dir: str | Path, resume: bool = False, quiet: bool = False):
        self.out = Path(out_dir)
        if resume:
            cfg = self._saved_config()
        elif (self.out / "checkpoints").exists():
            raise ConfigError(f"{self.out}: already holds a run; pass --resume to continue it or choose "
                              f"another --out")
        self.cfg = cfg
        self.runtime = start_runtime(cfg)
        self.device, self.world = self.runtime.device, self.runtime.world
        self.quiet = quiet or not self.world.is_main
        torch.manual_seed(cfg.train.seed)
        if self.world.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        data = prepare(cfg, self.out, resume)
        self.bundle, self.train_ids, self.valid_ids, self.test_ids = data.bundle, data.train, data.valid, data.test
        self.model = self.bundle.model.to(self.device)
        # The DDP wrapper averages gradients over ranks; self.model stays the plain module for eval/saving.
        self.net = (torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                              if self.device.type == "cuda" else None)
                    if self.world.distributed else self.model)
        t = cfg.train
        self.scaler = torch.amp.GradScaler("cuda") if t.precision == "fp16" else None
        opt_cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.checkpointer = Checkpointer(self.out, self.world, self.device, t.keep_checkpoints)
        # Validation decodes greedily within the run's output-length rules; translate/eval use the run's
        # whole decode section.
        self.valid_options = dataclasses.replace(cfg.decode, strategy="greedy", nbest=1)
        self.metrics = metric_names(cfg)
        self.progress = Progress()
        self.steps_per_epoch = math.ceil(len(self._epoch_batches(0)) / t.accumulate)
        if resume:
            self.progress = self.checkpointer.restore(self.model, self.optimizer)
        elif self.world.is_main:
            save(cfg, self.out / "config.yaml")
            (self.out / METRICS_FILE).write_text("", encoding="utf-8")

    def _saved_config(self) -> Config:
        saved = self.out / "config.yaml"
        if not saved.is_file():
            raise CheckpointError(f"{self.out}: nothing to resume (no config.yaml); start without --resume")
        return build_config(yaml_file=saved)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        """Global batches of an epoch, the same on every rank; each rank later takes its shard."""
        t = self.cfg.train
        batches = make_batches([len(s) for s, _ in self.train_ids], [len(g) for _, g in self.train_ids],
                               t.batch_size, by=t.batch_by, bucket=t.bucket, shuffle=True, seed=t.seed,
                               epoch=epoch)
        # A rank with an empty shard would stall the others; such tiny batches are left out everywhere.
        return [b for b in batches if len(b) >= self.world.size]

    def run(self) -> dict[str, float]:
        """Train until the configured epochs or early stopping; returns the last evaluation's metrics."""
        t, p = self.cfg.train, self.progress
        metrics: dict[str, float] = p.history[-1] if p.history else {}
        window = {"loss": 0.0, "tokens": 0, "words": 0, "seconds": 0.0}
        self.model.train()
        while p.epoch < t.epochs and not p.finished:
            batches = self._epoch_batches(p.epoch)
            bar = self._bar(len(batches), p.batch_in_epoch)
            while p.batch_in_epoch < len(batches):
                start = time.perf_counter()
                group = batches[p.batch_in_epoch: p.batch_in_epoch + t.accumulate]
                loss, n_tgt, n_all = self._update(group)
                p.batch_in_epoch += len(group)
                p.step += 1
                spent = time.perf_counter() - start
                p.seconds += spent
                for key, value in (("loss", loss), ("tokens", n_tgt), ("words", n_all), ("seconds", spent)):
                    window[key] += value
                if bar is not None:
                    bar.update(len(group))
                    bar.set_postfix(loss=f"{loss / max(n_tgt, 1):.3f}",
                                    tok_s=f"{window['words'] / max(window['seconds'], 1e-9):.0f}")
                if t.eval_every and p.step % t.eval_every == 0 and p.batch_in_epoch < len(batches):
                    metrics = self._evaluate_and_save(window)
                    if p.finished:
                        break
            if bar is not None:
                bar.close()
            if p.finished:
                break
            p.epoch += 1
            p.batch_in_epoch = 0
            metrics = self._evaluate_and_save(window)
        if self.test_ids:
            self._write_test_metrics()
        return metrics

    def _update(self, group: list[list[int]]) -> tuple[float, int, int]:
        """One optimiser step over `group` (accumulated global batches); returns loss sum and token counts."""
        t, world = self.cfg.train, self.world
        # Every rank knows the global batches, so the global counts need no communication.
        pairs = [self.train_ids[i] for idx in group for i in idx]
        n_tgt = sum(self.bundle.target.steps(tgt) for _, tgt in pairs)
        n_all = n_tgt + sum(len(src) for src, _ in pairs)
        for g in self.optimizer.param_groups:
            g["lr"] = t.lr * lr_factor(t, self.progress.step, self.steps_per_epoch * t.epochs, self.progress.lr_scale)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for k, idx in enumerate(group):
            local = shard(idx, world)
            batch = collate([self.train_ids[i] for i in local], self.bundle.source, self.bundle.target,
                            local).to(self.device)
            sync = k == len(group) - 1 or not world.distributed
            with self.runtime.autocast(), (contextlib.nullcontext() if sync else self.net.no_sync()):
                out = self.net(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=t.teacher_forcing)
                loss, _ = self.model.loss(out.scores, batch.tgt_out, label_smoothing=t.label_smoothing)
                if t.coverage_loss > 0:
                    loss = loss + t.coverage_loss * coverage_loss(out.attention, batch.tgt_lengths)
                # Normalised by the whole group's target steps (times the ranks DDP averages over), so
                # accumulation and data parallelism both equal one big batch.
                scaled = loss * (world.size / max(n_tgt, 1))
                (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            total += float(loss.detach())
        if world.distributed:
            total = all_sum([total], world)[0]
        if not math.isfinite(total):
            raise TrainingError(f"non-finite training loss at step {self.progress.step + 1} (epoch "
                                f"{self.progress.epoch + 1}); stopped. The last good checkpoint is "
                                f"{self.out / 'checkpoints' / 'last'}; try a lower train.lr or train.clip_norm")
        self._step_optimizer(t.clip_norm)
        return total, n_tgt, n_all

    def _step_optimizer(self, clip_norm: float) -> None:
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def _bar(self, total: int, done: int) -> Any:
        if self.quiet or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=done, desc=f"epoch {self.progress.epoch + 1}/{self.cfg.train.epochs}",
                    unit="batch", leave=False, dynamic_ncols=True)

    def _evaluate_and_save(self, window: dict[str, float]) -> dict[str, float]:
        """Validate (rank 0), log, track the best and early stopping (every rank alike), checkpoint."""
        p = self.progress
        record = broadcast_object(self._validate(window) if self.world.is_main else None, self.world)
        window.update(loss=0.0, tokens=0, words=0, seconds=0.0)
        improved = p.record(record, self.cfg.train)
        if p.finished and self.world.is_main:
            log.info("early stopping: %s did not improve for %d evaluations", self.cfg.train.early_stopping_metric,
                     p.bad_evals)
        if not self.quiet:
            self._log(record)
        self.checkpointer.log_metrics(record)
        self.checkpointer.save(self.bundle, self.optimizer, p, best=improved)
        return record

    def _validate(self, window: dict[str, float]) -> dict[str, Any]:
        t, p = self.cfg.train, self.progress
        start = time.perf_counter()
        metrics, _ = evaluate(self.model, self.valid_ids, self.bundle.source, self.bundle.target, self.valid_options,
                              names=self.metrics, batch_size=max(t.batch_size, 64) if t.batch_by == "sentences"
                              else 64, device=self.device, max_sentences=t.eval_max_sentences)
        self.model.train()
        fraction = p.batch_in_epoch / (self.steps_per_epoch * t.accumulate)
        return {"epoch": round(p.epoch + min(fraction, 0.999), 4), "step": p.step,
                "train_loss": window["loss"] / max(window["tokens"], 1), **metrics,
                "seconds": round(p.seconds, 3), "eval_seconds": round(time.perf_counter() - start, 3),
                "train_tokens_per_second": window["words"] / max(window["seconds"], 1e-9)}

    def _log(self, r: dict[str, Any]) -> None:
        if "valid_perplexity" not in r:
            log.info("epoch %.2f step %d | train loss %.4f | valid %s", r["epoch"], r["step"], r["train_loss"],
                     " ".join(f"{k[6:]} {v:.4f}" for k, v in r.items() if k.startswith("valid_")))
            return
        extra = "".join(f" {k[6:]} {r[k]:.2f}" for k in ("valid_bleu", "valid_chrf") if k in r)
        log.info("epoch %.2f step %d | train loss %.4f | valid loss %.4f ppl %.2f acc %.4f exact %.4f%s | "
                 "%.0f tok/s", r["epoch"], r["step"], r["train_loss"], r["valid_loss"], r["valid_perplexity"],
                 r["valid_token_accuracy"], r["valid_exact_match"], extra, r["train_tokens_per_second"])

    def _write_test_metrics(self) -> None:
        if not self.world.is_main:
            return
        load_state_into(self.model, checkpoint_dir(self.out, "best") / "model.safetensors")
        metrics, _ = evaluate(self.model, self.test_ids, self.bundle.source, self.bundle.target, self.valid_options,
                              names=self.metrics, batch_size=64, device=self.device, prefix="test_")
        (self.out / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        log.info("test: %s", json.dumps(metrics))


def train(cfg: Config, out_dir: str | Path, resume: bool = False, quiet: bool = False) -> dict[str, float]:
    """Train a model as configured into `out_dir`; returns the last validation metrics."""
    trainer = Trainer(cfg, out_dir, resume=resume, quiet=quiet)
    try:
        return trainer.run()
    finally:
        shutdown(trainer.world)
