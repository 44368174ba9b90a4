"""Performance reports equal scikit-learn's metrics; curves stay small; JSON stays plain."""

import json

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_absolute_percentage_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
    root_mean_squared_error,
)

from tests.training.reports.conftest import fit
from training.reports.performance import (
    MAX_CURVE_POINTS,
    classification_performance,
    regression_performance,
)


@pytest.fixture(scope="module")
def binary_predictions(songs, song_features):
    model = fit(
        song_features, songs["label"].to_numpy(), RandomForestClassifier(40, random_state=0)
    )
    y = songs["label"].to_numpy()
    return y, model.predict(song_features), model.predict_proba(song_features), model.classes_


@pytest.mark.parametrize("positive", ["dance", "calm"])
def test_binary_metrics_equal_sklearn(binary_predictions, positive):
    # given a forest's predictions on songs, and either class as the positive one
    y, predicted, proba, classes = binary_predictions
    column = list(classes).index(positive)
    # when the performance report is computed
    report = classification_performance(
        y_true=y, y_pred=predicted, y_score=proba, labels=classes, positive_label=positive
    )
    # then its metrics are scikit-learn's for that positive class
    metrics = report["metrics"]
    assert report["positive_label"] == positive
    assert metrics["precision"] == pytest.approx(precision_score(y, predicted, pos_label=positive))
    assert metrics["recall"] == pytest.approx(recall_score(y, predicted, pos_label=positive))
    assert metrics["f1"] == pytest.approx(f1_score(y, predicted, pos_label=positive))
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(y == positive, proba[:, column]))
    assert metrics["pr_auc"] == pytest.approx(
        average_precision_score(y == positive, proba[:, column])
    )
    labels = report["labels"]
    assert labels[1] == positive
    assert (
        report["confusion_matrix"]["matrix"]
        == confusion_matrix(y, predicted, labels=labels).tolist()
    )
    assert report["curves"]["roc"]["auc"] == pytest.approx(metrics["roc_auc"])
    calibration = report["calibration"]
    assert calibration["brier_score"] == pytest.approx(
        brier_score_loss(y == positive, proba[:, column])
    )
    observed, predicted_mean = calibration_curve(y == positive, proba[:, column], n_bins=10)
    kept = [k for k, c in enumerate(calibration["count"]) if c > 0]
    assert [calibration["observed_frequency"][k] for k in kept] == pytest.approx(observed)
    assert [calibration["mean_predicted"][k] for k in kept] == pytest.approx(predicted_mean)
    json.dumps(report, allow_nan=False)


def test_curves_are_downsampled_to_at_most_200_points():
    # given 20,000 scores with as many distinct thresholds
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20_000)
    score = np.clip(y * 0.2 + rng.uniform(0, 0.8, 20_000), 0, 1)
    proba = np.column_stack([1 - score, score])
    report = classification_performance(
        y_true=y, y_pred=(score > 0.5).astype(int), y_score=proba, labels=[0, 1]
    )
    # then each curve keeps its ends and at most 200 points
    for name in ("roc", "precision_recall"):
        curve = report["curves"][name]
        assert curve["points"] > MAX_CURVE_POINTS
        assert len(curve["x"]) == len(curve["y"]) == len(curve["thresholds"]) <= MAX_CURVE_POINTS
    roc = report["curves"]["roc"]
    assert (roc["x"][0], roc["y"][0]) == (0.0, 0.0)
    assert (roc["x"][-1], roc["y"][-1]) == (1.0, 1.0)


def test_multiclass_report_has_macro_metrics_and_one_curve_per_class(songs, song_features):
    y = songs["mood"].to_numpy()
    model = fit(song_features, y, LogisticRegression(max_iter=1000))
    predicted, proba = model.predict(song_features), model.predict_proba(song_features)
    report = classification_performance(
        y_true=y, y_pred=predicted, y_score=proba, labels=model.classes_
    )
    assert report["metrics"]["f1"] == pytest.approx(f1_score(y, predicted, average="macro"))
    assert report["metrics"]["roc_auc"] == pytest.approx(
        roc_auc_score(y, proba, multi_class="ovr", labels=model.classes_)
    )
    assert sorted(report["curves"]["one_vs_rest"]) == ["high", "low", "mid"]
    assert report["calibration"]["kind"] == "top_label"
    assert report["calibration"]["brier_score"] == pytest.approx(
        brier_score_loss(y, proba, labels=model.classes_)
    )
    json.dumps(report, allow_nan=False)


def test_regression_metrics_equal_sklearn(songs, song_features):
    # given a ridge regression of loudness (never zero, so MAPE definitions agree)
    y = songs["loudness"].to_numpy() + 5.0
    predicted = fit(song_features, y, Ridge()).predict(song_features)
    # when the report is computed
    report = regression_performance(y_true=y, y_pred=predicted)
    # then its metrics are scikit-learn's, and the residuals are actual minus predicted
    metrics = report["metrics"]
    assert metrics["rmse"] == pytest.approx(root_mean_squared_error(y, predicted))
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y, predicted))
    assert metrics["mape"] == pytest.approx(mean_absolute_percentage_error(y, predicted))
    assert metrics["r2"] == pytest.approx(r2_score(y, predicted))
    residuals = report["residuals"]
    assert residuals["mean"] == pytest.approx(np.mean(y - predicted))
    assert sum(residuals["histogram"]["counts"]) == len(y)
    assert len(residuals["histogram"]["edges"]) == len(residuals["histogram"]["counts"]) + 1
    assert len(report["actual_vs_predicted"]["actual"]) == 200
    json.dumps(report, allow_nan=False)


def test_unknown_positive_label_is_refused(binary_predictions):
    y, predicted, proba, classes = binary_predictions
    with pytest.raises(ValueError, match="positive label"):
        classification_performance(
            y_true=y, y_pred=predicted, y_score=proba, labels=classes, positive_label="jazz"
        )
