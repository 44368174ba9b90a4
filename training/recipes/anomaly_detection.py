"""Anomaly detection: isolation forest or local outlier factor. With a label column
(1 = anomaly) the search maximises ROC-AUC; without, it reports the score distribution."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline

from training.recipes.base import (
    RecipeResult,
    TrialCallback,
    as_categorical_strings,
    model_signature,
    preprocessor,
    reference_profile,
    rounded,
    run_study,
)
from training.spec import TrainingSpec, feature_columns

NEEDS_TARGET = False


def _estimator(trial, seed: int):
    kind = trial.suggest_categorical("model", ["isolation_forest", "local_outlier_factor"])
    contamination = trial.suggest_float("contamination", 0.005, 0.1, log=True)
    if kind == "isolation_forest":
        return IsolationForest(
            n_estimators=trial.suggest_int("n_estimators", 50, 200, step=50),
            contamination=contamination,
            random_state=seed,
        )
    return LocalOutlierFactor(
        n_neighbors=trial.suggest_int("n_neighbors", 5, 50),
        contamination=contamination,
        novelty=True,
    )


def anomaly_scores(pipeline: Pipeline, x: pd.DataFrame) -> np.ndarray:
    """Higher = more anomalous."""
    return -pipeline.decision_function(x)


def precision_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].mean()) if k else float("nan")


def _metrics(pipeline, x, labels) -> dict:
    scores = anomaly_scores(pipeline, x)
    metrics = {
        "score_quantiles": {str(q): float(np.quantile(scores, q)) for q in (0.5, 0.9, 0.99)},
        "flagged_fraction": float(np.mean(pipeline.predict(x) == -1)),
    }
    if labels is not None and 0 < labels.sum() < len(labels):
        k = int(labels.sum())
        metrics["roc_auc"] = float(roc_auc_score(labels, scores))
        metrics["precision_at_k"] = precision_at_k(labels, scores, k)
        metrics["k"] = k
    return metrics


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    columns = feature_columns(spec, list(frame.columns))
    x = as_categorical_strings(frame, columns)
    labels = frame[spec.target].to_numpy(dtype=int) if spec.target else None

    def fit(trial) -> Pipeline:
        return Pipeline(
            [("prep", preprocessor(x, columns)), ("model", _estimator(trial, spec.seed))]
        ).fit(x)

    def objective(trial):
        metrics = _metrics(fit(trial), x, labels)
        if "roc_auc" in metrics:
            return metrics["roc_auc"], {"roc_auc": metrics["roc_auc"]}
        # Without labels: prefer a clear separation of the flagged tail.
        q = metrics["score_quantiles"]
        return q["0.99"] - q["0.5"], {"tail_gap": q["0.99"] - q["0.5"]}

    study, trials = run_study(
        spec=spec,
        direction="maximize",
        objective=objective,
        on_trial=on_trial,
        storage=storage,
        study_name=study_name,
    )
    best = fit(study.best_trial)
    return RecipeResult(
        model=best,
        best_params=dict(study.best_trial.params),
        metrics=rounded(_metrics(best, x, labels)),
        trials=trials,
        signature=model_signature(
            x, columns, {"name": "is_anomaly", "type": "int", "values": [-1, 1]}
        ),
        reference_profile=reference_profile(frame, columns),
        feature_columns=columns,
    )
