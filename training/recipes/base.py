"""What every recipe shares: preprocessing, the optuna search loop, result types,
the model signature and the reference profile of the training data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from training.spec import TrainingSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)

HISTOGRAM_BINS = 10


@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    metrics: dict[str, float]


@dataclass
class RecipeResult:
    """What a recipe hands back: the fitted best model and the evidence around it."""

    model: Any
    best_params: dict[str, Any]
    metrics: dict[str, Any]
    trials: list[TrialResult]
    signature: dict[str, Any]
    reference_profile: dict[str, Any]
    feature_columns: list[str]
    extras: dict[str, Any] = field(default_factory=dict)


TrialCallback = Callable[[TrialResult], None]


def numeric_and_categorical(frame: pd.DataFrame, columns: list[str]) -> tuple[list, list]:
    numeric = [
        c
        for c in columns
        if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
    ]
    categorical = [c for c in columns if c not in numeric]
    return numeric, categorical


def preprocessor(
    frame: pd.DataFrame, columns: list[str], *, scale: bool = True
) -> ColumnTransformer:
    """Impute and scale numbers, impute and one-hot encode everything else."""
    numeric, categorical = numeric_and_categorical(frame, columns)
    numeric_steps: list = [("impute", SimpleImputer(strategy="median"))]
    if scale:
        numeric_steps.append(("scale", StandardScaler()))
    return ColumnTransformer(
        [
            ("numeric", Pipeline(numeric_steps), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                categorical,
            ),
        ],
        remainder="drop",
    )


def as_categorical_strings(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Non-numeric columns as plain object strings, so encoders see one dtype."""
    out = frame[columns].copy()
    for column in columns:
        if not pd.api.types.is_numeric_dtype(out[column]) or pd.api.types.is_bool_dtype(
            out[column]
        ):
            out[column] = out[column].astype("object").where(out[column].notna(), None)
            out[column] = out[column].map(lambda v: None if v is None else str(v))
    return out


def run_study(
    *,
    spec: TrainingSpec,
    direction: str,
    objective: Callable[[optuna.Trial], tuple[float, dict[str, float]]],
    on_trial: TrialCallback | None,
    storage: Any = None,
    study_name: str | None = None,
) -> tuple[optuna.Study, list[TrialResult]]:
    """Run the search: `spec.trials` trials (or until the time budget), seeded, logging
    each trial through `on_trial`. With `storage`, several workers share one study."""
    # Parts of a distributed search share one study: the same seed in each would make them
    # propose the same parameters, so each process draws its own (a shared search is not
    # reproducible trial by trial anyway; a local one keeps the spec's seed).
    seed = spec.seed if storage is None else spec.seed + os.getpid()
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(
        direction=direction,
        sampler=sampler,
        storage=storage,
        study_name=study_name,
        load_if_exists=storage is not None,
    )
    trials: list[TrialResult] = []
    deadline = time.monotonic() + spec.timeout_seconds if spec.timeout_seconds else None

    def wrapped(trial: optuna.Trial) -> float:
        score, metrics = objective(trial)
        result = TrialResult(number=trial.number, params=dict(trial.params), metrics=metrics)
        trials.append(result)
        if on_trial is not None:
            on_trial(result)
        return score

    remaining = spec.trials - len(study.trials)
    while remaining > 0:
        if deadline is not None and time.monotonic() >= deadline:
            break
        study.optimize(wrapped, n_trials=1, n_jobs=1)
        remaining = spec.trials - len(study.trials)
    return study, trials


def model_signature(frame: pd.DataFrame, columns: list[str], output: dict) -> dict:
    return {
        "inputs": [{"name": c, "type": str(frame[c].dtype)} for c in columns],
        "outputs": [output],
    }


def reference_profile(frame: pd.DataFrame, columns: list[str]) -> dict:
    """Per-feature statistics and histograms of the training data, for drift checks later."""
    profile: dict[str, Any] = {"row_count": int(len(frame)), "features": {}}
    for column in columns:
        series = frame[column]
        entry: dict[str, Any] = {
            "dtype": str(series.dtype),
            "missing": int(series.isna().sum()),
        }
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.dropna().to_numpy(dtype=float)
            if len(values):
                counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
                entry.update(
                    kind="numeric",
                    mean=float(values.mean()),
                    std=float(values.std()),
                    min=float(values.min()),
                    max=float(values.max()),
                    quantiles={str(q): float(np.quantile(values, q)) for q in (0.05, 0.5, 0.95)},
                    histogram={"counts": counts.tolist(), "edges": edges.tolist()},
                )
        else:
            top = series.astype("object").value_counts(dropna=True).head(20)
            entry.update(
                kind="categorical",
                distinct=int(series.nunique(dropna=True)),
                top_values={str(k): int(v) for k, v in top.items()},
            )
        profile["features"][column] = entry
    return profile


def rounded(metrics: dict[str, Any], digits: int = 10) -> dict[str, Any]:
    """Stable floats for comparison across runs (same seed, same data: same metrics)."""
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, float | np.floating):
            out[key] = round(float(value), digits)
        else:
            out[key] = value
    return out
