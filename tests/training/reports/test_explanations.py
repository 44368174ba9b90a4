"""SHAP additivity holds for every explainer used; one-hot columns sum back to their
input column; the planted signal leads the importances."""

import json

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.svm import SVR

from tests.training.reports.conftest import FEATURES, fit
from training.recipes import run_recipe
from training.recipes.base import as_categorical_strings, preprocessor
from training.reports.explanations import compute_attribution, explanation_report
from training.reports.feature_map import feature_map
from training.spec import parse_spec


def assert_additive(report):
    check = report["additivity"]
    assert check["passed"], check
    assert check["max_error"] <= check["tolerance"]
    json.dumps(report, allow_nan=False)


@pytest.mark.parametrize(
    ("estimator", "target", "explainer", "model_output"),
    [
        (RandomForestClassifier(30, max_depth=6, random_state=0), "label", "tree", "probability"),
        (HistGradientBoostingRegressor(max_iter=30), "loudness", "tree", "prediction"),
        (LogisticRegression(max_iter=1000), "label", "linear", "decision_function"),
        (LogisticRegression(max_iter=1000), "mood", "linear", "decision_function"),
        (Ridge(), "loudness", "linear", "prediction"),
        (KNeighborsClassifier(), "label", "model_agnostic", "probability"),
        (SVR(), "loudness", "model_agnostic", "prediction"),
    ],
    ids=["forest", "hist_gb", "logistic", "logistic_3_classes", "ridge", "knn", "svr"],
)
def test_additivity_holds_for_each_explainer(
    songs, song_features, estimator, target, explainer, model_output
):
    # given a recipe-shaped pipeline
    model = fit(song_features, songs[target].to_numpy(), estimator)
    # when it is explained (few rows for the slow model-agnostic explainer)
    max_rows = 6 if explainer == "model_agnostic" else None
    report = explanation_report(model, song_features, max_rows=max_rows, local_rows=3)
    # then the explainer fits the model and values + base value equal the model's output
    assert report["explainer"] == explainer
    assert report["model_output"] == model_output
    assert_additive(report)
    # and importances are per input column, the planted signal first
    assert {e["feature"] for e in report["global_importance"]} == set(FEATURES)
    assert report["global_importance"][0]["feature"] == "energy"
    assert len(report["local"]) == 3


def test_isolation_forest_adds_up_to_its_mean_path_length(song_features):
    model = Pipeline(
        [
            ("prep", preprocessor(song_features, FEATURES)),
            ("model", IsolationForest(n_estimators=25, random_state=0)),
        ]
    ).fit(song_features)
    report = explanation_report(model, song_features, max_rows=200)
    assert report["explainer"] == "tree"
    assert report["additivity"]["compared_with"] == "score_samples"
    assert_additive(report)


def test_multiclass_gradient_boosting_falls_back_to_the_model_agnostic_explainer(
    songs, song_features
):
    # given a model shap's tree explainer refuses (multi-class GradientBoosting)
    model = fit(
        song_features, songs["mood"].to_numpy(), GradientBoostingClassifier(n_estimators=10)
    )
    report = explanation_report(model, song_features, max_rows=4)
    # then the model-agnostic explainer takes over, says why, and still adds up
    assert report["explainer"] == "model_agnostic"
    assert "only supported for binary" in report["fallback_reason"]
    assert report["outputs"] == ["high", "low", "mid"]
    assert set(report["global_importance_by_output"]) == {"high", "low", "mid"}
    assert_additive(report)


def test_positive_label_picks_the_class_explained(songs, song_features):
    model = fit(song_features, songs["label"].to_numpy(), LogisticRegression(max_iter=1000))
    dance = explanation_report(model, song_features, positive_label="dance")
    calm = explanation_report(model, song_features, positive_label="calm")
    # the log-odds of "calm" are those of "dance" negated, contributions too
    assert dance["outputs"] == ["dance"]
    assert calm["outputs"] == ["calm"]
    assert calm["base_values"][0] == pytest.approx(-dance["base_values"][0])
    first = dance["local"][0]["contributions"][0]
    mirrored = calm["local"][0]["contributions"][0]
    assert mirrored["feature"] == first["feature"]
    assert mirrored["shap"] == pytest.approx(-first["shap"])
    assert_additive(calm)


def test_one_hot_columns_sum_back_to_their_input_column(songs, song_features):
    # given the recipes' preprocessor (one-hot "genre_*" and "genre_x_*" columns)
    model = fit(
        song_features, songs["label"].to_numpy(), RandomForestClassifier(20, random_state=0)
    )
    attribution, rows, _, _ = compute_attribution(model, song_features, max_rows=50)
    fmap = feature_map(model[:-1], FEATURES, attribution.values.shape[1])
    # then each encoded column is traced to the right input column, longest name first
    assert fmap.mapped
    assert dict(zip(fmap.names, fmap.sources, strict=True)) == {
        "energy": "energy",
        "tempo": "tempo",
        "genre_jazz": "genre",
        "genre_pop": "genre",
        "genre_rock": "genre",
        "genre_x_a": "genre_x",
        "genre_x_b": "genre_x",
    }
    report = explanation_report(model, song_features, max_rows=50)
    genre = next(e for e in report["global_importance"] if e["feature"] == "genre")
    assert genre["encoded_columns"] == ["genre_jazz", "genre_pop", "genre_rock"]
    # and a row's contributions still add up after grouping
    local = report["local"][0]
    total = sum(c["shap"] for c in local["contributions"]) + local["rest"]
    assert total + local["base_value"] == pytest.approx(local["model_output_value"], abs=1e-9)
    assert {c["feature"] for c in local["contributions"]} == set(FEATURES)
    row = rows.iloc[0]
    assert {c["feature"]: c["value"] for c in local["contributions"]}["genre"] == row["genre"]


def test_a_recipe_model_is_explained_end_to_end(songs):
    # given the model the classification recipe trains
    frame = songs[[*FEATURES, "region", "label"]]
    spec = parse_spec(
        {"target": "label", "trials": 1, "folds": 2, "seed": 1},
        columns=list(frame.columns),
        needs_target=True,
    )
    result = run_recipe("classification", frame, spec)
    x = frame[result.feature_columns]
    report = explanation_report(
        result.model, as_categorical_strings(x, result.feature_columns), max_rows=8
    )
    assert_additive(report)
    assert {e["feature"] for e in report["global_importance"]} == set(result.feature_columns)


def test_same_seed_same_report(songs, song_features):
    model = fit(song_features, songs["label"].to_numpy(), KNeighborsClassifier())
    first = explanation_report(model, song_features, max_rows=3, seed=4)
    second = explanation_report(model, song_features, max_rows=3, seed=4)
    assert json.dumps(first) == json.dumps(second)
    assert np.isfinite(first["base_values"]).all()
