"""Time-series forecasting: lag and calendar features with a gradient-boosting regressor,
validated with time-ordered splits (never training on the future).

The model's inputs are the engineered features (`make_features` builds them from a
history); keeping them outside the Pipeline keeps the model plain scikit-learn, which
the server can verify and load safely.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import TimeSeriesSplit, cross_val_score
from sklearn.pipeline import Pipeline

from training.recipes.base import (
    RecipeResult,
    TrialCallback,
    model_signature,
    preprocessor,
    reference_profile,
    rounded,
    run_study,
)
from training.recipes.regression import mape
from training.spec import TrainingSpec

NEEDS_TARGET = True
CALENDAR = ("hour", "dayofweek", "month", "dayofyear")
# Column name -> pandas accessor (the short spellings are deprecated in pandas 3).
_ACCESSOR = {"hour": "hour", "dayofweek": "day_of_week", "month": "month",
             "dayofyear": "day_of_year"}


def make_features(
    frame: pd.DataFrame, *, time_column: str, target: str, lags: tuple[int, ...]
) -> pd.DataFrame:
    """Lagged targets and calendar parts, in time order; rows without full history dropped."""
    ordered = frame.sort_values(time_column).reset_index(drop=True)
    times = pd.to_datetime(ordered[time_column])
    features = pd.DataFrame({part: getattr(times.dt, _ACCESSOR[part]) for part in CALENDAR})
    for lag in lags:
        features[f"lag_{lag}"] = ordered[target].shift(lag)
    features[target] = ordered[target]
    features[time_column] = times
    return features.dropna(subset=[f"lag_{lag}" for lag in lags]).reset_index(drop=True)


def smape(y_true, y_pred) -> float:
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    denominator = np.abs(y_true) + np.abs(y_pred)
    valid = denominator != 0
    return float(np.mean(2 * np.abs(y_pred[valid] - y_true[valid]) / denominator[valid]))


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    if not spec.time_column:
        raise ValueError("forecasting needs time_column")
    table = make_features(frame, time_column=spec.time_column, target=spec.target, lags=spec.lags)
    columns = list(CALENDAR) + [f"lag_{lag}" for lag in spec.lags]
    cut = int(len(table) * (1 - spec.test_fraction))
    train, test = table.iloc[:cut], table.iloc[cut:]
    folds = TimeSeriesSplit(n_splits=spec.folds)

    def build(trial) -> Pipeline:
        model = HistGradientBoostingRegressor(
            learning_rate=trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
            max_depth=trial.suggest_int("max_depth", 2, 8),
            max_iter=trial.suggest_int("max_iter", 30, 150, step=30),
            random_state=spec.seed,
        )
        return Pipeline([("prep", preprocessor(train, columns, scale=False)), ("model", model)])

    def objective(trial):
        scores = -cross_val_score(
            build(trial),
            train[columns],
            train[spec.target],
            cv=folds,
            scoring="neg_mean_absolute_error",
        )
        return float(scores.mean()), {"cv_mae": float(scores.mean())}

    study, trials = run_study(
        spec=spec,
        direction="minimize",
        objective=objective,
        on_trial=on_trial,
        storage=storage,
        study_name=study_name,
    )
    best = build(study.best_trial).fit(train[columns], train[spec.target])
    predicted = best.predict(test[columns])
    metrics = {
        "mae": float(mean_absolute_error(test[spec.target], predicted)),
        "mape": mape(test[spec.target], predicted),
        "smape": smape(test[spec.target], predicted),
        "cv_mae": float(study.best_value),
    }
    return RecipeResult(
        model=best,
        best_params=dict(study.best_trial.params),
        metrics=rounded(metrics),
        trials=trials,
        signature=model_signature(table, columns, {"name": spec.target, "type": "float"}),
        reference_profile=reference_profile(table, columns),
        feature_columns=columns,
        extras={"lags": list(spec.lags), "time_column": spec.time_column},
    )
