"""Performance report: the task's metrics (the recipes' own metric helpers, so training
and evaluation report the same numbers), curves downsampled for the console,
calibration for classifiers and residuals for regressors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    auc,
    brier_score_loss,
    precision_recall_curve,
    roc_curve,
)

from training.recipes.classification import classification_metrics
from training.recipes.regression import regression_metrics
from training.reports.jsonable import floats, label, number

KIND = "performance"
VERSION = 1
MAX_CURVE_POINTS = 200
MAX_CURVE_CLASSES = 20  # one-vs-rest curves past this many classes say little
CALIBRATION_BINS = 10
RESIDUAL_BINS = 20
SCATTER_POINTS = 200


def downsample_indices(length: int, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Evenly spaced indices into a curve, always keeping its first and last point."""
    if length <= max_points:
        return np.arange(length)
    return np.unique(np.round(np.linspace(0, length - 1, max_points)).astype(np.int64))


def _curve(x: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    keep = downsample_indices(len(x))
    thresholds = np.append(thresholds, np.nan) if len(thresholds) < len(x) else thresholds
    return {
        "x": floats(x[keep]),
        "y": floats(y[keep]),
        "thresholds": floats(thresholds[keep]),
        "points": len(x),
    }


def _binary_curves(positive: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    fpr, tpr, roc_thresholds = roc_curve(positive, score)
    precision, recall, pr_thresholds = precision_recall_curve(positive, score)
    return {
        "roc": {**_curve(fpr, tpr, roc_thresholds), "auc": number(auc(fpr, tpr))},
        "precision_recall": _curve(recall, precision, pr_thresholds),
    }


def calibration_bins(
    correct: np.ndarray, confidence: np.ndarray, n_bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Reliability bins of equal width on [0, 1] (sklearn's `calibration_curve` binning,
    empty bins kept with null means), and the expected calibration error."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bin_ids = np.searchsorted(edges[1:-1], confidence)
    count = np.bincount(bin_ids, minlength=n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_confidence = np.bincount(bin_ids, weights=confidence, minlength=n_bins) / count
        observed = np.bincount(bin_ids, weights=correct.astype(float), minlength=n_bins) / count
    gaps = np.where(count > 0, np.abs(observed - mean_confidence), 0.0)
    return {
        "edges": floats(edges),
        "count": count.tolist(),
        "mean_predicted": floats(mean_confidence),
        "observed_frequency": floats(observed),
        "expected_calibration_error": number((count * gaps).sum() / count.sum()),
    }


def classification_performance(
    *,
    y_true: Any,
    y_pred: Any,
    y_score: Any,
    labels: Sequence[Any],
    positive_label: Any = None,
) -> dict[str, Any]:
    """Metrics, confusion matrix, ROC and precision-recall curves and calibration.

    `y_score` holds one probability column per entry of `labels` (a fitted classifier's
    `predict_proba` and `classes_`). Binary: `positive_label` (default the second label)
    is the class the curves and the positive-class metrics are about. Multi-class:
    macro-averaged metrics, one-vs-rest curves per class, top-label calibration."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    scores = np.asarray(y_score, dtype=float)
    labels = list(labels)
    if scores.shape != (len(y_true), len(labels)):
        raise ValueError("y_score needs one column per label and one row per sample")
    binary = len(labels) == 2
    if binary:
        positive = labels[1] if positive_label is None else positive_label
        if positive not in labels:
            raise ValueError(f"the positive label {positive!r} is not one of {labels}")
        if positive == labels[0]:  # the recipes' helper takes the second label as positive
            labels, scores = labels[::-1], scores[:, ::-1]
    metrics = classification_metrics(y_true, y_pred, scores, labels)
    confusion = metrics.pop("confusion_matrix")
    report: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "task": "classification",
        "row_count": len(y_true),
        "labels": [label(v) for v in labels],
        "positive_label": label(labels[1]) if binary else None,
        "metrics": {k: number(v) for k, v in metrics.items()},
        "confusion_matrix": confusion,
    }
    if binary:
        is_positive = y_true == labels[1]
        report["curves"] = _binary_curves(is_positive, scores[:, 1])
        report["calibration"] = {
            "kind": "positive_class",
            **calibration_bins(is_positive, scores[:, 1]),
            "brier_score": number(brier_score_loss(is_positive, scores[:, 1])),
        }
        return report
    per_class = {}
    for k, value in enumerate(labels[:MAX_CURVE_CLASSES]):
        is_class = y_true == value
        if 0 < is_class.sum() < len(y_true):
            per_class[str(value)] = _binary_curves(is_class, scores[:, k])
    report["curves"] = {"one_vs_rest": per_class, "classes_shown": len(per_class)}
    top = scores.argmax(axis=1)
    report["calibration"] = {
        "kind": "top_label",
        **calibration_bins(np.asarray(labels, dtype=object)[top] == y_true, scores.max(axis=1)),
        "brier_score": number(brier_score_loss(y_true, scores, labels=labels)),
    }
    return report


def regression_performance(*, y_true: Any, y_pred: Any, seed: int = 0) -> dict[str, Any]:
    """RMSE, MAE, MAPE, R², a residual summary and histogram (residual = actual minus
    predicted), and up to 200 sampled (actual, predicted) points."""
    actual, predicted = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    if actual.shape != predicted.shape or actual.ndim != 1 or len(actual) == 0:
        raise ValueError("y_true and y_pred must be non-empty and of the same length")
    residual = actual - predicted
    counts, edges = np.histogram(residual, bins=RESIDUAL_BINS)
    quantiles = (0.05, 0.25, 0.5, 0.75, 0.95)
    sample = np.random.default_rng(seed).permutation(len(actual))[:SCATTER_POINTS]
    return {
        "kind": KIND,
        "version": VERSION,
        "task": "regression",
        "row_count": len(actual),
        "metrics": {k: number(v) for k, v in regression_metrics(actual, predicted).items()},
        "residuals": {
            "mean": number(residual.mean()),
            "std": number(residual.std()),
            "min": number(residual.min()),
            "max": number(residual.max()),
            "quantiles": {
                str(q): number(v)
                for q, v in zip(quantiles, np.quantile(residual, quantiles), strict=True)
            },
            "histogram": {"counts": counts.tolist(), "edges": floats(edges)},
        },
        "actual_vs_predicted": {
            "actual": floats(actual[np.sort(sample)]),
            "predicted": floats(predicted[np.sort(sample)]),
        },
    }
