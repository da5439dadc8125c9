"""Learning-rate schedules and the bookkeeping of evaluations (best, plateau cuts, early stopping)."""

import math

import pytest

from seq2seq.config import TrainConfig
from seq2seq.training import Progress
from seq2seq.training.schedule import LOWER_IS_BETTER, lr_factor


def test_constant_and_plateau_use_the_scale_only():
    for schedule in ("constant", "plateau"):
        t = TrainConfig(schedule=schedule, warmup_steps=100)
        assert [lr_factor(t, s, 1000, 1.0) for s in (0, 50, 999, 5000)] == [1.0] * 4
        assert lr_factor(t, 10, 1000, 0.25) == 0.25


def test_inverse_sqrt_warms_up_linearly_then_decays_as_one_over_root_step():
    t = TrainConfig(schedule="inverse_sqrt", warmup_steps=4)
    assert [lr_factor(t, s, 0, 1.0) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert lr_factor(t, 15, 0, 1.0) == pytest.approx(math.sqrt(4 / 16))
    assert lr_factor(t, 399, 0, 1.0) == pytest.approx(0.1)
    assert lr_factor(t, 10, 0, 0.5) == lr_factor(t, 10, 0, 1.0)  # plateau cuts do not apply
    no_warmup = TrainConfig(schedule="inverse_sqrt", warmup_steps=0)
    assert lr_factor(no_warmup, 0, 0, 1.0) == 1.0 and lr_factor(no_warmup, 3, 0, 1.0) == pytest.approx(0.5)


@pytest.mark.parametrize("warmup", [1, 16, 4000])
def test_inverse_sqrt_is_the_noam_schedule_with_its_peak_at_train_lr(warmup):
    """Vaswani et al. (2017): lr = d^-0.5 * min(n^-0.5, n * warmup^-1.5) at step n >= 1, highest at n = warmup."""
    t, d = TrainConfig(schedule="inverse_sqrt", warmup_steps=warmup), 256

    def noam(n):
        return d ** -0.5 * min(n ** -0.5, n * warmup ** -1.5)

    for step in (0, 1, warmup // 2, warmup - 1, warmup, 3 * warmup, 10 * warmup + 7):
        assert lr_factor(t, step, 0, 1.0) == pytest.approx(noam(step + 1) / noam(warmup))
    assert max(lr_factor(t, s, 0, 1.0) for s in range(3 * warmup)) == pytest.approx(1.0)


def test_linear_warms_up_then_decays_to_zero_at_the_last_step():
    t = TrainConfig(schedule="linear", warmup_steps=10)
    total = 110
    assert lr_factor(t, 0, total, 1.0) == pytest.approx(0.1)
    assert lr_factor(t, 9, total, 1.0) == pytest.approx(1.0)
    assert lr_factor(t, 60, total, 1.0) == pytest.approx(0.5)
    assert lr_factor(t, 110, total, 1.0) == 0.0 and lr_factor(t, 500, total, 1.0) == 0.0
    factors = [lr_factor(t, s, total, 1.0) for s in range(total)]
    assert max(factors) == pytest.approx(1.0) and all(a >= b for a, b in zip(factors[9:], factors[10:]))
    no_warmup = TrainConfig(schedule="linear")
    assert lr_factor(no_warmup, 0, 4, 1.0) == 1.0 and lr_factor(no_warmup, 2, 4, 1.0) == pytest.approx(2 / 3)


def _record(p, t, values, metric="valid_loss"):
    return [p.record({"step": i, metric: v, "valid_loss": v}, t) for i, v in enumerate(values)]


def test_record_tracks_the_best_and_counts_evaluations_without_improvement():
    t = TrainConfig()
    p = Progress()
    assert _record(p, t, [3.0, 2.0, 2.5, 2.0, 1.0]) == [True, True, False, False, True]
    assert p.best == 1.0 and p.bad_evals == 0 and len(p.history) == 5 and not p.finished
    assert p.lr_scale == 1.0  # constant schedule: no cuts


def test_higher_is_better_for_accuracy_metrics_and_lower_for_errors():
    t = TrainConfig(early_stopping_metric="valid_exact_match")
    p = Progress()
    assert _record(p, t, [0.1, 0.5, 0.3], "valid_exact_match") == [True, True, False]
    assert p.best == 0.5
    for metric in ("valid_loss", "valid_mae", "valid_rmse", "valid_cer"):
        assert metric in LOWER_IS_BETTER
        p = Progress()
        assert _record(p, TrainConfig(early_stopping_metric=metric), [0.5, 0.1, 0.3], metric) == [True, True, False]
        assert p.best == 0.1
    # a metric the records lack (e.g. BLEU of a char-level run) falls back to valid_loss, lower is better
    p = Progress()
    t = TrainConfig(early_stopping_metric="valid_bleu")
    assert [p.record({"valid_loss": v}, t) for v in (2.0, 1.0, 1.5)] == [True, True, False]


def test_plateau_cuts_the_lr_after_patience_plus_one_bad_evaluations():
    t = TrainConfig(schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    p = Progress()
    scales = []
    for v in (1.0, 2.0, 2.0, 2.0, 2.0, 0.5, 0.7, 0.7):
        p.record({"valid_loss": v}, t)
        scales.append(p.lr_scale)
    assert scales == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert not p.finished
    t = TrainConfig(schedule="plateau", plateau_patience=0, plateau_factor=0.1)
    p = Progress()
    _record(p, t, [1.0, 1.0, 1.0])
    assert p.lr_scale == pytest.approx(0.01)
    # other schedules never cut
    p = Progress()
    _record(p, TrainConfig(schedule="linear"), [1.0, 2.0, 2.0, 2.0])
    assert p.lr_scale == 1.0


def test_early_stopping_after_patience_bad_evaluations():
    t = TrainConfig(patience=2)
    p = Progress()
    _record(p, t, [1.0, 1.5])
    assert not p.finished and p.bad_evals == 1
    _record(p, t, [0.9])  # an improvement resets the count
    assert p.bad_evals == 0 and not p.finished
    _record(p, t, [0.95, 0.95])
    assert p.finished and p.bad_evals == 2
    p = Progress()
    _record(p, TrainConfig(patience=0), [1.0] + [2.0] * 20)  # 0: never stop
    assert not p.finished
