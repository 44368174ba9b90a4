"""Clustering: k-means or a Gaussian mixture, the number of clusters chosen by silhouette."""

from __future__ import annotations

import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
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
# Silhouette is quadratic in rows: score on a fixed sample of large data sets.
SILHOUETTE_SAMPLE = 3000


def _estimator(trial, seed: int):
    kind = trial.suggest_categorical("model", ["kmeans", "gaussian_mixture"])
    clusters = trial.suggest_int("n_clusters", 2, 10)
    if kind == "kmeans":
        return KMeans(n_clusters=clusters, n_init=4, random_state=seed)
    return GaussianMixture(n_components=clusters, random_state=seed)


def _scores(pipeline: Pipeline, x: pd.DataFrame, seed: int) -> dict:
    transformed = pipeline.named_steps["prep"].transform(x)
    labels = pipeline.named_steps["model"].predict(transformed)
    if len(set(labels)) < 2:
        return {"silhouette": -1.0, "davies_bouldin": float("inf"), "clusters_found": 1}
    sample = min(SILHOUETTE_SAMPLE, len(x))
    return {
        "silhouette": float(
            silhouette_score(transformed, labels, sample_size=sample, random_state=seed)
        ),
        "davies_bouldin": float(davies_bouldin_score(transformed, labels)),
        "clusters_found": int(len(set(labels))),
    }


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    columns = feature_columns(spec, list(frame.columns))
    x = as_categorical_strings(frame, columns)

    def fit(trial) -> Pipeline:
        pipeline = Pipeline(
            [("prep", preprocessor(x, columns)), ("model", _estimator(trial, spec.seed))]
        )
        return pipeline.fit(x)

    def objective(trial):
        scores = _scores(fit(trial), x, spec.seed)
        return scores["silhouette"], scores

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
        metrics=rounded(_scores(best, x, spec.seed)),
        trials=trials,
        signature=model_signature(x, columns, {"name": "cluster", "type": "int"}),
        reference_profile=reference_profile(frame, columns),
        feature_columns=columns,
    )
