"""Data quality on constructed data: planted problems are found, clean columns are not."""

import json

import numpy as np
import pandas as pd
import pytest

from training.reports.data_quality import data_quality_report


@pytest.fixture(scope="module")
def customers():
    rng = np.random.default_rng(4)
    n = 1200
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n),
            "tenure": rng.integers(0, 20, n),
            "plan": rng.choice(["basic", "pro", "team"], n),
            "contact_email": [f"user{i}@example.org" for i in range(n)],
            "home_zip": rng.choice(["10115", "80331"], n),
            "region": rng.choice(["north", "south"], n),
            "country": "DE",
        }
    )
    frame.loc[::4, "income"] = np.nan
    frame["churned"] = np.where(rng.uniform(size=n) < 0.3, "yes", "no")
    # planted leaks: an outcome recorded after the fact, and a noisy copy of the label
    frame["cancellation_code"] = np.where(frame["churned"] == "yes", "C1", "none")
    frame["refund_amount"] = (frame["churned"] == "yes") * 100.0 + rng.normal(0, 1, n)
    frame = pd.concat([frame, frame.iloc[:7]], ignore_index=True)  # seven exact repeats
    return frame


FEATURES = [
    "income",
    "tenure",
    "plan",
    "contact_email",
    "home_zip",
    "region",
    "country",
    "cancellation_code",
    "refund_amount",
]


def test_planted_problems_are_flagged(customers):
    # when the report is made with the dataset's declarations
    report = data_quality_report(
        customers,
        features=FEATURES,
        target="churned",
        task="classification",
        sensitive=["region"],
        pii=["contact_email"],
    )
    # then both planted leaks are flagged, and no honest feature is
    flagged = {e["feature"] for e in report["leakage"]["features"] if e["flagged"]}
    assert flagged == {"cancellation_code", "refund_amount"}
    # and declared PII and sensitive columns used as features are named
    assert report["pii_features_used"] == ["contact_email"]
    assert report["sensitive_features_used"] == ["region"]
    assert report["suspected_pii_features"] == ["home_zip"]
    assert report["constant_columns"] == ["country"]
    assert report["duplicates"]["duplicate_rows"] == 7
    missing = {m["column"]: m for m in report["missing"]}
    assert missing["income"]["missing"] == customers["income"].isna().sum()
    balance = {c["label"]: c["count"] for c in report["class_balance"]["classes"]}
    assert balance == customers["churned"].value_counts().to_dict()
    codes = {issue["code"] for issue in report["issues"]}
    assert {"leakage", "pii_feature", "sensitive_feature", "constant_column"} <= codes
    assert "duplicate_rows" in codes
    json.dumps(report, allow_nan=False)


def test_regression_leak_is_found_by_correlation(customers):
    frame = customers.copy()
    rng = np.random.default_rng(0)
    frame["spend"] = frame["tenure"] * 3.0 + rng.normal(0, 5, len(frame))
    frame["spend_in_cents"] = frame["spend"] * 100 + rng.normal(0, 1, len(frame))
    report = data_quality_report(
        frame,
        features=["income", "tenure", "plan", "spend_in_cents"],
        target="spend",
        task="regression",
    )
    leaks = {e["feature"]: e for e in report["leakage"]["features"]}
    assert leaks["spend_in_cents"]["flagged"]
    assert leaks["spend_in_cents"]["correlation"] > 0.99
    assert not leaks["tenure"]["flagged"]
    assert report["class_balance"] is None


def test_a_clean_frame_has_no_issues():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.normal(size=300), "b": rng.choice(["x", "y"], 300)})
    frame["y"] = np.where(frame["a"] + rng.normal(0, 1, 300) > 0, 1, 0)
    report = data_quality_report(frame, features=["a", "b"], target="y", task="classification")
    assert report["issues"] == []
