"""Tree models: check every node array before a loaded model is trusted.

scikit-learn's Cython prediction code follows node and feature indices without bounds
checks (it is compiled with boundscheck=False), and neither pickle nor skops validates
them: a crafted file can make `predict` read or write outside its arrays. So before a
model is handed out, every tree in it is checked:

- structure: `node_count` within the allocated capacity; each split node's children
  lie after it and inside the array (scikit-learn numbers nodes parent-first, for the
  depth-first, best-first and pruning builders alike), every node but the root has
  exactly one parent (so all nodes are reachable once from the root, no cycles), leaves
  have both children -1; the real depth is at most `max_depth` (which sizes
  `decision_path`'s buffer);
- features: split features in `[0, n_features)` and below the width of the X the tree
  will actually see; leaves carry -2; split thresholds finite;
- values: shape `(node_count, n_outputs, max_n_classes)` and agreement with the owning
  estimator's `n_outputs_` / `n_classes_`;
- ensembles that call their trees without validating X themselves (forests, bagging,
  isolation forests, AdaBoost, gradient boosting) bound each tree's features by the
  ensemble's `n_features_in_` (or the tree's feature subset); gradient boosting's 2-D
  `estimators_` must match the width of the prediction buffer it writes into.

HistGradientBoosting is checked in `hist_trees`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble._bagging import BaseBagging
from sklearn.ensemble._forest import BaseForest
from sklearn.ensemble._gb import BaseGradientBoosting
from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import (
    BaseHistGradientBoosting,
)
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.ensemble._weight_boosting import BaseWeightBoosting
from sklearn.tree._classes import BaseDecisionTree
from sklearn.tree._tree import Tree

from registry.model_files.errors import ModelFileRefused
from registry.model_files.hist_trees import hist_gradient_boosting_problems, predictor_summary
from registry.model_files.object_graph import iter_objects
from registry.model_files.tree_structure import Summary, parent_first_tree_problems

_TREE_LEAF = -1
_TREE_UNDEFINED = -2
_MAX_REPORTED = 20


def validate_tree_models(model: Any) -> None:
    """Raise ModelFileRefused, naming each problem, unless every tree in `model` is sound."""
    problems = find_tree_problems(model)
    if problems:
        raise ModelFileRefused(problems[:_MAX_REPORTED])


def find_tree_problems(model: Any) -> list[str]:
    """Every problem found in the trees of `model` (empty when they are all sound)."""
    checker = _Checker()
    for path, obj in iter_objects(model):
        checker.visit(path, obj)
    return checker.problems


class _Checker:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self._summaries: dict[int, Summary] = {}

    def visit(self, path: str, obj: Any) -> None:
        if isinstance(obj, Tree):
            self.tree_summary(obj, path)
        elif isinstance(obj, TreePredictor):
            self.predictor_summary(obj, path)
        if isinstance(obj, BaseDecisionTree) and hasattr(obj, "tree_"):
            self._check_tree_estimator(obj, path)
        if isinstance(obj, BaseForest | BaseBagging | BaseWeightBoosting):
            self._check_passthrough_ensemble(obj, path)
        if isinstance(obj, BaseGradientBoosting) and hasattr(obj, "estimators_"):
            self._check_gradient_boosting(obj, path)
        if isinstance(obj, BaseHistGradientBoosting) and hasattr(obj, "_predictors"):
            self.problems += hist_gradient_boosting_problems(obj, path, self.predictor_summary)

    # -- summaries, computed once per object --------------------------------------------------

    def tree_summary(self, tree: Tree, path: str) -> Summary:
        key = id(tree)
        if key not in self._summaries:
            summary = _tree_summary(tree, path)
            self.problems += summary.problems
            self._summaries[key] = summary
        return self._summaries[key]

    def predictor_summary(self, predictor: TreePredictor, path: str) -> Summary:
        key = id(predictor)
        if key not in self._summaries:
            summary = predictor_summary(predictor, path)
            self.problems += summary.problems
            self._summaries[key] = summary
        return self._summaries[key]

    # -- estimators ---------------------------------------------------------------------------

    def _fitted_tree(self, estimator: Any, path: str) -> Summary | None:
        tree = getattr(estimator, "tree_", None)
        if not isinstance(tree, Tree):
            self.problems.append(f"{path}.tree_ is not a scikit-learn Tree")
            return None
        return self.tree_summary(tree, f"{path}.tree_")

    def _check_tree_estimator(self, estimator: BaseDecisionTree, path: str) -> None:
        summary = self._fitted_tree(estimator, path)
        if summary is None or summary.problems:
            return
        tree = estimator.tree_
        width = _feature_count(estimator, path, self.problems)
        if width is None:
            return
        if tree.n_features != width:
            self.problems.append(
                f"{path}: tree_.n_features {tree.n_features} != n_features_in_ {width}"
            )
        if summary.max_split_feature >= width:
            self.problems.append(
                f"{path}: a split uses feature {summary.max_split_feature}, "
                f"but the estimator takes {width} features"
            )
        if getattr(estimator, "n_outputs_", None) != tree.n_outputs:
            self.problems.append(f"{path}: n_outputs_ does not match tree_.n_outputs")
        tree_classes = np.asarray(tree.n_classes)
        if hasattr(estimator, "classes_"):
            declared = np.atleast_1d(np.asarray(getattr(estimator, "n_classes_", -1)))
            if declared.shape != tree_classes.shape or (declared != tree_classes).any():
                self.problems.append(f"{path}: n_classes_ does not match the tree's classes")
        elif (tree_classes != 1).any():
            self.problems.append(f"{path}: a regression tree must have one value per output")

    def _check_passthrough_ensemble(self, ensemble: Any, path: str) -> None:
        if not hasattr(ensemble, "estimators_"):
            return  # not fitted
        members = _as_list(ensemble.estimators_)
        if members is None:
            self.problems.append(f"{path}.estimators_ is not a list of estimators")
            return
        if not any(isinstance(member, BaseDecisionTree) for member in members):
            return
        width = _feature_count(ensemble, path, self.problems)
        if width is None:
            return
        subsets = getattr(ensemble, "estimators_features_", None)
        if subsets is not None:
            subsets = _as_list(subsets)
            if subsets is None or len(subsets) != len(members):
                self.problems.append(f"{path}: estimators_features_ does not match estimators_")
                return
        for index, member in enumerate(members):
            if not isinstance(member, BaseDecisionTree):
                continue
            where = f"{path}.estimators_[{index}]"
            summary = self._fitted_tree(member, where)
            if summary is None or summary.problems:
                continue
            bound = width if subsets is None else min(width, len(subsets[index]))
            if summary.max_split_feature >= bound:
                self.problems.append(
                    f"{where}: a split uses feature {summary.max_split_feature}, "
                    f"but the ensemble passes it {bound} features"
                )

    def _check_gradient_boosting(self, model: BaseGradientBoosting, path: str) -> None:
        stages = model.estimators_
        if not (isinstance(stages, np.ndarray) and stages.ndim == 2 and stages.dtype.hasobject):
            self.problems.append(f"{path}.estimators_ is not a 2-D array of trees")
            return
        width = _feature_count(model, path, self.problems)
        per_stage = stages.shape[1]
        if getattr(model, "n_trees_per_iteration_", None) != per_stage:
            self.problems.append(
                f"{path}: estimators_ has {per_stage} trees per stage, "
                f"n_trees_per_iteration_ says {getattr(model, 'n_trees_per_iteration_', None)}"
            )
        self.problems += _gradient_boosting_buffer_problems(model, per_stage, path)
        for (stage, k), member in np.ndenumerate(stages):
            where = f"{path}.estimators_[{stage}, {k}]"
            summary = self._fitted_tree(member, where)
            if summary is None or summary.problems:
                continue
            tree = member.tree_
            if tree.n_outputs != 1 or tree.max_n_classes != 1:
                self.problems.append(
                    f"{where}: a boosting stage must be a 1-output regression tree"
                )
            if width is not None and summary.max_split_feature >= width:
                self.problems.append(
                    f"{where}: a split uses feature {summary.max_split_feature}, "
                    f"but the model takes {width} features"
                )


def _gradient_boosting_buffer_problems(
    model: BaseGradientBoosting, per_stage: int, path: str
) -> list[str]:
    """predict_stages writes column k < per_stage of the buffer `_raw_predict_init` makes:
    `n_trees_per_iteration_` columns for init 'zero', else the init estimator's output."""
    init = getattr(model, "init_", None)
    if init == "zero":
        return []
    if hasattr(model, "classes_"):
        if not isinstance(init, DummyClassifier):
            return [f"{path}: only 'zero' or scikit-learn's DummyClassifier are accepted as init_"]
        n_classes = getattr(model, "n_classes_", None)
        columns = {
            getattr(init, "n_classes_", None),
            len(getattr(init, "classes_", ())),
            len(getattr(init, "class_prior_", ())),
        }
        multiclass = bool(getattr(getattr(model, "_loss", None), "is_multiclass", False))
        expected = n_classes if multiclass else 1
        if columns != {n_classes} or per_stage != expected or multiclass != (per_stage > 1):
            return [f"{path}: init_ and the loss do not match {per_stage} trees per stage"]
        return []
    if not isinstance(init, DummyRegressor):
        return [f"{path}: only 'zero' or scikit-learn's DummyRegressor are accepted as init_"]
    if per_stage != 1:
        return [f"{path}: a regressor must have one tree per stage"]
    return []


def _as_list(value: Any) -> list[Any] | None:
    """The members of a list, tuple or object array (what the ensembles iterate over)."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, np.ndarray) and value.dtype.hasobject:
        return list(value.ravel())
    return None


def _feature_count(estimator: Any, path: str, problems: list[str]) -> int | None:
    width = getattr(estimator, "n_features_in_", None)
    if type(width) is not int or width < 0:
        # without it predict does not check X's width, and trees would read past it
        problems.append(f"{path}: n_features_in_ is missing or not a non-negative int")
        return None
    return width


def _tree_summary(tree: Tree, path: str) -> Summary:
    node_count, capacity = int(tree.node_count), int(tree.capacity)
    if not 1 <= node_count <= capacity:
        # the node arrays are views of `node_count` nodes over `capacity` allocated ones:
        # reading them at all would overrun the allocation
        return Summary([f"{path}: node_count {node_count} outside [1, capacity {capacity}]"])
    problems: list[str] = []
    n_outputs, max_n_classes = int(tree.n_outputs), int(tree.max_n_classes)
    n_classes = np.asarray(tree.n_classes)
    if (
        n_outputs < 1
        or n_classes.shape != (n_outputs,)
        or (n_classes < 1).any()
        or int(n_classes.max()) != max_n_classes
    ):
        problems.append(f"{path}: n_outputs / n_classes / max_n_classes disagree")
    if tree.value.shape != (node_count, n_outputs, max_n_classes):
        problems.append(f"{path}: value shape {tree.value.shape} is inconsistent")
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    threshold = np.asarray(tree.threshold)
    is_leaf = left == _TREE_LEAF
    half_leaf = np.flatnonzero(is_leaf != (right == _TREE_LEAF))
    if half_leaf.size:
        problems.append(f"{path}: node {half_leaf[0]} has exactly one child set to -1")
        return Summary(problems)
    structure, depth = parent_first_tree_problems(left, right, is_leaf, path)
    problems += structure
    if not structure and not depth <= tree.max_depth <= node_count:
        problems.append(f"{path}: max_depth {tree.max_depth} but the tree is {depth} deep")
    split = ~is_leaf
    bad_leaf = np.flatnonzero(is_leaf & (feature != _TREE_UNDEFINED))
    if bad_leaf.size:
        problems.append(f"{path}: leaf {bad_leaf[0]} has feature {feature[bad_leaf[0]]}, not -2")
    bad_feature = np.flatnonzero(split & ((feature < 0) | (feature >= tree.n_features)))
    if bad_feature.size:
        node = bad_feature[0]
        problems.append(
            f"{path}: node {node} splits on feature {feature[node]}, outside [0, {tree.n_features})"
        )
    bad_threshold = np.flatnonzero(split & ~np.isfinite(threshold))
    if bad_threshold.size:
        problems.append(f"{path}: node {bad_threshold[0]} has a non-finite threshold")
    max_split = int(feature[split].max()) if split.any() else -1
    return Summary(problems, max_split)
