"""Robustness report: how much the main metric drops when the inputs are disturbed.

Two perturbations, each a row of the table:
- Gaussian noise on every numeric feature at once, at a few levels relative to each
  feature's standard deviation (seeded, averaged over `repeats` draws);
- one feature at a time replaced by its training median (numbers) or most frequent
  value (everything else): what the model loses without it.

A drop is always "how much worse": baseline minus perturbed for scores where higher is
better (ROC-AUC, F1, accuracy, R²), perturbed minus baseline for errors (RMSE, MAE).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from training.recipes.base import numeric_and_categorical
from training.reports.jsonable import label, number

KIND = "robustness"
VERSION = 1
NOISE_LEVELS = (0.05, 0.1, 0.25, 0.5)
MAX_ROWS = 20_000
HIGHER_IS_BETTER = {"roc_auc": True, "f1_macro": True, "accuracy": True, "r2": True}
LOWER_IS_BETTER = {"rmse": False, "mae": False}
METRICS = {**HIGHER_IS_BETTER, **LOWER_IS_BETTER}


def default_metric(task: str, labels: Sequence[Any] = ()) -> str:
    """ROC-AUC for binary classification, macro F1 for more classes (what the training
    search optimises), R² for regression (scale-free, so one threshold fits all)."""
    if task == "regression":
        return "r2"
    return "roc_auc" if len(labels) == 2 else "f1_macro"


def score(metric: str, model: Any, x: pd.DataFrame, y: np.ndarray, positive_label: Any) -> float:
    """`metric` of `model` on (x, y); NaN when it is undefined (a single class)."""
    try:
        if metric == "roc_auc":
            classes = list(model.classes_)
            column = classes.index(classes[1] if positive_label is None else positive_label)
            positive = classes[column]
            return float(roc_auc_score(y == positive, model.predict_proba(x)[:, column]))
        predicted = model.predict(x)
        if metric == "f1_macro":
            return float(f1_score(y, predicted, average="macro", zero_division=0))
        if metric == "accuracy":
            return float(accuracy_score(y, predicted))
        if metric == "r2":
            return float(r2_score(y, predicted))
        if metric == "rmse":
            return float(root_mean_squared_error(y, predicted))
        if metric == "mae":
            return float(mean_absolute_error(y, predicted))
    except ValueError:
        return float("nan")
    raise ValueError(f"unknown metric {metric!r}; one of {sorted(METRICS)}")


def _imputer_fill_values(model: Any) -> dict[str, Any]:
    """The training medians / most frequent values the recipes' imputers learnt, by column."""
    preprocess = model.steps[0][1] if hasattr(model, "steps") else None
    values: dict[str, Any] = {}
    for _, step, columns in getattr(preprocess, "transformers_", []):
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            continue
        for part in getattr(step, "steps", [("", step)]):
            if isinstance(part[1], SimpleImputer) and hasattr(part[1], "statistics_"):
                stats = part[1].statistics_
                if len(stats) == len(columns):
                    values.update(zip(columns, stats, strict=True))
                break
    return values


def _typical(series: pd.Series, numeric: bool) -> Any:
    present = series.dropna()
    if present.empty:
        return np.nan
    return float(present.median()) if numeric else present.mode().iloc[0]


def fill_values(
    model: Any, x: pd.DataFrame, reference: pd.DataFrame | None = None
) -> tuple[dict[str, Any], str]:
    """A stand-in value per column and where it came from: the `reference` (training)
    frame when given, else the pipeline's fitted imputers, else `x` itself."""
    numeric, _ = numeric_and_categorical(x, list(x.columns))
    if reference is not None:
        return {c: _typical(reference[c], c in numeric) for c in x.columns}, "reference_data"
    learnt = _imputer_fill_values(model)
    if all(c in learnt for c in x.columns):
        return {c: learnt[c] for c in x.columns}, "model_imputers"
    return {c: learnt.get(c, _typical(x[c], c in numeric)) for c in x.columns}, "evaluation_data"


def _drop(metric: str, baseline: float, value: float) -> float:
    return baseline - value if METRICS[metric] else value - baseline


def robustness_report(
    model: Any,
    x: pd.DataFrame,
    y: Any,
    *,
    task: str,
    metric: str | None = None,
    positive_label: Any = None,
    noise_levels: Sequence[float] = NOISE_LEVELS,
    repeats: int = 1,
    reference: pd.DataFrame | None = None,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
) -> dict[str, Any]:
    """The table of metric drops for noise levels and dropped features, and the worst."""
    y = np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("x and y must be non-empty and of the same length")
    if len(x) > max_rows:
        keep = np.sort(np.random.default_rng(seed).permutation(len(x))[:max_rows])
        x, y = x.iloc[keep], y[keep]
    labels = list(getattr(model, "classes_", []))
    metric = metric or default_metric(task, labels)
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of {sorted(METRICS)}")
    baseline = score(metric, model, x, y, positive_label)
    numeric, _ = numeric_and_categorical(x, list(x.columns))
    spread = (reference if reference is not None else x)[numeric].astype(float).std(ddof=0)
    spread = spread.fillna(0.0).to_numpy()
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for level in noise_levels if numeric else ():
        values = []
        for _ in range(repeats):
            noisy = x.copy()
            block = x[numeric].to_numpy(dtype=float)
            noisy[numeric] = block + rng.normal(size=block.shape) * (level * spread)
            values.append(score(metric, model, noisy, y, positive_label))
        value = float(np.mean(values))
        rows.append(
            {
                "perturbation": "gaussian_noise",
                "feature": None,
                "level": float(level),
                "metric_value": number(value),
                "drop": number(_drop(metric, baseline, value)),
            }
        )
    stand_ins, source = fill_values(model, x, reference)
    for column in x.columns:
        dropped = x.copy()
        dropped[column] = pd.Series(
            [stand_ins[column]] * len(x),
            index=x.index,
            dtype=float if column in numeric else object,
        )
        value = score(metric, model, dropped, y, positive_label)
        rows.append(
            {
                "perturbation": "drop_feature",
                "feature": column,
                "fill_value": label(stand_ins[column]),
                "metric_value": number(value),
                "drop": number(_drop(metric, baseline, value)),
            }
        )
    return {
        "kind": KIND,
        "version": VERSION,
        "task": task,
        "metric": metric,
        "higher_is_better": METRICS[metric],
        "row_count": len(x),
        "seed": seed,
        "repeats": repeats,
        "numeric_features": numeric,
        "fill_source": source,
        "baseline": number(baseline),
        "table": rows,
        "summary": _summary(rows),
    }


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def worst(kind: str) -> dict[str, Any] | None:
        candidates = [r for r in rows if r["perturbation"] == kind and r["drop"] is not None]
        return max(candidates, key=lambda r: r["drop"]) if candidates else None

    # Kept apart on purpose: the noise drop is what a robustness threshold is about;
    # the drop without a feature mostly measures how much the model relies on it.
    noise, feature = worst("gaussian_noise"), worst("drop_feature")
    return {
        "max_noise_drop": noise["drop"] if noise else None,
        "max_noise_drop_level": noise["level"] if noise else None,
        "max_feature_drop": feature["drop"] if feature else None,
        "max_feature_drop_feature": feature["feature"] if feature else None,
    }
