"""HistGradientBoosting: check every TreePredictor's node records before trusting it.

`_predict_from_raw_data` (sklearn/ensemble/_hist_gradient_boosting/_predictor.pyx)
starts at `nodes[0]`, follows `left` / `right`, reads `X[row, feature_idx]` and, for
categorical splits, `raw_left_cat_bitsets[bitset_idx]` and
`known_cat_bitsets[f_idx_map[feature_idx]]`, all without bounds checks. X's width is
`n_features_in_` only when the model validates it: with categorical features it is
whatever the stored `_preprocessor` outputs, so that preprocessor must be the one
scikit-learn builds (an OrdinalEncoder and a check_array passthrough over complementary
column masks), which keeps the width.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.preprocessing import FunctionTransformer, OrdinalEncoder
from sklearn.utils.validation import check_array

from registry.model_files.tree_structure import Summary, parent_first_tree_problems

_BITSET_WORDS = 8  # 256 bits: one per possible uint8 category


def predictor_summary(predictor: TreePredictor, path: str) -> Summary:
    """Check one predictor on its own: record dtype, structure, flags, bitset indices."""
    nodes = getattr(predictor, "nodes", None)
    if (
        not isinstance(nodes, np.ndarray)
        or nodes.ndim != 1
        or nodes.dtype != PREDICTOR_RECORD_DTYPE
    ):
        return Summary([f"{path}.nodes is not a 1-D array of predictor records"])
    if not len(nodes):
        return Summary([f"{path}.nodes is empty"])
    problems: list[str] = []
    is_leaf = nodes["is_leaf"]
    categorical = nodes["is_categorical"]
    if not np.isin(is_leaf, (0, 1)).all() or not np.isin(categorical, (0, 1)).all():
        return Summary([f"{path}: is_leaf / is_categorical flags are not 0 or 1"])
    leaf = is_leaf == 1
    left = nodes["left"].astype(np.int64)
    right = nodes["right"].astype(np.int64)
    structure, _ = parent_first_tree_problems(left, right, leaf, path)
    problems += structure
    split = ~leaf
    features = nodes["feature_idx"]
    negative = np.flatnonzero(split & (features < 0))
    if negative.size:
        problems.append(f"{path}: node {negative[0]} splits on feature {features[negative[0]]}")
    category_split = split & (categorical == 1)
    if category_split.any():
        rows = []
        for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
            bitsets = getattr(predictor, name, None)
            if (
                not isinstance(bitsets, np.ndarray)
                or bitsets.ndim != 2
                or bitsets.shape[1] != _BITSET_WORDS
                or bitsets.dtype != np.uint32
            ):
                problems.append(f"{path}.{name} is not an (n, 8) uint32 array")
                return Summary(problems)
            rows.append(bitsets.shape[0])
        too_far = np.flatnonzero(category_split & (nodes["bitset_idx"] >= min(rows)))
        if too_far.size:
            problems.append(f"{path}: node {too_far[0]} points past the categorical bitsets")
    max_split = int(features[split].max()) if split.any() else -1
    return Summary(problems, max_split)


def hist_gradient_boosting_problems(
    model: Any, path: str, summarize: Callable[[TreePredictor, str], Summary]
) -> list[str]:
    """Check a fitted HistGradientBoosting* model's predictors against the model."""
    if getattr(model, "_in_fit", False):
        return [f"{path}: _in_fit is set (predict would read X as pre-binned data)"]
    width = getattr(model, "n_features_in_", None)
    per_iteration = getattr(model, "n_trees_per_iteration_", None)
    if type(width) is not int or width < 0 or type(per_iteration) is not int:
        return [f"{path}: n_features_in_ / n_trees_per_iteration_ are missing or not ints"]
    is_categorical = getattr(getattr(model, "_bin_mapper", None), "is_categorical_", None)
    if not isinstance(is_categorical, np.ndarray) or is_categorical.shape != (width,):
        return [f"{path}: _bin_mapper.is_categorical_ does not cover {width} features"]
    problems = _preprocessor_problems(model, width, path)
    predictors = model._predictors
    if not isinstance(predictors, list):
        return [*problems, f"{path}._predictors is not a list"]
    for iteration, trees in enumerate(predictors):
        if not isinstance(trees, list) or len(trees) != per_iteration:
            problems.append(f"{path}._predictors[{iteration}] does not hold {per_iteration} trees")
            continue
        for k, predictor in enumerate(trees):
            where = f"{path}._predictors[{iteration}][{k}]"
            if not isinstance(predictor, TreePredictor):
                problems.append(f"{where} is not a TreePredictor")
                continue
            summary = summarize(predictor, where)
            if summary.problems:
                continue
            if summary.max_split_feature >= width:
                problems.append(
                    f"{where}: a split uses feature {summary.max_split_feature}, "
                    f"but the model takes {width} features"
                )
                continue
            nodes = predictor.nodes
            category_split = (nodes["is_leaf"] == 0) & (nodes["is_categorical"] == 1)
            if not is_categorical[nodes["feature_idx"][category_split]].all():
                problems.append(f"{where}: a categorical split on a non-categorical feature")
    return problems


def _preprocessor_problems(model: Any, width: int, path: str) -> list[str]:
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return []  # then predict validates X against n_features_in_ itself
    refusal = [f"{path}._preprocessor is not the one HistGradientBoosting builds"]
    if not isinstance(preprocessor, ColumnTransformer):
        return refusal
    steps = getattr(preprocessor, "transformers_", None)
    if not isinstance(steps, list) or len(steps) not in (2, 3):
        return refusal
    if getattr(preprocessor, "n_features_in_", None) != width:
        return refusal
    try:
        (enc_name, encoder, enc_mask), (num_name, numeric, num_mask) = steps[:2]
    except (TypeError, ValueError):
        return refusal
    masks_ok = all(
        isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (width,)
        for mask in (enc_mask, num_mask)
    ) and bool(np.all(enc_mask ^ num_mask))
    if not (
        (enc_name, num_name) == ("encoder", "numerical")
        and masks_ok
        and isinstance(encoder, OrdinalEncoder)
        and getattr(encoder, "n_features_in_", None) == int(np.sum(enc_mask))
        and isinstance(numeric, FunctionTransformer)
        and isinstance(numeric.func, functools.partial)
        and numeric.func.func is check_array
        and not numeric.func.args
        and numeric.inverse_func is None
    ):
        return refusal
    if len(steps) == 3 and (
        not isinstance(steps[2], tuple) or steps[2][:2] != ("remainder", "drop")
    ):
        return refusal
    return []
