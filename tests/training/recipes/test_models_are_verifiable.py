"""Every recipe's model, saved as skops, passes the server's own checks and loads back."""

import numpy as np
import pandas as pd
import pytest
import skops.io

from registry.model_files import inspect_model_file, load_verified_model
from training.recipes import run_recipe
from training.spec import parse_spec

from .test_task_recipes import (  # noqa: F401  (fixtures)
    anomaly_frame,
    blobs_frame,
    listening_frame,
    regression_frame,
    series_frame,
)

CASES = [
    ("classification", "classification_frame", {"target": "label"}),
    ("regression", "regression_frame", {"target": "y"}),
    ("clustering", "blobs_frame", {}),
    ("anomaly_detection", "anomaly_frame", {"target": "is_anomaly"}),
    ("forecasting", "series_frame", {"target": "load", "time_column": "ts", "lags": [1, 24]}),
    (
        "recommendation",
        "listening_frame",
        {"user_column": "user", "item_column": "track", "item_features": ["genre", "energy"]},
    ),
]


@pytest.mark.parametrize(("recipe", "fixture", "raw"), CASES)
def test_recipe_model_is_verified_and_loads(recipe, fixture, raw, request, tmp_path):
    frame = request.getfixturevalue(fixture)
    spec = parse_spec(
        {"trials": 1, "folds": 2, "seed": 2, **raw},
        columns=list(frame.columns),
        needs_target="target" in raw,
    )
    result = run_recipe(recipe, frame, spec)
    path = tmp_path / "model.skops"
    skops.io.dump(result.model, path)
    inspection = inspect_model_file(path, "skops", load_check=True)
    assert inspection.verified, inspection.reasons
    loaded = load_verified_model(path, "skops")
    if recipe == "recommendation":
        np.testing.assert_allclose(loaded["user_factors"], result.model["user_factors"])
    elif recipe == "forecasting":
        from training.recipes.forecasting import make_features

        table = make_features(frame, time_column="ts", target="load", lags=(1, 24))
        columns = result.feature_columns
        np.testing.assert_allclose(
            loaded.predict(table[columns]), result.model.predict(table[columns])
        )
    else:
        sample = frame.drop(columns=[c for c in ("label", "y", "is_anomaly") if c in frame])
        sample = sample[result.feature_columns].head(20)
        assert isinstance(sample, pd.DataFrame)
        np.testing.assert_array_equal(loaded.predict(sample), result.model.predict(sample))
