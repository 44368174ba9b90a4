"""Fairness report: per-group rates for each sensitive attribute and their intersections,
with fairlearn's disparity measures, computed by a vectorised group-by.

fairlearn's MetricFrame calls each metric once per group through pandas `apply` (about
25 s for a million rows, fairlearn#975). Here every per-group count comes from one
`np.bincount` over integer group codes, and the rates are divisions of those counts,
written to equal fairlearn's definitions (fairlearn 0.15, checked in
tests/training/reports/test_fairness.py):

- selection rate: share of predictions equal to the positive label;
- true/false positive rate: from sklearn's confusion matrix normalised by true class,
  so a group without actual positives (negatives) has a TPR (FPR) of 0, not NaN;
- difference (`method="between_groups"`): largest group value minus the smallest;
- ratio: smallest over largest, NaN (null in JSON) when the largest is 0;
- equalized odds: Python's `max`/`min` over [TPR measure, FPR measure], in that order,
  exactly as fairlearn aggregates them (so a NaN TPR ratio wins the `min`).

fairlearn refuses missing sensitive values; here they form their own group, "(missing)".
fairlearn lists empty intersections as NaN rows; here only observed groups are listed
(the aggregates skip NaN in fairlearn, so they agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

from training.reports.jsonable import label, number

KIND = "fairness"
VERSION = 1
MISSING_GROUP = "(missing)"
MAX_INTERSECTIONS = 10  # pairs first, then all attributes together
MAX_INTERSECTION_GROUPS = 1000  # finer intersections say little and are skipped
MAX_LISTED_GROUPS = 1000  # per breakdown; the largest groups when there are more
SMALL_GROUP = 30  # groups below this size are counted: their rates are noisy


@dataclass(frozen=True)
class Grouping:
    """Rows mapped to groups: `codes[i]` is row i's group, `labels[g]` group g's values."""

    features: tuple[str, ...]
    codes: np.ndarray
    labels: list[tuple[Any, ...]]

    @property
    def size(self) -> int:
        return len(self.labels)


def _factorize(series: pd.Series) -> tuple[np.ndarray, list[Any]]:
    if series.isna().any():
        series = series.astype(object).where(series.notna(), MISSING_GROUP)
    try:
        codes, uniques = pd.factorize(series, sort=True)
    except TypeError:  # values of mixed types do not sort; order of appearance then
        codes, uniques = pd.factorize(series, sort=False)
    return np.asarray(codes, dtype=np.int64), list(uniques)


def encode_groups(sensitive: pd.DataFrame, features: Sequence[str]) -> Grouping:
    """Integer group codes for the combinations of `features` that occur, in sorted order
    of the feature values (the order fairlearn's MetricFrame lists them)."""
    parts = [_factorize(sensitive[feature]) for feature in features]
    if len(parts) == 1:
        codes, uniques = parts[0]
        return Grouping(tuple(features), codes, [(value,) for value in uniques])
    radix = [max(len(uniques), 1) for _, uniques in parts]
    if float(np.prod(radix, dtype=float)) >= 2.0**62:
        raise OverflowError("too many combinations of sensitive values to encode")
    combined = np.zeros(len(sensitive), dtype=np.int64)
    for (codes, _), base in zip(parts, radix, strict=True):
        combined = combined * base + codes
    group_codes, combos = pd.factorize(combined, sort=True)
    remaining = np.asarray(combos, dtype=np.int64)
    digits = []
    for base in reversed(radix):
        digits.append(remaining % base)
        remaining = remaining // base
    digits.reverse()
    labels = [
        tuple(parts[k][1][digit] for k, digit in enumerate(combo))
        for combo in zip(*(d.tolist() for d in digits), strict=True)
    ]
    return Grouping(tuple(features), np.asarray(group_codes, dtype=np.int64), labels)


def _safe_rate(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (sklearn's nan_to_num)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.maximum(denominator, 1), 0.0)


def classification_by_group(
    grouping: Grouping, y_true: np.ndarray, y_pred: np.ndarray, positive_label: Any
) -> dict[str, np.ndarray]:
    """Per-group count, selection rate, base rate, TPR, FPR and accuracy, from one
    bincount of (group, actual positive, predicted positive) cells."""
    actual = np.asarray(y_true == positive_label, dtype=np.int64)
    predicted = np.asarray(y_pred == positive_label, dtype=np.int64)
    cells = np.bincount(
        grouping.codes * 4 + actual * 2 + predicted, minlength=4 * grouping.size
    ).reshape(grouping.size, 4)
    tn, fp, fn, tp = cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]
    count = cells.sum(axis=1)
    correct = np.bincount(grouping.codes[y_true == y_pred], minlength=grouping.size)
    return {
        "count": count,
        "selection_rate": (tp + fp) / count,
        "base_rate": (tp + fn) / count,
        "true_positive_rate": _safe_rate(tp, tp + fn),
        "false_positive_rate": _safe_rate(fp, fp + tn),
        "accuracy": correct / count,
    }


def regression_by_group(
    grouping: Grouping, y_true: np.ndarray, y_pred: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-group count, mean target and prediction, MAE and RMSE."""
    error = y_pred - y_true
    count = np.bincount(grouping.codes, minlength=grouping.size)

    def mean(weights: np.ndarray) -> np.ndarray:
        return np.bincount(grouping.codes, weights=weights, minlength=grouping.size) / count

    return {
        "count": count,
        "mean_target": mean(y_true),
        "mean_prediction": mean(y_pred),
        "mae": mean(np.abs(error)),
        "rmse": np.sqrt(mean(error * error)),
    }


def difference(values: np.ndarray) -> float:
    """fairlearn's `difference(method="between_groups")`: max minus min over groups."""
    return float(np.max(values) - np.min(values))


def ratio(values: np.ndarray) -> float:
    """fairlearn's `ratio(method="between_groups")`: min over max, NaN when max is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(np.min(values)) / np.float64(np.max(values)))


def classification_disparities(by_group: dict[str, np.ndarray]) -> dict[str, float]:
    """Demographic parity and equalized odds differences and ratios (worst case)."""
    tpr, fpr = by_group["true_positive_rate"], by_group["false_positive_rate"]
    return {
        "demographic_parity_difference": difference(by_group["selection_rate"]),
        "demographic_parity_ratio": ratio(by_group["selection_rate"]),
        # The builtins, in fairlearn's order, so NaN propagates the way it does there.
        "equalized_odds_difference": max([difference(tpr), difference(fpr)]),
        "equalized_odds_ratio": min([ratio(tpr), ratio(fpr)]),
        "true_positive_rate_difference": difference(tpr),
        "false_positive_rate_difference": difference(fpr),
        "accuracy_difference": difference(by_group["accuracy"]),
        "accuracy_ratio": ratio(by_group["accuracy"]),
    }


def regression_disparities(by_group: dict[str, np.ndarray]) -> dict[str, float]:
    """The per-group error gaps: MAE and RMSE difference and ratio."""
    return {
        "mae_difference": difference(by_group["mae"]),
        "mae_ratio": ratio(by_group["mae"]),
        "rmse_difference": difference(by_group["rmse"]),
        "rmse_ratio": ratio(by_group["rmse"]),
        "mean_prediction_difference": difference(by_group["mean_prediction"]),
    }


def breakdowns(
    attributes: Sequence[str], max_intersections: int = MAX_INTERSECTIONS
) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """Each attribute alone, then pairs, then all together when there are more than two;
    intersections past `max_intersections` are skipped (the all-attributes one is kept)."""
    singles = [(a,) for a in attributes]
    pairs = list(combinations(attributes, 2))
    whole = [tuple(attributes)] if len(attributes) > 2 else []
    if len(pairs) + len(whole) <= max_intersections:
        return singles + pairs + whole, []
    room = max(max_intersections - len(whole), 0)
    kept_whole = whole if max_intersections > 0 else []
    skipped = pairs[room:] + [w for w in whole if w not in kept_whole]
    return singles + pairs[:room] + kept_whole, skipped


def _group_rows(grouping: Grouping, by_group: dict[str, np.ndarray]) -> tuple[list, bool]:
    order = np.arange(grouping.size)
    truncated = grouping.size > MAX_LISTED_GROUPS
    if truncated:
        order = np.sort(np.argsort(-by_group["count"], kind="stable")[:MAX_LISTED_GROUPS])
    columns = {name: values[order].tolist() for name, values in by_group.items()}
    rows = []
    for position, g in enumerate(order.tolist()):
        values = grouping.labels[g]
        row: dict[str, Any] = {
            "group": {f: label(v) for f, v in zip(grouping.features, values, strict=True)},
            "name": " × ".join(str(v) for v in values),
        }
        for name, column in columns.items():
            row[name] = int(column[position]) if name == "count" else number(column[position])
        rows.append(row)
    return rows, truncated


def _check_inputs(y_true: Any, y_pred: Any, sensitive: pd.DataFrame) -> tuple:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim != 1 or y_true.shape != y_pred.shape or len(sensitive) != len(y_true):
        raise ValueError("y_true, y_pred and the sensitive frame must have the same length")
    if len(y_true) == 0:
        raise ValueError("no rows to assess")
    return y_true, y_pred


def fairness_report(
    *,
    y_true: Any,
    y_pred: Any,
    sensitive: pd.DataFrame,
    task: str,
    positive_label: Any = None,
    attributes: Sequence[str] | None = None,
    max_intersections: int = MAX_INTERSECTIONS,
) -> dict[str, Any]:
    """The fairness report of predictions `y_pred` against `y_true`, grouped by the
    columns of `sensitive` (or `attributes` of it) and their intersections.

    `task` is "classification" (needs `positive_label`; multi-class is assessed one
    positive class against the rest, accuracy on all classes) or "regression"."""
    if task not in ("classification", "regression"):
        raise ValueError(f"fairness is assessed for classification or regression, not {task}")
    y_true, y_pred = _check_inputs(y_true, y_pred, sensitive)
    attributes = list(attributes if attributes is not None else sensitive.columns)
    if not attributes:
        raise ValueError("no sensitive attribute to assess")
    if task == "classification":
        if positive_label is None:
            raise ValueError("classification fairness needs the positive label")
        if not ((y_true == positive_label).any() or (y_pred == positive_label).any()):
            raise ValueError(f"the positive label {positive_label!r} occurs nowhere")
    else:
        y_true, y_pred = y_true.astype(float), y_pred.astype(float)

    kept, skipped = breakdowns(attributes, max_intersections)
    results, skipped_reasons = (
        [],
        [{"features": list(f), "reason": "max_intersections"} for f in skipped],
    )

    def by_group_of(grouping: Grouping) -> dict[str, np.ndarray]:
        if task == "classification":
            return classification_by_group(grouping, y_true, y_pred, positive_label)
        return regression_by_group(grouping, y_true, y_pred)

    everyone = by_group_of(Grouping((), np.zeros(len(y_true), dtype=np.int64), [()]))
    overall = {k: int(v[0]) if k == "count" else number(v[0]) for k, v in everyone.items()}
    for features in kept:
        grouping = encode_groups(sensitive, features)
        if len(features) > 1 and grouping.size > MAX_INTERSECTION_GROUPS:
            skipped_reasons.append({"features": list(features), "reason": "too_many_groups"})
            continue
        by_group = by_group_of(grouping)
        disparities = (
            classification_disparities(by_group)
            if task == "classification"
            else regression_disparities(by_group)
        )
        rows, truncated = _group_rows(grouping, by_group)
        results.append(
            {
                "features": list(features),
                "group_count": grouping.size,
                "small_group_count": int((by_group["count"] < SMALL_GROUP).sum()),
                "groups_truncated": truncated,
                "groups": rows,
                **{name: number(value) for name, value in disparities.items()},
            }
        )
    return {
        "kind": KIND,
        "version": VERSION,
        "task": task,
        "positive_label": label(positive_label),
        "row_count": len(y_true),
        "attributes": attributes,
        "method": "between_groups",
        "small_group_threshold": SMALL_GROUP,
        "overall": overall,
        "breakdowns": results,
        "skipped": skipped_reasons,
        "summary": _summary(results, task),
    }


def _summary(results: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """The worst value of each measure over all breakdowns, and where it occurs: what a
    policy threshold is checked against."""
    worst_high = (
        ["demographic_parity_difference", "equalized_odds_difference"]
        if task == "classification"
        else ["mae_difference", "rmse_difference"]
    )
    worst_low = (
        ["demographic_parity_ratio", "equalized_odds_ratio"]
        if task == "classification"
        else ["mae_ratio", "rmse_ratio"]
    )
    summary: dict[str, Any] = {}
    for name, pick in [(n, max) for n in worst_high] + [(n, min) for n in worst_low]:
        candidates = [r for r in results if r.get(name) is not None]
        if not candidates:
            summary[name] = {"value": None, "features": None}
            continue
        chosen = pick(candidates, key=lambda r, n=name: r[n])
        summary[name] = {"value": chosen[name], "features": chosen["features"]}
    return summary
