"""Learning curves and attention heatmaps as PNG, and reading a run's metrics."""

import json
import logging

import matplotlib.pyplot as plt
import pytest

from seq2seq.evaluation import plots
from seq2seq.evaluation.plots import attention_heatmap, learning_curves, read_metrics
from seq2seq.runs.checkpoint import CheckpointError

PNG = b"\x89PNG"


def _run(path, rows):
    path.mkdir()
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    return path


def test_read_metrics_skips_blank_lines_and_names_bad_ones(tmp_path):
    run = _run(tmp_path / "a", [{"epoch": 1, "valid_loss": 2.0}, {"epoch": 2, "valid_loss": 1.0}])
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    with pytest.raises(CheckpointError, match=r"metrics.jsonl: missing; is .* a run directory\?"):
        read_metrics(tmp_path / "nothing")
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": \n')
    with pytest.raises(CheckpointError, match=r"metrics.jsonl:2: not valid JSON"):
        read_metrics(run)


def test_learning_curves_of_several_runs(tmp_path):
    a = _run(tmp_path / "a", [{"epoch": e, "valid_exact_match": e / 10, "valid_loss": 1 / e} for e in (1, 2, 3)])
    b = _run(tmp_path / "b", [{"epoch": 1, "valid_loss": 2.0}])  # no exact match (e.g. a vector run)
    out = learning_curves([a, b], tmp_path / "deep" / "curves.png")
    assert out == tmp_path / "deep" / "curves.png" and out.read_bytes()[:4] == PNG
    one = learning_curves([a], tmp_path / "one.png", metrics=("valid_loss",))
    assert one.read_bytes()[:4] == PNG


def test_attention_heatmap_puts_each_head_beside_the_mean(tmp_path):
    heads = [[[0.5, 0.5], [1.0, 0.0]], [[0.9, 0.1], [0.0, 1.0]], [[0.1, 0.9], [0.5, 0.5]]]
    mean = [[sum(h[i][j] for h in heads) / 3 for j in range(2)] for i in range(2)]
    size = {}
    for name, kwargs in (("mean", {}), ("heads", {"heads": heads}), ("many", {"heads": heads * 2})):
        path = attention_heatmap(mean, ["a", "b"], ["x", "</s>"], tmp_path / f"{name}.png", **kwargs)
        size[name] = plt.imread(path).shape[:2]  # (height, width)
    assert size["heads"][1] > 3 * size["mean"][1] and size["heads"][0] == size["mean"][0]  # 4 panels, one row
    assert size["many"][0] > 1.5 * size["mean"][0]  # 7 panels: two rows of four


def test_attention_heatmap_draws_any_labels(tmp_path, caplog):
    weights = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.0, 0.0, 1.0]]
    path = attention_heatmap(weights, ["a", " ", "c"], ["x", "y", "</s>"], tmp_path / "h.png", title="t")
    assert path.read_bytes()[:4] == PNG  # extra rows beyond the output labels are cut, not an error
    with caplog.at_level(logging.WARNING, logger="seq2seq"):
        attention_heatmap([[1.0, 0.0]], ["한", "글"], ["</s>"], tmp_path / "k.png")
    assert (tmp_path / "k.png").read_bytes()[:4] == PNG
    if len(plots._font_family()) == 1:
        assert "no font with Hangul glyphs" in caplog.text


def test_hangul_detection():
    assert plots._needs_hangul(["abc", "한"]) and plots._needs_hangul(["\u1100"]) and plots._needs_hangul(["ㄱ"])
    assert not plots._needs_hangul(["abc", "日本", "é"])
    assert plots._font_family()[-1] == "DejaVu Sans"


def test_heatmap_image_is_the_png_drawing_as_rgb(tmp_path):
    import numpy as np
    from matplotlib.image import imread

    weights = [[1.0, 0.0], [0.0, 1.0]]
    image = plots.heatmap_image(weights, ["a", "b"], ["x", "</s>"])
    png = imread(attention_heatmap(weights, ["a", "b"], ["x", "</s>"], tmp_path / "h.png"))
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    # Same figure size; the PNG is saved at a higher dpi.
    assert image.shape[1] / image.shape[0] == pytest.approx(png.shape[1] / png.shape[0], rel=0.02)
    assert image.min() == 0 and image.max() == 255  # the black and white cells of the map
