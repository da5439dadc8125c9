"""Learning curves and attention heatmaps as PNG (matplotlib, no display needed)."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from ..runs.checkpoint import CheckpointError  # noqa: E402

log = logging.getLogger("seq2seq")

# Fonts with Hangul glyphs, tried in order; the first installed one is put in front of DejaVu.
HANGUL_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "Nanum Gothic", "UnDotum", "Baekmuk Gulim",
                "Noto Sans CJK JP", "Droid Sans Fallback", "AppleGothic", "Malgun Gothic")


def _font_family() -> list[str]:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    hangul = [name for name in HANGUL_FONTS if name in installed]
    return hangul[:1] + ["DejaVu Sans"]


def _needs_hangul(labels: Sequence[str]) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" or "\u1100" <= ch <= "\u11ff" or "\u3130" <= ch <= "\u318f"
               for label in labels for ch in label)


def attention_heatmap(weights: Sequence[Sequence[float]], source_tokens: Sequence[str],
                      output_tokens: Sequence[str], path: str | Path, title: str | None = None,
                      heads: Sequence[Sequence[Sequence[float]]] | None = None) -> Path:
    """Draw attention (output x source) with token labels to PNG; missing glyphs never crash it. With `heads`
    (one map per head, `weights` their mean) the mean comes first and each head beside it, four to a row."""
    with _heatmap_style(list(source_tokens) + list(output_tokens)):
        return _save(_heatmap(weights, source_tokens, output_tokens, title, heads), path)


def heatmap_image(weights: Sequence[Sequence[float]], source_tokens: Sequence[str],
                  output_tokens: Sequence[str]) -> np.ndarray:
    """The same drawing as `attention_heatmap`, as an RGB array (height, width, 3) of uint8."""
    with _heatmap_style(list(source_tokens) + list(output_tokens)):
        fig = _heatmap(weights, source_tokens, output_tokens, None)
        fig.tight_layout()
        fig.canvas.draw()
        image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


@contextmanager
def _heatmap_style(labels: list[str]) -> Iterator[None]:
    """A font with Hangul glyphs when one is installed; "Glyph missing" warnings silenced (boxes are drawn)."""
    family = _font_family()
    if _needs_hangul(labels) and len(family) == 1:
        log.warning("no font with Hangul glyphs found (install fonts-noto-cjk or fonts-nanum); "
                    "Korean labels may show as boxes")
    with plt.rc_context({"font.family": family}), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _heatmap(weights: Sequence[Sequence[float]], source_tokens: Sequence[str], output_tokens: Sequence[str],
             title: str | None, heads: Sequence[Sequence[Sequence[float]]] | None = None) -> plt.Figure:
    panels = [(title or ("mean of the heads" if heads else None), weights)]
    panels += [(f"head {i + 1}", h) for i, h in enumerate(heads or [])]
    show = [("␣" if t == " " else t) for t in source_tokens], [("␣" if t == " " else t) for t in output_tokens]
    columns = min(len(panels), 4)
    grid = (len(panels) + columns - 1) // columns, columns
    fig, axes = plt.subplots(*grid, squeeze=False,
                             figsize=(grid[1] * max(3.0, 0.35 * len(source_tokens) + 1.5),
                                      grid[0] * max(2.5, 0.35 * len(output_tokens) + 1.2)))
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (name, panel) in zip(axes.flat, panels):
        rows = [list(r)[: len(source_tokens)] for r in list(panel)[: len(output_tokens)]]
        ax.imshow(rows, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(show[0])), show[0], rotation=90 if max(map(len, show[0] or [""])) > 2 else 0)
        ax.set_yticks(range(len(rows)), show[1][: len(rows)])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        if name:
            ax.set_title(name)
    return fig


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The records of a run's metrics.jsonl."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; is {run_dir} a run directory?")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise CheckpointError(f"{path}:{n}: not valid JSON ({e})") from None
    return rows


# Curves `seq2seq plot` draws when a run reports them, in this order (BLEU both ways for text targets).
CURVES = ("valid_loss", "valid_bleu", "valid_bleu_tok", "valid_exact_match", "valid_mae")
# Metrics drawn as they are (scores on a 0-100 scale, perplexity); other non-loss metrics are fractions,
# drawn as percentages.
_AS_IS = ("bleu", "bleu_tok", "chrf", "perplexity")


def default_curves(rows: Sequence[dict]) -> tuple[str, ...]:
    """The metrics of CURVES some record of `rows` holds (valid_loss at least)."""
    found = tuple(key for key in CURVES if any(key in r for r in rows))
    return found or ("valid_loss",)


def _axis_label(key: str) -> str:
    name = {"valid_bleu": "validation BLEU (sacreBLEU, cased)",
            "valid_bleu_tok": "validation BLEU (lower-cased, tokenised)"}.get(key)
    if name:
        return name
    plain = key.endswith(("loss", "mae", "rmse", "cer")) or key.endswith(_AS_IS)
    return key.replace("valid_", "validation ").replace("_", " ") + ("" if plain else " (%)")


def learning_curves(run_dirs: Sequence[str | Path], path: str | Path,
                    metrics: Sequence[str] | None = None) -> Path:
    """Validation metrics per epoch, one line per run (legend = run directory name), to PNG; `metrics`
    None: those of CURVES the runs report."""
    runs = [(run, read_metrics(run)) for run in run_dirs]
    if metrics is None:
        metrics = default_curves([r for _, rows in runs for r in rows])
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4))
    axes = [axes] if len(metrics) == 1 else list(axes)
    for run, rows in runs:
        for ax, key in zip(axes, metrics):
            scale = 1 if key.endswith(("loss", "mae", "rmse", "cer") + _AS_IS) else 100
            pts = [(r["epoch"], r[key] * scale) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), marker="o", markersize=3, label=Path(run).name)
    for ax, key in zip(axes, metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel(_axis_label(key))
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
