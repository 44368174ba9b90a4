"""Data quality report of an evaluation (or training) frame: missing values, class
balance, leakage, sensitive and PII columns used as features, constant columns and
duplicate rows, each finding also listed as an issue with a stable code.

Leakage: a feature that alone predicts the target almost perfectly is more likely a
copy of the answer (an outcome recorded after the fact, an id that encodes the label)
than a discovery. Each feature gets a cross-validated score on its own: a depth-2 tree
for numbers, a per-value lookup (majority class or mean target, learnt on the other
folds) for everything else, and, for numbers against a numeric or binary target, the
absolute Pearson correlation. Either at or above the threshold (0.98) flags it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from training.recipes.base import numeric_and_categorical
from training.reports.jsonable import label, number

KIND = "data_quality"
VERSION = 1
LEAKAGE_THRESHOLD = 0.98
LEAKAGE_MAX_ROWS = 20_000
LEAKAGE_FOLDS = 3
MOSTLY_MISSING = 0.5  # a column more than half empty is an issue
MINORITY_CLASS = 0.05  # a class under 5 % of the rows is an issue
# Column-name fragments that suggest personal data nobody declared (a hint only).
PII_NAME_HINTS = tuple(
    "email e_mail phone mobile ssn social_security passport iban credit_card card_number "
    "ip_address street address postcode zip birth dob first_name last_name surname "
    "full_name national_id tax_id".split()
)


def _looks_personal(column: str) -> bool:
    """Whether a whole word of the column name is a PII hint ("home_zip", not "unzipped")."""
    words = "_" + re.sub(r"[^a-z0-9]+", "_", column.lower()) + "_"
    return any(f"_{hint}_" in words for hint in PII_NAME_HINTS)


def _folds(y: np.ndarray, classification: bool, seed: int) -> Any:
    if classification and pd.Series(y).value_counts().min() >= LEAKAGE_FOLDS:
        return StratifiedKFold(n_splits=LEAKAGE_FOLDS, shuffle=True, random_state=seed)
    return KFold(n_splits=LEAKAGE_FOLDS, shuffle=True, random_state=seed)


def _lookup_score(values: pd.Series, y: np.ndarray, classification: bool, folds: Any) -> float:
    """Cross-validated score of predicting y from the value alone, by table lookup."""
    keys = values.astype(object).where(values.notna(), "(missing)").astype(str).to_numpy()
    predicted = np.empty(len(y), dtype=object if classification else float)
    for train, test in folds.split(keys, y if classification else None):
        frame = pd.DataFrame({"key": keys[train], "y": y[train]})
        if classification:
            # The most frequent class per value (ties: the smallest label), in one sort.
            counts = frame.value_counts(["key", "y"]).rename("n").reset_index()
            counts = counts.sort_values(["key", "n", "y"], ascending=[True, False, True])
            table = counts.drop_duplicates("key").set_index("key")["y"]
            fallback: Any = pd.Series(y[train]).value_counts().index[0]
        else:
            table = frame.groupby("key")["y"].mean()
            fallback = float(np.mean(y[train]))
        looked_up = pd.Series(keys[test]).map(table)
        predicted[test] = looked_up.where(looked_up.notna(), fallback).to_numpy()
    if classification:
        return float(balanced_accuracy_score(y.astype(str), predicted.astype(str)))
    return float(r2_score(y, predicted.astype(float)))


def _tree_score(values: pd.Series, y: np.ndarray, classification: bool, folds: Any) -> float:
    column = values.to_numpy(dtype=float).reshape(-1, 1)  # trees take NaN as it is
    if classification:
        tree: Any = DecisionTreeClassifier(max_depth=2, random_state=0)
        scoring = "balanced_accuracy"
    else:
        tree, scoring = DecisionTreeRegressor(max_depth=2, random_state=0), "r2"
    return float(cross_val_score(tree, column, y, cv=folds, scoring=scoring).mean())


def leakage(
    frame: pd.DataFrame,
    features: Sequence[str],
    target: str,
    *,
    classification: bool,
    seed: int = 0,
    threshold: float = LEAKAGE_THRESHOLD,
) -> list[dict[str, Any]]:
    """One entry per feature: its single-feature CV score, correlation and verdict."""
    data = frame[frame[target].notna()]
    if len(data) > LEAKAGE_MAX_ROWS:
        data = data.sample(LEAKAGE_MAX_ROWS, random_state=seed)
    y = data[target].to_numpy()
    y = y.astype(str) if classification else y.astype(float)
    if len(data) < 2 * LEAKAGE_FOLDS or len(np.unique(y)) < 2:
        return []
    folds = _folds(y, classification, seed)
    binary = classification and len(np.unique(y)) == 2
    numeric_target = y.astype(float) if not classification else (y == np.unique(y)[1]) * 1.0
    numeric, _ = numeric_and_categorical(data, list(features))
    results = []
    for feature in features:
        values = data[feature]
        if feature in numeric:
            cv_score = _tree_score(values, y, classification, folds)
            present = values.notna().to_numpy()
            correlation = (
                np.corrcoef(values.to_numpy(dtype=float)[present], numeric_target[present])[0, 1]
                if (binary or not classification)
                and present.sum() > 2
                and np.std(values.to_numpy(dtype=float)[present]) > 0
                else np.nan
            )
        else:
            cv_score = _lookup_score(values, y, classification, folds)
            correlation = np.nan
        flagged = cv_score >= threshold or (
            np.isfinite(correlation) and abs(correlation) >= threshold
        )
        results.append(
            {
                "feature": feature,
                "method": "depth_2_tree" if feature in numeric else "value_lookup",
                "cv_score": number(cv_score),
                "score_name": "balanced_accuracy" if classification else "r2",
                "correlation": number(correlation),
                "flagged": bool(flagged),
            }
        )
    return results


def _class_balance(target: pd.Series) -> dict[str, Any]:
    counts = target.value_counts(dropna=True)
    total = int(counts.sum())
    return {
        "classes": [
            {"label": label(k), "count": int(v), "fraction": number(v / total)}
            for k, v in counts.items()
        ],
        "minority_fraction": number(counts.min() / total) if total else None,
        "imbalance_ratio": number(counts.min() / counts.max()) if total else None,
    }


def _duplicates(frame: pd.DataFrame, features: list[str], target: str | None) -> dict[str, int]:
    rows = pd.util.hash_pandas_object(frame, index=False)
    result = {"duplicate_rows": int(rows.duplicated().sum())}
    if target is not None and features:
        keys = pd.util.hash_pandas_object(frame[features], index=False)
        answers = frame[target].astype(str)
        labels_per_key = answers.groupby(keys.to_numpy()).nunique()
        conflicting = keys.isin(labels_per_key.index[labels_per_key > 1])
        result["conflicting_duplicate_rows"] = int(conflicting.sum())
    return result


def data_quality_report(
    frame: pd.DataFrame,
    *,
    features: Sequence[str],
    target: str | None = None,
    task: str | None = None,
    sensitive: Sequence[str] = (),
    pii: Sequence[str] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """The report for `frame`, whose `features` a model uses to predict `target`.
    `sensitive` and `pii` are the columns the dataset declares as such."""
    features = [c for c in features if c in frame.columns]
    classification = task in ("classification", "anomaly_detection")
    missing = frame.isna().sum()
    missing_rows = [
        {
            "column": c,
            "missing": int(missing[c]),
            "fraction": number(missing[c] / max(len(frame), 1)),
        }
        for c in frame.columns
    ]
    distinct = frame.nunique(dropna=False)
    constant = [c for c in frame.columns if distinct[c] <= 1]
    sensitive_used = [c for c in features if c in set(sensitive)]
    pii_used = [c for c in features if c in set(pii)]
    suspected = [c for c in features if c not in set(pii) and _looks_personal(c)]
    balance = _class_balance(frame[target]) if target and classification else None
    leaks = (
        leakage(frame, features, target, classification=classification, seed=seed)
        if target and task in ("classification", "regression", "anomaly_detection")
        else []
    )
    duplicates = _duplicates(frame, features, target)
    issues = []

    def issue(code: str, columns: list[str], detail: str) -> None:
        if columns:
            issues.append({"code": code, "columns": columns, "detail": detail})

    leaking = [r["feature"] for r in leaks if r["flagged"]]
    issue("leakage", leaking, "predicts the target almost perfectly on its own")
    issue("pii_feature", pii_used, "declared personal data used as a model feature")
    issue("sensitive_feature", sensitive_used, "a sensitive attribute used as a model feature")
    issue("suspected_pii_feature", suspected, "the column name suggests personal data")
    issue("constant_column", constant, "a single value (or all missing)")
    empty = [r["column"] for r in missing_rows if (r["fraction"] or 0) > MOSTLY_MISSING]
    issue("mostly_missing", empty, "more than half of the values are missing")
    if balance and (balance["minority_fraction"] or 0) < MINORITY_CLASS:
        issue("class_imbalance", [target or ""], "the rarest class is under 5 % of the rows")
    if duplicates["duplicate_rows"]:
        count = duplicates["duplicate_rows"]
        issues.append({"code": "duplicate_rows", "columns": [], "detail": f"{count} repeated rows"})
    if duplicates.get("conflicting_duplicate_rows"):
        count = duplicates["conflicting_duplicate_rows"]
        detail = f"{count} rows share their features with a row of another target value"
        issues.append({"code": "conflicting_duplicates", "columns": [], "detail": detail})
    return {
        "kind": KIND,
        "version": VERSION,
        "row_count": len(frame),
        "column_count": len(frame.columns),
        "target": target,
        "task": task,
        "features": features,
        "missing": missing_rows,
        "class_balance": balance,
        "leakage": {"threshold": LEAKAGE_THRESHOLD, "features": leaks},
        "sensitive_features_used": sensitive_used,
        "pii_features_used": pii_used,
        "suspected_pii_features": suspected,
        "constant_columns": constant,
        "duplicates": duplicates,
        "issues": issues,
    }
