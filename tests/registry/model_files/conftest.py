"""Fixtures for the model-file checks: small fitted models (fitted once per session) and
a canary path that a malicious payload would create."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier


@dataclass
class Fitted:
    """A fitted model, the data to predict on, and the methods whose output must survive."""

    model: Any
    X: np.ndarray
    methods: tuple[str, ...]


@pytest.fixture(scope="session")
def data() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_classification(n_samples=240, n_features=6, n_informative=4, random_state=0)
    return X, y


@pytest.fixture(scope="session")
def fitted_models(data) -> dict[str, Fitted]:
    X, y = data
    labels = np.array(["no", "yes"])[y]  # string classes: an object array in the model
    # HistGradientBoosting with a categorical column stores partial(check_array, ...)
    X_cat = np.c_[np.abs(X[:, :1] * 3).astype(int) % 5, X[:, 1:]]
    return {
        "pipeline": Fitted(
            Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, labels),
            X,
            ("predict", "predict_proba"),
        ),
        "random_forest": Fitted(
            RandomForestClassifier(n_estimators=8, random_state=0).fit(X, y),
            X,
            ("predict", "predict_proba", "apply"),
        ),
        "gradient_boosting": Fitted(
            GradientBoostingRegressor(n_estimators=10, random_state=0).fit(X, X[:, 0]),
            X,
            ("predict",),
        ),
        "isolation_forest": Fitted(
            IsolationForest(n_estimators=8, max_features=0.5, random_state=0).fit(X),
            X,
            ("predict", "score_samples"),
        ),
        "hist_gradient_boosting": Fitted(
            HistGradientBoostingClassifier(
                max_iter=8, categorical_features=[0], random_state=0
            ).fit(X_cat, y),
            X_cat,
            ("predict", "predict_proba"),
        ),
    }


@pytest.fixture()
def decision_tree(data) -> DecisionTreeClassifier:
    """A fresh fitted tree for each test, free to tamper with."""
    X, y = data
    return DecisionTreeClassifier(random_state=0).fit(X, y)


@pytest.fixture()
def canary(tmp_path):
    """A path a malicious payload would create; the test asserts it never appears."""
    path = tmp_path / "canary"
    yield path
    assert not path.exists(), "a payload ran: the canary file exists"


class CanaryPayload:
    """Pickles as `callable(*args)`: what a malicious __reduce__ does."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def canary_payloads(canary_path) -> dict[str, CanaryPayload]:
    """Each would create `canary_path` when unpickled; keyed by the global it names."""
    target = str(canary_path)
    return {
        "posix.system": CanaryPayload(os.system, f"touch {target}"),
        "builtins.exec": CanaryPayload(exec, f"open({target!r}, 'w').close()"),
        "builtins.eval": CanaryPayload(eval, f"open({target!r}, 'w')"),
        "subprocess.call": CanaryPayload(subprocess.call, ["touch", target]),
        "io.open": CanaryPayload(open, target, "w"),  # open pickles as io.open
    }
