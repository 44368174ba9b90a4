"""Regression: ridge, random forest or gradient boosting, tuned on cross-validated RMSE."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import KFold, cross_val_score, train_test_split
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

NEEDS_TARGET = True


def _estimator(trial, seed: int):
    kind = trial.suggest_categorical("model", ["ridge", "random_forest", "gradient_boosting"])
    if kind == "ridge":
        return Ridge(alpha=trial.suggest_float("alpha", 1e-3, 1e2, log=True))
    if kind == "random_forest":
        return RandomForestRegressor(
            n_estimators=trial.suggest_int("n_estimators", 20, 100, step=20),
            max_depth=trial.suggest_int("max_depth", 2, 12),
            random_state=seed,
            n_jobs=1,
        )
    return HistGradientBoostingRegressor(
        learning_rate=trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        max_depth=trial.suggest_int("gb_max_depth", 2, 8),
        max_iter=trial.suggest_int("max_iter", 20, 100, step=20),
        random_state=seed,
    )


def mape(y_true, y_pred) -> float:
    """Mean absolute percentage error over targets that are not zero."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    nonzero = y_true != 0
    if not nonzero.any():
        return float("nan")
    return float(np.mean(np.abs((y_true[nonzero] - y_pred[nonzero]) / y_true[nonzero])))


def regression_metrics(y_true, y_pred) -> dict:
    return {
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "mape": mape(y_true, y_pred),
        "r2": float(r2_score(y_true, y_pred)),
    }


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    columns = feature_columns(spec, list(frame.columns))
    data = frame.dropna(subset=[spec.target])
    x = as_categorical_strings(data, columns)
    y = data[spec.target].to_numpy(dtype=float)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=spec.test_fraction, random_state=spec.seed
    )
    folds = KFold(n_splits=spec.folds, shuffle=True, random_state=spec.seed)

    def objective(trial):
        pipeline = Pipeline(
            [("prep", preprocessor(x_train, columns)), ("model", _estimator(trial, spec.seed))]
        )
        scores = -cross_val_score(
            pipeline, x_train, y_train, cv=folds, scoring="neg_root_mean_squared_error"
        )
        return float(scores.mean()), {"cv_rmse": float(scores.mean())}

    study, trials = run_study(
        spec=spec,
        direction="minimize",
        objective=objective,
        on_trial=on_trial,
        storage=storage,
        study_name=study_name,
    )
    best = Pipeline(
        [
            ("prep", preprocessor(x_train, columns)),
            ("model", _estimator(study.best_trial, spec.seed)),
        ]
    )
    best.fit(x_train, y_train)
    metrics = regression_metrics(y_test, best.predict(x_test))
    metrics["cv_rmse"] = float(study.best_value)
    return RecipeResult(
        model=best,
        best_params=dict(study.best_trial.params),
        metrics=rounded(metrics),
        trials=trials,
        signature=model_signature(x, columns, {"name": spec.target, "type": "float"}),
        reference_profile=reference_profile(data, columns),
        feature_columns=columns,
        extras={"test_index": [int(i) for i in np.asarray(x_test.index)]},
    )
