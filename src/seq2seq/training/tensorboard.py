"""TensorBoard event files in the run directory (`train.tensorboard`): training loss, learning rate and
throughput, every validation metric, and an attention heatmap of one fixed validation sentence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..config import Config, ConfigError, DecodeConfig, to_yaml
from ..decoding import generate


def check_available() -> None:
    """ConfigError unless the tensorboard package (an optional extra) is installed."""
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        raise ConfigError("train.tensorboard=true needs the tensorboard package: "
                          "pip install 'seq2seq[tensorboard]'") from None


class TensorBoardLog:
    """One writer per run (rank 0); `tensorboard --logdir runs/` shows every run by its directory name."""

    def __init__(self, out: Path, cfg: Config, resumed_at: int | None):
        check_available()
        from torch.utils.tensorboard import SummaryWriter

        # A run resumed from the checkpoint of step N hides what a killed process logged after step N, as
        # metrics.jsonl drops those evaluations.
        self.writer = SummaryWriter(str(out), purge_step=None if resumed_at is None else resumed_at + 1)
        if resumed_at is None:
            self.writer.add_text("config", "```\n" + to_yaml(cfg) + "\n```", 0)

    def training(self, step: int, values: dict[str, float]) -> None:
        """Scalars under `train/` (loss per target step, learning rate, tokens/s)."""
        for name, value in values.items():
            self.writer.add_scalar(f"train/{name}", value, step)

    def validation(self, step: int, record: dict[str, Any]) -> None:
        """Every `valid_*` metric of an evaluation record, under `valid/`."""
        for key, value in record.items():
            if key.startswith("valid_"):
                self.writer.add_scalar(f"valid/{key[6:]}", value, step)
        self.writer.add_scalar("valid/eval_seconds", record["eval_seconds"], step)

    def attention(self, step: int, model: torch.nn.Module, source: Any, target: Any, pair: tuple[Any, Any],
                  options: DecodeConfig) -> None:
        """The heatmap of the model's attention while it decodes `pair`'s source (skipped without attention)."""
        from ..evaluation.plots import heatmap_image

        hyp = generate(model, source, [pair[0]], options, keep_attention=True)[0][0]
        if hyp.attention is None:
            return
        weights = source.reversal.reading_order(hyp.attention.float().cpu())
        columns = source.reversal.apply(source.output_labels(pair[0]))
        if len(columns) != weights.shape[1]:  # a pyramidal listener attends over fewer steps than frames
            columns = [str(i) for i in range(weights.shape[1])]
        rows = target.output_labels(hyp.output) + ["</s>"]
        self.writer.add_image("attention/valid_0", heatmap_image(weights.tolist(), columns, rows), step,
                              dataformats="HWC")

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
