"""Robustness on constructed data: the feature the model needs costs the most when
dropped, a noise feature costs nothing, more noise costs more; runs repeat exactly."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from tests.training.reports.conftest import fit
from training.recipes.base import as_categorical_strings
from training.reports.robustness import fill_values, robustness_report


@pytest.fixture(scope="module")
def signal():
    """y depends on `signal` only; `noise` and `colour` are irrelevant."""
    rng = np.random.default_rng(2)
    n = 1500
    frame = pd.DataFrame(
        {
            "signal": rng.normal(0, 1, n),
            "noise": rng.normal(5, 2, n),
            "colour": rng.choice(["red", "blue"], n),
            "count": rng.integers(0, 10, n),
        }
    )
    frame["label"] = np.where(frame["signal"] + rng.normal(0, 0.3, n) > 0, "yes", "no")
    frame["amount"] = 4 * frame["signal"] + rng.normal(0, 0.5, n)
    x = as_categorical_strings(frame, ["signal", "noise", "colour", "count"])
    return frame, x


def test_classification_drops_where_the_signal_is(signal):
    # given a classifier trained on the first 1,000 rows
    frame, x = signal
    model = fit(x[:1000], frame["label"][:1000].to_numpy(), LogisticRegression())
    # when its robustness is measured on the rest
    report = robustness_report(
        model, x[1000:], frame["label"][1000:], task="classification", positive_label="yes"
    )
    # then the metric is ROC-AUC and the table has a row per noise level and feature
    assert report["metric"] == "roc_auc"
    assert report["baseline"] > 0.95
    noise = [r for r in report["table"] if r["perturbation"] == "gaussian_noise"]
    dropped = {r["feature"]: r for r in report["table"] if r["perturbation"] == "drop_feature"}
    assert [r["level"] for r in noise] == [0.05, 0.1, 0.25, 0.5]
    assert noise[-1]["drop"] > noise[0]["drop"]
    assert dropped["signal"]["drop"] > 0.3
    assert abs(dropped["noise"]["drop"]) < 0.01
    assert report["summary"]["max_feature_drop_feature"] == "signal"
    assert report["summary"]["max_noise_drop"] == max(r["drop"] for r in noise)
    # and the stand-in values are the training medians the pipeline's imputer learnt
    assert report["fill_source"] == "model_imputers"
    assert dropped["signal"]["fill_value"] == pytest.approx(frame["signal"][:1000].median())
    assert dropped["colour"]["fill_value"] in ("red", "blue")
    json.dumps(report, allow_nan=False)


def test_regression_uses_r2_and_rmse_drops_count_upwards(signal):
    frame, x = signal
    model = fit(x[:1000], frame["amount"][:1000].to_numpy(), Ridge())
    r2 = robustness_report(model, x[1000:], frame["amount"][1000:], task="regression")
    rmse = robustness_report(
        model, x[1000:], frame["amount"][1000:], task="regression", metric="rmse"
    )
    assert r2["metric"] == "r2"
    assert r2["higher_is_better"] is True
    assert rmse["higher_is_better"] is False
    # worse is a positive drop either way
    assert r2["summary"]["max_feature_drop"] > 0.5
    assert rmse["summary"]["max_feature_drop"] > 1.0


def test_same_seed_same_table_and_reference_data_wins(signal):
    frame, x = signal
    model = fit(x[:1000], frame["label"][:1000].to_numpy(), LogisticRegression())
    args = (model, x[1000:], frame["label"][1000:])
    first = robustness_report(*args, task="classification", seed=3, repeats=2)
    second = robustness_report(*args, task="classification", seed=3, repeats=2)
    assert first == second
    values, source = fill_values(model, x[1000:], reference=x[:200])
    assert source == "reference_data"
    assert values["noise"] == pytest.approx(x["noise"][:200].median())


def test_unknown_metric_is_refused(signal):
    frame, x = signal
    model = fit(x[:300], frame["label"][:300].to_numpy(), LogisticRegression())
    with pytest.raises(ValueError, match="unknown metric"):
        robustness_report(model, x, frame["label"], task="classification", metric="speed")
