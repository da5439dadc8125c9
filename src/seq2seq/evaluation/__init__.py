"""Metrics: teacher-forced loss and perplexity, exact match, BLEU, chrF, CER, MAE and RMSE."""

from .evaluate import evaluate, teacher_forced
from .metrics import char_error_rate, levenshtein, metric_names, text_scores

__all__ = ["char_error_rate", "evaluate", "levenshtein", "metric_names", "teacher_forced", "text_scores"]
