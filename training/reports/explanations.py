"""Explanations report: SHAP values with the explainer that fits the model.

- tree models (decision trees, random and extra-trees forests, gradient boosting,
  histogram gradient boosting, isolation forest): `shap.TreeExplainer`, exact and fast,
  path-dependent (no background sample needed);
- linear models (coefficients and intercept): `shap.LinearExplainer` on a background
  sample's mean;
- anything else: `shap.KernelExplainer` on at most 50 background rows and 20 explained
  rows, since it costs 100+ ms per row.

SHAP values are computed on the features the final estimator sees (the output of the
pipeline's preprocessing), then summed back to the input columns they come from
(feature_map.py). Each report checks additivity, values summed plus the base value
against the model's own output for the same rows, and records the largest error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import shap
from sklearn.base import is_classifier, is_outlier_detector, is_regressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model._base import LinearClassifierMixin, LinearModel
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from training.reports.feature_map import feature_map
from training.reports.jsonable import floats, label, number

KIND = "explanations"
VERSION = 1
PROBABILITY_TREES = (
    DecisionTreeClassifier,
    RandomForestClassifier,
    ExtraTreesClassifier,
)
MARGIN_TREES = (GradientBoostingClassifier, HistGradientBoostingClassifier)
REGRESSION_TREES = (
    DecisionTreeRegressor,
    RandomForestRegressor,
    ExtraTreesRegressor,
    GradientBoostingRegressor,
    HistGradientBoostingRegressor,
)
MAX_ROWS = {"tree": 1000, "linear": 1000, "model_agnostic": 20}
BACKGROUND_ROWS = {"linear": 1000, "model_agnostic": 50}
LOCAL_ROWS = 5
TOP_CONTRIBUTIONS = 10
ADDITIVITY_TOLERANCE = 1e-6  # relative to max(1, largest |output|)


@dataclass
class Attribution:
    values: np.ndarray  # rows x transformed features x outputs
    base: np.ndarray  # outputs
    output: np.ndarray  # rows x outputs: the model's own output for the rows
    output_names: list[Any]
    model_output: str  # what the outputs are: probability, decision_function, ...
    compared_with: str  # the estimator method the additivity check compares with
    explainer_class: str
    background_rows: int | None = None
    negative_class: Any = None  # a binary margin's other class (its output is for names[0])


def explainer_kind(estimator: Any) -> str:
    """ "tree", "linear" or "model_agnostic" for a fitted estimator."""
    trees = PROBABILITY_TREES + MARGIN_TREES + REGRESSION_TREES + (IsolationForest,)
    if isinstance(estimator, trees):
        return "tree"
    if isinstance(estimator, LinearClassifierMixin | LinearModel) and hasattr(estimator, "coef_"):
        return "linear"
    return "model_agnostic"


def _split(model: Any) -> tuple[Any, Any]:
    steps = getattr(model, "steps", None)
    if not steps:
        return None, model
    return (model[:-1] if len(steps) > 1 else None), model[-1]


def _dense(preprocess: Any, rows: pd.DataFrame) -> np.ndarray:
    matrix = rows if preprocess is None else preprocess.transform(rows)
    if hasattr(matrix, "toarray"):
        matrix = matrix.toarray()
    return np.asarray(matrix, dtype=float)


def _as_columns(array: Any, rows: int) -> np.ndarray:
    return np.asarray(array, dtype=float).reshape(rows, -1)


def _shaped(values: Any, rows: int, width: int) -> np.ndarray:
    """SHAP's outputs (a list per class, or an array with or without an output axis) as
    rows x features x outputs."""
    if isinstance(values, list):
        return np.stack([np.asarray(v, dtype=float) for v in values], axis=-1)
    return np.asarray(values, dtype=float).reshape(rows, width, -1)


def _mean_path_length(forest: IsolationForest, matrix: np.ndarray) -> np.ndarray:
    """An isolation forest's mean path length, the quantity its SHAP values add up to,
    from its own score: score_samples = -2 ** (-length / c(max_samples))."""
    n = forest.max_samples_
    c = 2.0 * (math.log(n - 1) + np.euler_gamma) - 2.0 * (n - 1) / n if n > 2 else float(n > 1)
    return -np.log2(-forest.score_samples(matrix)) * c


def _tree(estimator: Any, matrix: np.ndarray) -> Attribution:
    explainer = shap.TreeExplainer(estimator)
    values = _shaped(explainer.shap_values(matrix, check_additivity=False), *matrix.shape)
    rows, negative = len(matrix), None
    if isinstance(estimator, PROBABILITY_TREES):
        output, names = estimator.predict_proba(matrix), list(estimator.classes_)
        kind, method = "probability", "predict_proba"
    elif isinstance(estimator, MARGIN_TREES):
        output = estimator.decision_function(matrix)
        classes = list(estimator.classes_)
        names = classes[1:] if len(classes) == 2 else classes
        kind, method = "decision_function", "decision_function"
        negative = classes[0] if len(classes) == 2 else None
    elif isinstance(estimator, IsolationForest):
        output, names = _mean_path_length(estimator, matrix), ["mean_path_length"]
        kind, method = "mean_path_length", "score_samples"
    else:
        output, names = estimator.predict(matrix), ["prediction"]
        kind, method = "prediction", "predict"
    return Attribution(
        values=values,
        base=np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).ravel(),
        output=_as_columns(output, rows),
        output_names=names,
        model_output=kind,
        compared_with=method,
        explainer_class="TreeExplainer",
        negative_class=negative,
    )


def _linear(estimator: Any, matrix: np.ndarray, background: np.ndarray) -> Attribution:
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=float))
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=float))
    explainer = shap.LinearExplainer(
        (coef, intercept), shap.maskers.Independent(background, max_samples=len(background))
    )
    values = _shaped(explainer.shap_values(matrix), *matrix.shape)
    negative = None
    if is_classifier(estimator):
        output, method = estimator.decision_function(matrix), "decision_function"
        classes = list(estimator.classes_)
        names = classes[1:] if len(classes) == 2 else classes
        negative = classes[0] if len(classes) == 2 else None
    else:
        output, method = estimator.predict(matrix), "predict"
        names = ["prediction"] if coef.shape[0] == 1 else [f"target_{k}" for k in range(len(coef))]
    return Attribution(
        values=values,
        base=np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).ravel(),
        output=_as_columns(output, len(matrix)),
        output_names=names,
        model_output="decision_function" if method == "decision_function" else "prediction",
        compared_with=method,
        explainer_class="LinearExplainer",
        background_rows=len(background),
        negative_class=negative,
    )


def _model_agnostic(
    estimator: Any, matrix: np.ndarray, background: np.ndarray, seed: int
) -> Attribution:
    negative = None
    if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
        function, method, kind = estimator.predict_proba, "predict_proba", "probability"
        names = list(estimator.classes_)
    elif is_classifier(estimator) or is_outlier_detector(estimator):
        function, method = estimator.decision_function, "decision_function"
        kind = method
        classes = list(getattr(estimator, "classes_", ["score"]))
        names = classes[1:] if len(classes) == 2 else classes
        negative = classes[0] if len(classes) == 2 else None
    elif is_regressor(estimator):
        function, method, kind = estimator.predict, "predict", "prediction"
        names = ["prediction"]
    else:
        raise ValueError(f"no explanation for a {type(estimator).__name__}")
    explainer = shap.KernelExplainer(function, background)
    # KernelExplainer samples coalitions from numpy's global generator: seed it, restore it.
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        width = matrix.shape[1]
        raw = explainer.shap_values(
            matrix, nsamples=min(2 * width + 2048, 4096), l1_reg=False, silent=True
        )
    finally:
        np.random.set_state(state)
    return Attribution(
        values=_shaped(raw, *matrix.shape),
        base=np.atleast_1d(np.asarray(explainer.expected_value, dtype=float)).ravel(),
        output=_as_columns(function(matrix), len(matrix)),
        output_names=names,
        model_output=kind,
        compared_with=method,
        explainer_class="KernelExplainer",
        background_rows=len(background),
        negative_class=negative,
    )


def _pick_positive(attribution: Attribution, positive_label: Any) -> Attribution:
    """A binary classifier explained for its positive class only: the probability column
    of that class, or the margin (negated when the positive class is sklearn's first)."""
    names = attribution.output_names
    if attribution.model_output == "probability" and len(names) == 2:
        k = 1 if positive_label is None else names.index(positive_label)
        attribution.values = attribution.values[:, :, k : k + 1]
        attribution.base = attribution.base[k : k + 1]
        attribution.output = attribution.output[:, k : k + 1]
        attribution.output_names = [names[k]]
    elif positive_label is not None and positive_label == attribution.negative_class:
        attribution.values, attribution.base = -attribution.values, -attribution.base
        attribution.output = -attribution.output
        attribution.output_names, attribution.negative_class = [positive_label], names[0]
    return attribution


def additivity(attribution: Attribution) -> dict[str, Any]:
    """Largest |sum of SHAP values + base value - model output| over rows and outputs."""
    rebuilt = attribution.values.sum(axis=1) + attribution.base
    error = float(np.abs(rebuilt - attribution.output).max())
    scale = max(1.0, float(np.abs(attribution.output).max()))
    tolerance = ADDITIVITY_TOLERANCE * scale
    return {
        "max_error": number(error),  # null when the model output is not finite
        "tolerance": tolerance,
        "passed": bool(error <= tolerance),
        "compared_with": attribution.compared_with,
    }


def compute_attribution(
    model: Any,
    x: pd.DataFrame,
    *,
    background: pd.DataFrame | None = None,
    max_rows: int | None = None,
    seed: int = 0,
) -> tuple[Attribution, pd.DataFrame, str, str | None]:
    """SHAP values for up to `max_rows` rows of `x` (sampled, seeded): the attribution,
    the rows explained, the explainer kind and why it fell back, if it did."""
    if len(x) == 0:
        raise ValueError("no rows to explain")
    preprocess, estimator = _split(model)
    kind, fallback = explainer_kind(estimator), None
    limit = MAX_ROWS[kind] if max_rows is None else max_rows
    rows = x if len(x) <= limit else x.sample(limit, random_state=seed)
    matrix = _dense(preprocess, rows)
    if kind == "tree":
        try:
            return _tree(estimator, matrix), rows, kind, None
        except Exception as error:  # shap refuses some (multi-class GradientBoosting)
            kind, fallback = "model_agnostic", f"{type(error).__name__}: {error}"[:300]
            rows = rows.iloc[: MAX_ROWS[kind] if max_rows is None else max_rows]
            matrix = matrix[: len(rows)]
    source = x if background is None else background
    size = BACKGROUND_ROWS[kind]
    sample = source if len(source) <= size else source.sample(size, random_state=seed)
    reference = _dense(preprocess, sample)
    if kind == "linear":
        return _linear(estimator, matrix, reference), rows, kind, None
    return _model_agnostic(estimator, matrix, reference, seed), rows, kind, fallback


def explanation_report(
    model: Any,
    x: pd.DataFrame,
    *,
    positive_label: Any = None,
    background: pd.DataFrame | None = None,
    max_rows: int | None = None,
    local_rows: int = LOCAL_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """Global mean |SHAP| per input column, local explanations of the first
    `local_rows` explained rows, and the additivity check.

    `model` is a fitted estimator or Pipeline (the last step explained on the features
    the steps before it produce); `x` holds the input columns the model was fitted on;
    `background` (e.g. the training rows) is what linear and model-agnostic
    explainers compare against, `x` itself when not given."""
    attribution, rows, kind, fallback = compute_attribution(
        model, x, background=background, max_rows=max_rows, seed=seed
    )
    attribution = _pick_positive(attribution, positive_label)
    check = additivity(attribution)
    fmap = feature_map(_split(model)[0], list(x.columns), attribution.values.shape[1])
    sources, membership = fmap.membership()
    # SHAP values add up, so a source column's value is the sum over its encoded columns.
    grouped = np.einsum("nmk,ms->nsk", attribution.values, membership)
    importance = np.abs(grouped).mean(axis=0)  # sources x outputs
    overall = importance.mean(axis=1)
    order = np.argsort(-overall, kind="stable")
    encoded = {
        s: [n for n, src in zip(fmap.names, fmap.sources, strict=True) if src == s] for s in sources
    }
    return {
        "kind": KIND,
        "version": VERSION,
        "explainer": kind,
        "explainer_class": attribution.explainer_class,
        "fallback_reason": fallback,
        "model_class": type(_split(model)[1]).__name__,
        "model_output": attribution.model_output,
        "outputs": [label(v) for v in attribution.output_names],
        "base_values": floats(attribution.base),
        "rows_available": len(x),
        "rows_explained": len(rows),
        "background_rows": attribution.background_rows,
        "feature_mapping": "input_columns" if fmap.mapped else "transformed_columns",
        "global_importance": [
            {
                "feature": sources[s],
                "mean_abs_shap": number(overall[s]),
                "encoded_columns": encoded[sources[s]],
            }
            for s in order.tolist()
        ],
        "global_importance_by_output": (
            {
                str(name): {sources[s]: number(importance[s, k]) for s in order.tolist()}
                for k, name in enumerate(attribution.output_names)
            }
            if len(attribution.output_names) > 1
            else None
        ),
        "local": _local(attribution, grouped, rows, sources, local_rows),
        "additivity": check,
    }


def _local(
    attribution: Attribution,
    grouped: np.ndarray,
    rows: pd.DataFrame,
    sources: list[str],
    count: int,
) -> list[dict[str, Any]]:
    """The top contributions for the first `count` rows, for the output the model ranks
    highest there (the only output for regression and binary classification)."""
    result = []
    for i in range(min(count, len(rows))):
        k = int(np.argmax(attribution.output[i])) if attribution.output.shape[1] > 1 else 0
        contributions = grouped[i, :, k]
        top = np.argsort(-np.abs(contributions), kind="stable")[:TOP_CONTRIBUTIONS]
        row = rows.iloc[i]
        result.append(
            {
                "row": label(rows.index[i]),
                "output": label(attribution.output_names[k]),
                "model_output_value": number(attribution.output[i, k]),
                "base_value": number(attribution.base[k]),
                "contributions": [
                    {
                        "feature": sources[s],
                        "value": label(row[sources[s]]) if sources[s] in row.index else None,
                        "shap": number(contributions[s]),
                    }
                    for s in top.tolist()
                ],
                "rest": number(contributions.sum() - contributions[top].sum()),
            }
        )
    return result
