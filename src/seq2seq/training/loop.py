"""The training loop: batches, optimiser steps with clipping and accumulation, evaluation, checkpoints."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import Config, ConfigError, save
from ..data.batching import BatchPlan, collate, make_batches
from ..data.sampling import epoch_sample, parse_weights
from ..evaluation import evaluate, metric_names
from ..kernels import KernelReport, for_training
from ..models.coverage import coverage_loss
from ..runs.atomic import write_text
from ..runs.checkpoint import checkpoint_dir, has_checkpoint, load_state_into, make_run_dir, remove_leftovers
from ..runs.lock import RunLock, RunLocked, claim_run, is_run
from .checkpointer import Checkpointer
from .distributed import all_sum, broadcast_object, shard, shutdown
from .interrupt import StopSignals
from .monitor import Monitor, visible_logging
from .prepare import prepare
from .resume import resume_config
from .runtime import start_runtime
from .schedule import Progress, lr_factor
from .stopping import TrainingError, TrainingInterrupted
from .tensorboard import check_available

log = logging.getLogger("seq2seq")
KERNELS_FILE = "kernels.json"  # the kernels the run was started with (see Trainer._kernels)


class Trainer:
    """Trains one model into a run directory; `run()` returns the final metrics.

    To resume, `cfg` is the run's config with the command line's changes (None: the run's config.yaml); only
    the settings `resume.RESUMABLE` names may differ from the checkpoint's.
    """

    def __init__(self, cfg: Config | None, out_dir: str | Path, resume: bool = False, quiet: bool = False,
                 lock: RunLock | None = None):
        """lock: the run's lock when the caller took it already (the command line does, before reading the
        run); otherwise it is taken here, first of all, and given back when `run()` ends (or `release()`)."""
        self.out = Path(out_dir)
        self.lock, self._own_lock, self._refusal = lock, lock is None, None
        try:
            self._set_up(cfg, resume, quiet)
        except BaseException:
            self.release()
            raise

    def _claim(self) -> None:
        """Take the run's lock (rank 0) unless taken; first of all on an existing run, before reading it."""
        if self.lock is None and self._refusal is None:
            self.lock, self._refusal = claim_run(self.out, self.lock)

    def _kernels(self, cfg: Config, resume: bool) -> KernelReport:
        """The probe's kernels for this run, kept in RUN/kernels.json: a resumed run and every torchrun rank take
        the first start's choices (rank 0's), since another kernel sums in another order and the run would no
        longer be bit-identical."""
        path = self.out / KERNELS_FILE
        pinned = None
        if resume and path.is_file():
            try:
                pinned = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("%s: unreadable, the kernels are chosen again", path)
        if self.world.distributed and not self.world.is_main:
            pinned = broadcast_object(None, self.world)
        lengths = (self.train_ids.source_lengths, self.train_ids.target_lengths + self.extra_steps)
        report = for_training(cfg, self.model, self.device, *lengths, pinned=pinned)
        if self.world.is_main:
            if self.world.distributed:
                broadcast_object(report.choices, self.world)
            if report.choices != pinned:
                with self.checkpointer.refused(str(path)):
                    write_text(path, json.dumps(report.choices, indent=1, sort_keys=True) + "\n")
        return report

    def _set_up(self, cfg: Config | None, resume: bool, quiet: bool) -> None:
        restarted = False
        if is_run(self.out):
            self._claim()
        if resume:
            cfg, resume = resume_config(self.out, cfg)
            restarted = not resume  # no checkpoint yet: what a killed first attempt logged is hidden from step 1
        elif has_checkpoint(self.out):
            if self._refusal is not None:  # a live trainer holds it: that is the reason to give, not the flag
                raise RunLocked(self._refusal)
            raise ConfigError(f"{self.out}: already holds a run; pass --resume to continue it or choose "
                              f"another --out")
        if cfg is None:
            raise ConfigError("a new run needs a config (cfg=None only resumes a run)")
        self.cfg = cfg
        if cfg.train.tensorboard:
            check_available()  # before minutes of data preparation, not after
        self._claim()  # a new run: its directory is created here, once the config is known to be usable
        self.runtime = start_runtime(cfg)
        self.device, self.world = self.runtime.device, self.runtime.world
        refusal = self._refusal
        if self.world.distributed:  # rank 0 took the lock (or was refused): every rank learns which, before work
            refusal = broadcast_object(refusal, self.world)
        if refusal is not None:
            raise RunLocked(refusal)
        self.quiet = quiet or not self.world.is_main
        torch.manual_seed(cfg.train.seed)
        self.checkpointer = Checkpointer(self.out, self.world, self.device, cfg.train.keep_checkpoints)
        if self.world.is_main:
            self._open_run_dir(resume)
        data = prepare(cfg, self.out, resume)
        self.bundle, self.train_ids, self.valid_ids, self.test_ids = data.bundle, data.train, data.valid, data.test
        # The target steps a pair trains on beyond its encoded length (the closing </s> of a token target).
        first_target = self.train_ids[0][1]
        self.extra_steps = self.bundle.target.steps(first_target) - len(first_target)
        self.corpus_weights = None
        self._plan: tuple[int, BatchPlan] | None = None
        if cfg.data.corpus_weights is not None:
            if not self.train_ids.corpora:
                raise ConfigError("data.corpus_weights weighs the training corpora of data.preprocessed (seq2seq "
                                  "preprocess --train NAME=FILE ...); the text files make one corpus")
            self.corpus_weights = parse_weights(cfg.data.corpus_weights, self.train_ids.corpora)
        self.valid_refs, self.test_refs = data.valid_references, data.test_references
        self.model = self.bundle.model.to(self.device)
        # The DDP wrapper averages gradients over ranks; self.model stays the plain module for eval/saving.
        self.net = (torch.nn.parallel.DistributedDataParallel(self.model, device_ids=[self.device.index]
                                                              if self.device.type == "cuda" else None)
                    if self.world.distributed else self.model)
        t = cfg.train
        self.scaler = torch.amp.GradScaler("cuda") if t.precision == "fp16" else None
        opt_cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.params = list(self.model.parameters())
        # The kernels of this machine for this model's shapes (measured once per machine, then cached); on the
        # CPU Adam runs fused or foreach as measured there, CUDA keeps torch's default.
        self.kernels = self._kernels(cfg, resume)
        adam = self.kernels.choice("adam", "fused") if self.device.type == "cpu" else None
        self.optimizer = opt_cls(self.params, lr=t.lr, weight_decay=t.weight_decay,
                                 fused=True if adam == "fused" else None, foreach=True if adam == "foreach" else None)
        # Validation decodes greedily within the run's output-length rules; translate/eval use the run's
        # whole decode section.
        self.valid_options = dataclasses.replace(cfg.decode, strategy="greedy", nbest=1)
        self.metrics = metric_names(cfg)
        self.progress = Progress()
        self._saved_step = -1  # the step of the last checkpoint this process wrote
        self.steps_per_epoch = math.ceil(len(self._epoch_batches(0)) / t.accumulate)
        if resume:
            self.progress = self.checkpointer.restore(self.model, self.optimizer)
            # A run stopped early goes on when the patience it is resumed with allows it.
            self.progress.finished = bool(t.patience and self.progress.bad_evals >= t.patience)
        else:
            self.checkpointer.start_metrics()
        if self.world.is_main and resume:
            self._save_config()  # with the settings changed for the resumed run
        self.monitor = Monitor(cfg, self.out, show=not self.quiet, main=self.world.is_main,
                               resumed_at=self.progress.step if resume else 0 if restarted else None)
        self.monitor.banner(self.model, self.bundle.source, self.bundle.target,
                            {"train": len(self.train_ids), "valid": len(self.valid_ids), "test": len(self.test_ids)},
                            self.steps_per_epoch * t.accumulate, self.device, self.world.size)
        if not self.quiet:
            for line in self.kernels.lines():
                log.info("%s", line)

    def _epoch_batches(self, epoch: int) -> BatchPlan:
        """Global batches of an epoch, the same on every rank; each rank later takes its shard."""
        # Planned once per epoch: counting the steps at set-up asks for epoch 0, and a large corpus takes seconds.
        if self._plan is not None and self._plan[0] == epoch:
            return self._plan[1]
        t, data = self.cfg.train, self.train_ids
        if self.corpus_weights is None:
            batches = make_batches(data.source_lengths, data.target_lengths, t.batch_size, by=t.batch_by,
                                   bucket=t.bucket, shuffle=True, seed=t.seed, epoch=epoch)
        else:
            drawn = epoch_sample(data.corpora, self.corpus_weights, t.seed, epoch)
            batches = make_batches(data.source_lengths[drawn], data.target_lengths[drawn], t.batch_size,
                                   by=t.batch_by, bucket=t.bucket, shuffle=True, seed=t.seed, epoch=epoch)
            batches = BatchPlan(drawn[batches.order], batches.starts, batches.ends)
        # A rank with an empty shard would stall the others; such tiny batches are left out everywhere.
        self._plan = (epoch, batches.at_least(self.world.size))
        return self._plan[1]

    def run(self) -> dict[str, float]:
        """Train until the configured epochs or early stopping; returns the last evaluation's metrics. On SIGINT
        or SIGTERM the step under way finishes, a checkpoint is written and TrainingInterrupted is raised."""
        try:
            with StopSignals() as stop:
                metrics = self._loop(stop)
            if self.test_ids:
                self._write_test_metrics()
            self.monitor.close()
            return metrics
        finally:
            self.release()

    def release(self) -> None:
        """Give back the run's lock if this trainer took it (again: nothing)."""
        if self._own_lock and self.lock is not None:
            self.lock.release()
            self.lock = None

    def _open_run_dir(self, resume: bool) -> None:
        """Create the run directory, remove what killed writers left in it, and save a new run's config."""
        make_run_dir(self.out)
        for name in remove_leftovers(self.out):
            log.info("removed %s, left by an interrupted write", self.out / name)
        if not resume:  # first of all, so that a run killed while its data is prepared can be relaunched
            self._save_config()

    def _save_config(self) -> None:
        with self.checkpointer.refused(str(self.out / "config.yaml")):
            save(self.cfg, self.out / "config.yaml")

    def _loop(self, stop: StopSignals) -> dict[str, float]:
        t, p = self.cfg.train, self.progress
        metrics: dict[str, float] = p.history[-1] if p.history else {}
        window = {"loss": 0.0, "tokens": 0, "words": 0, "seconds": 0.0}
        self.model.train()
        while p.epoch < t.epochs and not p.finished:
            batches = self._epoch_batches(p.epoch)
            self.monitor.start_epoch(p.epoch, len(batches), p.batch_in_epoch)
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
                self.monitor.step(p, len(batches), loss, n_tgt, n_all, spent, self.optimizer.param_groups[0]["lr"],
                                  len(group))
                if t.eval_every and p.step % t.eval_every == 0 and p.batch_in_epoch < len(batches):
                    metrics = self._evaluate_and_save(window)
                    if p.finished:
                        break
                self._stop_if_asked(stop)
            self.monitor.end_epoch()
            if p.finished:
                break
            p.epoch += 1
            p.batch_in_epoch = 0
            metrics = self._evaluate_and_save(window)
        return metrics

    def _stop_if_asked(self, stop: StopSignals) -> None:
        """After a step: when a stop signal came (to any rank), checkpoint here and raise TrainingInterrupted."""
        asked = float(stop.received is not None)
        if self.world.distributed:  # every rank must stop at the same step, or the collectives would hang
            asked = all_sum([asked], self.world)[0]
        if not asked:
            return
        self.monitor.end_epoch()
        p = self.progress
        if self._saved_step != p.step:
            self.checkpointer.save(self.bundle, self.optimizer, p, best=False)
        signum = stop.received or signal.SIGTERM  # a rank the signal did not reach stops as if terminated
        raise TrainingInterrupted(signum, f"stopped by {signal.Signals(signum).name} after step {p.step} (epoch "
                                          f"{p.epoch + 1}); "
                                          f"checkpoint written to {self.out / 'checkpoints' / 'last'}. Resume with: "
                                          f"seq2seq train --out {self.out} --resume")

    def _update(self, group: list[np.ndarray]) -> tuple[float, int, int]:
        """One optimiser step over `group` (accumulated global batches); returns loss sum and token counts."""
        t, world = self.cfg.train, self.world
        # Every rank knows the global batches, so the global counts need no communication.
        data = self.train_ids
        n_tgt = sum(int(data.target_lengths[idx].sum()) + self.extra_steps * len(idx) for idx in group)
        n_all = n_tgt + sum(int(data.source_lengths[idx].sum()) for idx in group)
        for g in self.optimizer.param_groups:
            g["lr"] = t.lr * lr_factor(t, self.progress.step, self.steps_per_epoch * t.epochs, self.progress.lr_scale)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for k, idx in enumerate(group):
            local = shard(idx, world)
            batch = collate(data.take(local), self.bundle.source, self.bundle.target, local).to(self.device)
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
            torch.nn.utils.clip_grad_norm_(self.params, clip_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def _evaluate_and_save(self, window: dict[str, float]) -> dict[str, float]:
        """Validate (rank 0), log, track the best and early stopping (every rank alike), checkpoint."""
        p = self.progress
        record = broadcast_object(self._validate(window) if self.world.is_main else None, self.world)
        window.update(loss=0.0, tokens=0, words=0, seconds=0.0)
        improved = p.record(record, self.cfg.train)
        self.monitor.evaluated(record, p, improved, self._draw_attention)
        if p.finished and self.world.is_main:
            log.info("early stopping: %s did not improve for %d evaluations", p.tracked(self.cfg.train), p.bad_evals)
        self.checkpointer.log_metrics(record)
        self.checkpointer.save(self.bundle, self.optimizer, p, best=improved)
        self._saved_step = p.step
        return record

    def _validate(self, window: dict[str, float]) -> dict[str, Any]:
        t, p = self.cfg.train, self.progress
        start = time.perf_counter()
        batch_size = max(t.batch_size, 64) if t.batch_by == "sentences" else 64
        metrics, _ = evaluate(self.model, self.valid_ids, self.bundle.source, self.bundle.target, self.valid_options,
                              references=self.valid_refs, names=self.metrics, batch_size=batch_size,
                              device=self.device, max_sentences=t.eval_max_sentences)
        self.model.train()
        fraction = p.batch_in_epoch / (self.steps_per_epoch * t.accumulate)
        return {"epoch": round(p.epoch + min(fraction, 0.999), 4), "step": p.step,
                "train_loss": window["loss"] / max(window["tokens"], 1), **metrics,
                "seconds": round(p.seconds, 3), "eval_seconds": round(time.perf_counter() - start, 3),
                "train_tokens_per_second": window["words"] / max(window["seconds"], 1e-9)}

    def _draw_attention(self, board: Any) -> None:
        if self.valid_ids:
            board.attention(self.progress.step, self.model, self.bundle.source, self.bundle.target,
                            self.valid_ids[0], self.valid_options)

    def _write_test_metrics(self) -> None:
        if not self.world.is_main:
            return
        load_state_into(self.model, checkpoint_dir(self.out, "best") / "model.safetensors")
        metrics, _ = evaluate(self.model, self.test_ids, self.bundle.source, self.bundle.target, self.valid_options,
                              references=self.test_refs, names=self.metrics, batch_size=64, device=self.device,
                              prefix="test_")
        with self.checkpointer.refused(str(self.out / "test_metrics.json")):
            write_text(self.out / "test_metrics.json", json.dumps(metrics, indent=2) + "\n")
        log.info("test: %s", json.dumps(metrics))


def train(cfg: Config | None, out_dir: str | Path, resume: bool = False, quiet: bool = False,
          lock: RunLock | None = None) -> dict[str, float]:
    """Train a model as configured into `out_dir` (to resume: cfg None = as the run's config.yaml says); returns
    the last validation metrics. Ctrl-C / SIGTERM: TrainingInterrupted once a checkpoint is written. RunLocked
    when another trainer holds the run; WriteRefused when the OS refuses a write (the last checkpoint intact)."""
    with visible_logging(not quiet):
        trainer = Trainer(cfg, out_dir, resume=resume, quiet=quiet, lock=lock)
        try:
            return trainer.run()
        finally:
            trainer.release()
            trainer.monitor.close()
            shutdown(trainer.world)
