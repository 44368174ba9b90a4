"""Each recipe on small generated data: a sanity bar, and the same metrics with the same seed."""

import numpy as np
import pandas as pd
import pytest

from training.recipes import RECIPES, run_recipe
from training.recipes.recommendation import recommend
from training.spec import parse_spec


def _spec(frame, recipe, **raw):
    return parse_spec(
        {"trials": 3, "folds": 3, "seed": 1, **raw},
        columns=list(frame.columns),
        needs_target=RECIPES[recipe].NEEDS_TARGET,
    )


@pytest.fixture(scope="module")
def regression_frame():
    rng = np.random.default_rng(3)
    n = 400
    x1, x2 = rng.normal(size=n), rng.uniform(0, 5, n)
    genre = rng.choice(["rock", "pop", "jazz"], n)
    y = 3 * x1 + 2 * x2 + np.where(genre == "jazz", 4.0, 0.0) + rng.normal(0, 0.3, n) + 10
    return pd.DataFrame({"x1": x1, "x2": x2, "genre": genre, "y": y})


@pytest.fixture(scope="module")
def blobs_frame():
    rng = np.random.default_rng(4)
    centers = np.array([[0, 0], [6, 6], [0, 8]])
    points = np.vstack([rng.normal(c, 0.6, size=(100, 2)) for c in centers])
    return pd.DataFrame(points, columns=["a", "b"])


@pytest.fixture(scope="module")
def anomaly_frame():
    rng = np.random.default_rng(5)
    normal = rng.normal(0, 1, size=(480, 3))
    outliers = rng.normal(7, 1, size=(20, 3))
    frame = pd.DataFrame(np.vstack([normal, outliers]), columns=["cpu", "latency", "errors"])
    frame["is_anomaly"] = [0] * 480 + [1] * 20
    return frame


@pytest.fixture(scope="module")
def series_frame():
    times = pd.date_range("2026-01-01", periods=24 * 40, freq="h")
    hours = times.hour.to_numpy()
    rng = np.random.default_rng(6)
    load = 100 + 30 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 2, len(times))
    return pd.DataFrame({"ts": times, "load": load})


@pytest.fixture(scope="module")
def listening_frame():
    rng = np.random.default_rng(8)
    rows = []
    genres = ["rock", "pop", "jazz", "metal"]
    tracks = [(f"t{i}", genres[i % 4], rng.uniform(0, 1)) for i in range(60)]
    for user in range(80):
        taste = genres[user % 4]
        liked = [t for t in tracks if t[1] == taste]
        for track in rng.choice(len(liked), size=8, replace=False):
            rows.append((f"u{user}", liked[track][0], liked[track][1], liked[track][2]))
    return pd.DataFrame(rows, columns=["user", "track", "genre", "energy"])


def test_regression_explains_the_signal(regression_frame):
    result = run_recipe(
        "regression", regression_frame, _spec(regression_frame, "regression", target="y")
    )
    assert result.metrics["r2"] > 0.9
    assert result.metrics["rmse"] < 1.5


def test_clustering_finds_the_three_blobs(blobs_frame):
    result = run_recipe("clustering", blobs_frame, _spec(blobs_frame, "clustering", trials=12))
    assert result.metrics["silhouette"] > 0.6
    assert result.metrics["clusters_found"] == 3


def test_anomaly_detection_finds_most_injected_anomalies(anomaly_frame):
    spec = _spec(anomaly_frame, "anomaly_detection", target="is_anomaly")
    result = run_recipe("anomaly_detection", anomaly_frame, spec)
    assert result.metrics["roc_auc"] > 0.95
    assert result.metrics["precision_at_k"] >= 0.8
    assert "is_anomaly" not in result.feature_columns


def test_forecasting_beats_the_daily_swing(series_frame):
    spec = _spec(series_frame, "forecasting", target="load", time_column="ts", lags=[1, 2, 24])
    result = run_recipe("forecasting", series_frame, spec)
    assert result.metrics["mape"] < 0.05
    assert result.metrics["smape"] < 0.05


def test_recommendation_ranks_the_users_taste_first(listening_frame):
    spec = _spec(
        listening_frame,
        "recommendation",
        user_column="user",
        item_column="track",
        item_features=["genre", "energy"],
        top_k=5,
    )
    result = run_recipe("recommendation", listening_frame, spec)
    assert result.metrics["ndcg_at_5"] > 0.3
    # A newcomer who just played a jazz track gets jazz (content similarity).
    jazz = listening_frame[listening_frame.genre == "jazz"].track.iloc[0]
    picks = recommend(result.model, "new-user", 5, recent_items=[jazz])
    genre_of = dict(zip(listening_frame.track, listening_frame.genre, strict=False))
    assert sum(genre_of[p] == "jazz" for p in picks) >= 4


@pytest.mark.parametrize(
    ("recipe", "fixture", "raw"),
    [
        ("regression", "regression_frame", {"target": "y"}),
        ("clustering", "blobs_frame", {}),
        ("anomaly_detection", "anomaly_frame", {"target": "is_anomaly"}),
        ("forecasting", "series_frame", {"target": "load", "time_column": "ts", "lags": [1, 24]}),
        ("recommendation", "listening_frame", {"user_column": "user", "item_column": "track"}),
    ],
)
def test_same_seed_same_metrics(recipe, fixture, raw, request):
    frame = request.getfixturevalue(fixture)
    spec = _spec(frame, recipe, trials=2, **raw)
    assert run_recipe(recipe, frame, spec).metrics == run_recipe(recipe, frame, spec).metrics
