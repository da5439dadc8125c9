"""The training loop: batches, optimiser, schedule, clipping, evaluation, checkpoints and resume."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .bundle import Bundle
from .checkpoint import (TRAINER_FILE, TRAINER_JSON, CheckpointError, checkpoint_dir, load_state_into,
                         optimizer_tensors, read_json, read_tensors, restore_optimizer, save_tensors,
                         write_checkpoint)
from .config import Config, ConfigError, build_config
from .data.batching import make_batches
from .data.corpus import build_sides, encode_pairs, load_sides, load_splits
from .data.features import make_collate
from .distributed import all_sum, barrier, broadcast_object, gather_tensor, init_world, shard, shutdown, thread_count
from .evaluation import evaluate
from .models import build_model
from .models.precision import cpu_bf16_lstm_supported

log = logging.getLogger("seq2seq")

LOWER_IS_BETTER = {"valid_loss", "valid_mae", "valid_rmse", "valid_cer"}


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. a non-finite loss); the last good checkpoint is intact."""


@dataclass
class Progress:
    """Everything besides tensors that a resumed run needs to continue exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best: float | None = None
    bad_evals: int = 0
    lr_scale: float = 1.0
    seconds: float = 0.0
    finished: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def pick_device(name: str) -> torch.device:
    """`auto` is CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: bad value {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} but no CUDA device is available")
    return device


class Trainer:
    """Trains one model into a run directory; `run()` returns the final metrics."""

    def __init__(self, cfg: Config, out_dir: str | Path, resume: bool = False, quiet: bool = False):
        self.out = Path(out_dir)
        self.quiet = quiet
        if resume:
            cfg = self._resume_config(cfg)
        elif (self.out / "checkpoints").exists():
            raise ConfigError(f"{self.out}: already holds a run; pass --resume to continue it or choose "
                              f"another --out")
        self.cfg = cfg
        t = cfg.train
        torch.set_num_threads(thread_count(t.threads))
        self.device = pick_device(t.device)
        self.world = init_world(self.device)
        self.quiet = quiet or not self.world.is_main
        if self.world.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", self.world.local_rank)
        if t.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("train.precision=fp16 needs a CUDA device; use bf16 on CPU")
        if t.precision == "bf16" and self.device.type == "cpu" and not cpu_bf16_lstm_supported():
            log.warning("train.precision=bf16: this CPU lacks the AVX-512 BF16 instructions oneDNN needs for "
                        "bf16 LSTMs; LSTM layers run in fp32, the rest in bf16 (slower than on a CPU with them)")
        torch.manual_seed(t.seed)
        if self.world.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
        splits = load_splits(cfg)
        if resume:
            ckpt = checkpoint_dir(self.out, "last")
            src, tgt = load_sides(cfg, ckpt)
        else:
            src, tgt = build_sides(cfg, splits["train"])
        d = cfg.data
        self.train_ids = encode_pairs(splits["train"], src, tgt, d.max_source_length, d.max_target_length)
        if not self.train_ids:
            raise ConfigError("no training pairs left after the length filter (data.max_*_length)")
        self.valid_ids = encode_pairs(splits["valid"], src, tgt, label="valid")
        self.test_ids = encode_pairs(splits["test"], src, tgt, label="test") if splits.get("test") else []
        self.valid_refs = [p[1] for p in splits["valid"]]
        self.text_metrics = cfg.target_tokenizer in ("word", "sentencepiece")
        self.collate = make_collate(d.source_type, d.target_type)
        # A text target's steps include </s>; a feature target's are its vectors.
        self.end_steps = 0 if d.target_type == "features" else 1
        model = build_model(cfg, src.size, tgt.size).to(self.device)
        self.bundle = Bundle(cfg, model, src, tgt)
        self.model = model
        # The DDP wrapper averages gradients over ranks; self.model stays the plain module for eval/saving.
        self.net = (torch.nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index]
                                                              if self.device.type == "cuda" else None)
                    if self.world.distributed else model)
        self.scaler = torch.amp.GradScaler("cuda") if t.precision == "fp16" else None
        opt_cls = torch.optim.AdamW if t.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
        self.progress = Progress()
        self.steps_per_epoch = math.ceil(len(self._epoch_batches(0)) / t.accumulate)
        if resume:
            self._restore()
        elif self.world.is_main:
            cfg.save(self.out / "config.yaml")
            (self.out / "metrics.jsonl").write_text("", encoding="utf-8")

    def _resume_config(self, cfg: Config) -> Config:
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

    def _lr_factor(self, step: int) -> float:
        t = self.cfg.train
        warm = max(t.warmup_steps, 1)
        if t.schedule == "inverse_sqrt":
            return min((step + 1) / warm, math.sqrt(warm / (step + 1)))
        if t.schedule == "linear":
            total = max(self.steps_per_epoch * t.epochs, 1)
            return min((step + 1) / warm, max(0.0, (total - step) / max(total - warm, 1)))
        return self.progress.lr_scale

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
                window["loss"] += loss
                window["tokens"] += n_tgt
                window["words"] += n_all
                window["seconds"] += spent
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
        # Every rank knows the global batches, so the global token count needs no communication.
        n_tgt = sum(len(self.train_ids[i][1]) + self.end_steps for idx in group for i in idx)
        n_all = n_tgt + sum(len(self.train_ids[i][0]) for idx in group for i in idx)
        for g in self.optimizer.param_groups:
            g["lr"] = t.lr * self._lr_factor(self.progress.step)
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for k, idx in enumerate(group):
            local = shard(idx, world)
            batch = self.collate([self.train_ids[i] for i in local], local).to(self.device)
            sync = k == len(group) - 1 or not world.distributed
            with self._autocast(), (contextlib.nullcontext() if sync else self.net.no_sync()):
                out = self.net(batch.src, batch.src_lengths, batch.tgt_in, teacher_forcing=t.teacher_forcing)
                loss, _ = self.model.loss(out.logits, batch.tgt_out, label_smoothing=t.label_smoothing)
                # Normalised by the whole group's target tokens (times the ranks DDP averages over), so
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
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if t.clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.clip_norm)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        return total, n_tgt, n_all

    def _autocast(self) -> Any:
        precision = self.cfg.train.precision
        if precision == "fp32":
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def _bar(self, total: int, done: int) -> Any:
        if self.quiet or not sys.stderr.isatty() or not self.world.is_main:
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=done, desc=f"epoch {self.progress.epoch + 1}/{self.cfg.train.epochs}",
                    unit="batch", leave=False, dynamic_ncols=True)

    def _evaluate_and_save(self, window: dict[str, float]) -> dict[str, float]:
        """Validate (rank 0), log, track the best and early stopping (every rank alike), checkpoint."""
        t, p = self.cfg.train, self.progress
        record = self._validate(window) if self.world.is_main else None
        record = broadcast_object(record, self.world)
        window.update(loss=0.0, tokens=0, words=0, seconds=0.0)
        p.history.append(record)
        value = record[t.early_stopping_metric] if t.early_stopping_metric in record else record["valid_loss"]
        lower = t.early_stopping_metric in LOWER_IS_BETTER or t.early_stopping_metric not in record
        improved = p.best is None or (value < p.best if lower else value > p.best)
        if improved:
            p.best, p.bad_evals = value, 0
        else:
            p.bad_evals += 1
            if t.schedule == "plateau" and p.bad_evals % (t.plateau_patience + 1) == 0:
                p.lr_scale *= t.plateau_factor
            if t.patience and p.bad_evals >= t.patience:
                p.finished = True
                if self.world.is_main:
                    log.info("early stopping: %s did not improve for %d evaluations", t.early_stopping_metric,
                             p.bad_evals)
        if self.world.is_main:
            self._log(record)
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        self._save(best=improved)
        return record

    def _validate(self, window: dict[str, float]) -> dict[str, Any]:
        t, p = self.cfg.train, self.progress
        start = time.perf_counter()
        metrics, _ = evaluate(self.model, self.valid_ids, self.bundle.target, batch_size=max(t.batch_size, 64)
                              if t.batch_by == "sentences" else 64, device=self.device,
                              text_metrics=self.text_metrics, max_sentences=t.eval_max_sentences)
        self.model.train()
        fraction = p.batch_in_epoch / (self.steps_per_epoch * t.accumulate)
        return {"epoch": round(p.epoch + min(fraction, 0.999), 4), "step": p.step,
                "train_loss": window["loss"] / max(window["tokens"], 1), **metrics,
                "seconds": round(p.seconds, 3), "eval_seconds": round(time.perf_counter() - start, 3),
                "train_tokens_per_second": window["words"] / max(window["seconds"], 1e-9)}

    def _log(self, r: dict[str, Any]) -> None:
        if self.quiet:
            return
        if "valid_perplexity" not in r:
            log.info("epoch %.2f step %d | train loss %.4f | valid %s", r["epoch"], r["step"], r["train_loss"],
                     " ".join(f"{k[6:]} {v:.4f}" for k, v in r.items() if k.startswith("valid_")))
            return
        extra = "".join(f" {k[6:]} {r[k]:.2f}" for k in ("valid_bleu", "valid_chrf") if k in r)
        log.info("epoch %.2f step %d | train loss %.4f | valid loss %.4f ppl %.2f acc %.4f exact %.4f%s | "
                 "%.0f tok/s", r["epoch"], r["step"], r["train_loss"], r["valid_loss"], r["valid_perplexity"],
                 r["valid_token_accuracy"], r["valid_exact_match"], extra, r["train_tokens_per_second"])

    def _save(self, best: bool) -> None:
        # Each rank's RNG stream (dropout, scheduled sampling) is kept, so a resumed run continues exactly.
        rng = {f"rng.torch.{r}": s for r, s in enumerate(gather_tensor(torch.get_rng_state(), self.world))}
        if self.device.type == "cuda":
            rng.update({f"rng.cuda.{r}": s for r, s in
                        enumerate(gather_tensor(torch.cuda.get_rng_state(self.device), self.world))})
        if not self.world.is_main:
            barrier(self.world)
            return
        opt_tensors, opt_meta = optimizer_tensors(self.optimizer)

        def write(directory: Path) -> None:
            self.bundle.save_into(directory, {"step": self.progress.step, "epoch": self.progress.epoch})
            save_tensors({**opt_tensors, **rng}, directory / TRAINER_FILE)
            state = {"progress": asdict(self.progress), "optimizer": opt_meta}
            (directory / TRAINER_JSON).write_text(json.dumps(state), encoding="utf-8")

        write_checkpoint(self.out, self.progress.step, write, ("last", "best") if best else ("last",))
        barrier(self.world)

    def _restore(self) -> None:
        ckpt = checkpoint_dir(self.out, "last")
        load_state_into(self.model, ckpt / "model.safetensors")
        tensors = read_tensors(ckpt / TRAINER_FILE)
        state = read_json(ckpt / TRAINER_JSON)
        restore_optimizer(self.optimizer, {k: v.to(self.device) for k, v in tensors.items()
                                           if k.startswith("optim.")}, state["optimizer"])
        self.progress = Progress(**state["progress"])
        rank = self.world.rank if f"rng.torch.{self.world.rank}" in tensors else 0
        torch.set_rng_state(tensors[f"rng.torch.{rank}"])
        if f"rng.cuda.{rank}" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors[f"rng.cuda.{rank}"], self.device)
        if not self.world.is_main:
            return
        # Evaluations written after this checkpoint belong to the lost part of the run.
        lines = (self.out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        kept = [ln for ln in lines if ln.strip() and json.loads(ln)["step"] <= self.progress.step]
        (self.out / "metrics.jsonl").write_text("".join(ln + "\n" for ln in kept), encoding="utf-8")
        log.info("resumed from %s at epoch %d, step %d", ckpt, self.progress.epoch, self.progress.step)

    def _write_test_metrics(self) -> None:
        if not self.world.is_main:
            return
        load_state_into(self.model, checkpoint_dir(self.out, "best") / "model.safetensors")
        metrics, _ = evaluate(self.model, self.test_ids, self.bundle.target, batch_size=64, device=self.device,
                              text_metrics=self.text_metrics, prefix="test_")
        (self.out / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        log.info("test: %s", json.dumps(metrics))


def train(cfg: Config, out_dir: str | Path, resume: bool = False, quiet: bool = False) -> dict[str, float]:
    """Train a model as configured into `out_dir`; returns the last validation metrics."""
    trainer = Trainer(cfg, out_dir, resume=resume, quiet=quiet)
    try:
        return trainer.run()
    finally:
        shutdown(trainer.world)
