"""The vectorised fairness report equals fairlearn, computed independently on the same
predictions: MetricFrame per group and overall, and the four difference/ratio functions."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    count,
    demographic_parity_difference,
    demographic_parity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, mean_absolute_error, root_mean_squared_error

from training.reports.fairness import MISSING_GROUP, breakdowns, fairness_report

TOLERANCE = 1e-12
CLASSIFICATION_METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
}
FAIRLEARN_AGGREGATES = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
}


def same(ours, theirs):
    """Equal within 1e-12; our null is fairlearn's NaN."""
    if ours is None:
        return theirs is None or math.isnan(theirs)
    return abs(ours - float(theirs)) <= TOLERANCE


def sensitive_of(frame, features):
    return frame[features[0]] if len(features) == 1 else frame[list(features)]


def assert_matches_fairlearn(report, y_true, y_pred, sensitive, metrics):
    """Each breakdown's groups, the overall row and the aggregates equal fairlearn's."""
    assert report["breakdowns"], "nothing was assessed"
    for breakdown in report["breakdowns"]:
        features = breakdown["features"]
        frame = MetricFrame(
            metrics=metrics,
            y_true=y_true,
            y_pred=y_pred,
            sensitive_features=sensitive_of(sensitive, features),
        )
        expected = frame.by_group.dropna(how="all")  # fairlearn lists empty intersections
        assert breakdown["group_count"] == len(expected)
        for group in breakdown["groups"]:
            key = tuple(group["group"][f] for f in features)
            row = expected.loc[key if len(key) > 1 else key[0]]
            for name in metrics:
                assert same(group[name], row[name]), (features, key, name)
        for name in metrics:
            assert same(report["overall"][name], frame.overall[name]), name
        yield breakdown, frame


@pytest.fixture
def binary_case():
    """Predictions for 2,500 people, with a group without positives (z) and a group of
    size 1 (region w), so both edge cases meet the intersections too."""
    rng = np.random.default_rng(5)
    n = 2500
    sensitive = pd.DataFrame(
        {
            "region": rng.choice(["x", "y", "z"], n),
            "age_band": rng.choice([1, 2, 3], n),
            "gender": rng.choice(["f", "m"], n),
        }
    )
    sensitive.loc[0, "region"] = "w"
    y_true = rng.integers(0, 2, n)
    y_true[sensitive["region"].to_numpy() == "z"] = 0
    y_pred = np.where(rng.uniform(size=n) < 0.7, y_true, 1 - y_true)
    return y_true, y_pred, sensitive


def test_binary_single_attribute_equals_fairlearn(binary_case):
    # given predictions and one sensitive attribute
    y_true, y_pred, sensitive = binary_case
    # when the report is computed for that attribute alone
    report = fairness_report(
        y_true=y_true,
        y_pred=y_pred,
        sensitive=sensitive[["region"]],
        task="classification",
        positive_label=1,
    )
    # then every figure equals fairlearn's
    checked = list(
        assert_matches_fairlearn(report, y_true, y_pred, sensitive, CLASSIFICATION_METRICS)
    )
    breakdown, _ = checked[0]
    for name, function in FAIRLEARN_AGGREGATES.items():
        theirs = function(y_true, y_pred, sensitive_features=sensitive["region"])
        assert same(breakdown[name], theirs), name
    groups = {g["name"]: g for g in breakdown["groups"]}
    assert groups["z"]["true_positive_rate"] == 0.0  # no positives: 0, as fairlearn says
    assert groups["w"]["count"] == 1
    json.dumps(report, allow_nan=False)


def test_binary_with_intersections_equals_fairlearn(binary_case):
    # given three sensitive attributes
    y_true, y_pred, sensitive = binary_case
    # when the report covers them, their pairs and all three together
    report = fairness_report(
        y_true=y_true, y_pred=y_pred, sensitive=sensitive, task="classification", positive_label=1
    )
    # then there are 3 + 3 + 1 breakdowns, and each one equals fairlearn
    assert [b["features"] for b in report["breakdowns"]] == [
        ["region"],
        ["age_band"],
        ["gender"],
        ["region", "age_band"],
        ["region", "gender"],
        ["age_band", "gender"],
        ["region", "age_band", "gender"],
    ]
    for breakdown, _ in assert_matches_fairlearn(
        report, y_true, y_pred, sensitive, CLASSIFICATION_METRICS
    ):
        features = sensitive_of(sensitive, breakdown["features"])
        for name, function in FAIRLEARN_AGGREGATES.items():
            assert same(breakdown[name], function(y_true, y_pred, sensitive_features=features))
    worst = max(b["demographic_parity_difference"] for b in report["breakdowns"])
    assert report["summary"]["demographic_parity_difference"]["value"] == worst


def test_string_labels_with_a_positive_label_equal_fairlearn_on_the_binarised_labels():
    # given string labels where the positive class sorts first
    rng = np.random.default_rng(9)
    n = 500
    y_true = rng.choice(["approve", "reject"], n)
    y_pred = rng.choice(["approve", "reject"], n)
    sensitive = pd.DataFrame({"region": rng.choice(["a", "b", "c"], n)})
    # when the report names "approve" as positive
    report = fairness_report(
        y_true=y_true,
        y_pred=y_pred,
        sensitive=sensitive,
        task="classification",
        positive_label="approve",
    )
    # then it equals fairlearn on approve = 1
    t, p = (y_true == "approve").astype(int), (y_pred == "approve").astype(int)
    breakdown = report["breakdowns"][0]
    for name, function in FAIRLEARN_AGGREGATES.items():
        assert same(breakdown[name], function(t, p, sensitive_features=sensitive["region"]))


def test_zero_rates_give_fairlearns_ratio_edge_cases():
    # given a model that flags only true negatives: every TPR is 0, some FPRs are not
    y_true = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    y_pred = np.array([0, 1, 0, 0, 0, 1, 0, 0])
    sensitive = pd.DataFrame({"group": ["a", "a", "a", "a", "b", "b", "b", "c"]})
    report = fairness_report(
        y_true=y_true, y_pred=y_pred, sensitive=sensitive, task="classification", positive_label=1
    )
    breakdown = report["breakdowns"][0]
    # then a TPR ratio of 0/0 is NaN and, as in fairlearn, wins the equalized-odds min
    for name, function in FAIRLEARN_AGGREGATES.items():
        assert same(breakdown[name], function(y_true, y_pred, sensitive_features=sensitive))
    assert breakdown["equalized_odds_ratio"] is None
    # given a model that never flags anyone: selection rates all 0, DP ratio 0/0
    quiet = np.zeros_like(y_pred)
    report = fairness_report(
        y_true=y_true, y_pred=quiet, sensitive=sensitive, task="classification", positive_label=1
    )
    assert report["breakdowns"][0]["demographic_parity_ratio"] is None
    assert math.isnan(demographic_parity_ratio(y_true, quiet, sensitive_features=sensitive))
    json.dumps(report, allow_nan=False)


def test_missing_sensitive_values_form_their_own_group():
    # given a sensitive column with gaps (fairlearn refuses those)
    y_true = np.array([1, 0, 1, 1, 0, 0])
    y_pred = np.array([1, 1, 0, 1, 0, 1])
    sensitive = pd.DataFrame({"region": ["a", None, "a", np.nan, "b", "b"]})
    report = fairness_report(
        y_true=y_true, y_pred=y_pred, sensitive=sensitive, task="classification", positive_label=1
    )
    # then the gaps are one group, and the figures equal fairlearn on the filled column
    names = [g["name"] for g in report["breakdowns"][0]["groups"]]
    assert MISSING_GROUP in names
    filled = pd.DataFrame({"region": sensitive["region"].fillna(MISSING_GROUP)})
    list(assert_matches_fairlearn(report, y_true, y_pred, filled, CLASSIFICATION_METRICS))


def test_multiclass_accuracy_and_one_vs_rest_rates_equal_fairlearn():
    rng = np.random.default_rng(3)
    n = 900
    y_true = rng.choice(["pop", "rock", "jazz"], n)
    y_pred = np.where(rng.uniform(size=n) < 0.6, y_true, rng.choice(["pop", "rock", "jazz"], n))
    sensitive = pd.DataFrame({"region": rng.choice(["a", "b"], n), "age": rng.choice([1, 2], n)})
    report = fairness_report(
        y_true=y_true,
        y_pred=y_pred,
        sensitive=sensitive,
        task="classification",
        positive_label="rock",
    )
    t, p = (y_true == "rock").astype(int), (y_pred == "rock").astype(int)
    for breakdown in report["breakdowns"]:
        features = sensitive_of(sensitive, breakdown["features"])
        accuracy = MetricFrame(
            metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=features
        )
        assert same(breakdown["accuracy_difference"], accuracy.difference())
        for name, function in FAIRLEARN_AGGREGATES.items():
            assert same(breakdown[name], function(t, p, sensitive_features=features))


@pytest.mark.parametrize("attributes", [["region"], ["region", "gender", "age_band"]])
def test_regression_error_gaps_equal_fairlearn(attributes):
    # given regression predictions, a group of size 1 and (second case) intersections
    rng = np.random.default_rng(21)
    n = 3000
    sensitive = pd.DataFrame(
        {
            "region": rng.choice(["x", "y", "z"], n),
            "gender": rng.choice(["f", "m"], n),
            "age_band": rng.choice([1, 2, 3, 4], n),
        }
    )[attributes]
    sensitive.iloc[0, 0] = "solo"
    y_true = rng.normal(10, 3, n)
    y_pred = y_true + rng.normal(0, 1, n) * np.where(sensitive["region"] == "z", 2.0, 1.0)
    # when the regression report is computed
    report = fairness_report(y_true=y_true, y_pred=y_pred, sensitive=sensitive, task="regression")
    metrics = {"count": count, "mae": mean_absolute_error, "rmse": root_mean_squared_error}
    # then per-group errors, their differences and ratios equal MetricFrame's
    for breakdown, frame in assert_matches_fairlearn(report, y_true, y_pred, sensitive, metrics):
        assert same(breakdown["mae_difference"], frame.difference()["mae"])
        assert same(breakdown["rmse_difference"], frame.difference()["rmse"])
        assert same(breakdown["mae_ratio"], frame.ratio()["mae"])
        assert same(breakdown["rmse_ratio"], frame.ratio()["rmse"])
    assert report["summary"]["mae_difference"]["value"] > 0.5  # region z errs twice as much
    json.dumps(report, allow_nan=False)


def test_intersections_are_capped_and_the_skipped_ones_listed():
    # given five attributes: 10 pairs and the whole set
    attributes = ["a", "b", "c", "d", "e"]
    # when at most four intersections are allowed
    kept, skipped = breakdowns(attributes, max_intersections=4)
    # then each attribute alone, three pairs and all five together are kept
    assert kept[:5] == [(a,) for a in attributes]
    assert kept[5:] == [("a", "b"), ("a", "c"), ("a", "d"), tuple(attributes)]
    assert len(skipped) == 7
    # and with none allowed, only the attributes alone
    alone, all_skipped = breakdowns(attributes, max_intersections=0)
    assert alone == [(a,) for a in attributes]
    assert len(all_skipped) == 11


def test_fine_intersections_are_skipped_and_long_group_lists_cut():
    # given two attributes of 40 values each (1,600 combinations) and one of 1,500
    rng = np.random.default_rng(8)
    n = 8000
    sensitive = pd.DataFrame(
        {
            "a": rng.integers(0, 40, n),
            "b": rng.integers(0, 40, n),
            "postcode": np.arange(n) % 1500,
        }
    )
    y_true, y_pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    report = fairness_report(
        y_true=y_true,
        y_pred=y_pred,
        sensitive=sensitive,
        task="classification",
        positive_label=1,
        max_intersections=1,
    )
    # then the too-fine intersection is skipped with its reason, the others by the cap
    assert {"features": ["a", "b", "postcode"], "reason": "too_many_groups"} in report["skipped"]
    assert {"features": ["a", "b"], "reason": "max_intersections"} in report["skipped"]
    # and the 1,500 postcodes list their 1,000 largest groups, aggregates over all of them
    postcode = next(b for b in report["breakdowns"] if b["features"] == ["postcode"])
    assert postcode["group_count"] == 1500
    assert postcode["groups_truncated"] is True
    assert len(postcode["groups"]) == 1000
    theirs = demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive["postcode"])
    assert same(postcode["demographic_parity_difference"], theirs)


def test_bad_input_is_refused():
    sensitive = pd.DataFrame({"g": ["a", "b"]})
    with pytest.raises(ValueError, match="positive label"):
        fairness_report(y_true=[0, 1], y_pred=[0, 1], sensitive=sensitive, task="classification")
    with pytest.raises(ValueError, match="occurs nowhere"):
        fairness_report(
            y_true=[0, 1],
            y_pred=[0, 1],
            sensitive=sensitive,
            task="classification",
            positive_label="yes",
        )
    with pytest.raises(ValueError, match="same length"):
        fairness_report(y_true=[0, 1, 1], y_pred=[0, 1], sensitive=sensitive, task="regression")
