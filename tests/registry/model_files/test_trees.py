"""Crafted trees: out-of-range node and feature indices are refused before any prediction."""

from __future__ import annotations

import io
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import skops.io
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import Tree

from registry.model_files import ModelFileRefused, inspect_model_file, load_verified_model
from registry.model_files.trees import find_tree_problems


def _rebuilt(tree: Tree, edit=None, **state_changes) -> Tree:
    """A copy of `tree` with its node records edited (Tree.__setstate__ checks no index)."""
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    if edit is not None:
        edit(state["nodes"])
    state.update(state_changes)
    copy = Tree(tree.n_features, tree.n_classes.copy(), tree.n_outputs)
    copy.__setstate__(state)
    return copy


class _CraftedTreeState:
    """Pickles as `Tree(...)` with any state, even one Tree itself could not produce."""

    def __init__(self, tree: Tree, **state_changes) -> None:
        self.args = (tree.n_features, tree.n_classes.copy(), tree.n_outputs)
        self.state = {**tree.__getstate__(), **state_changes}

    def __reduce__(self):
        return Tree, self.args, self.state


def _split_node(tree: Tree, after: int = 0) -> int:
    return int(np.flatnonzero(tree.children_left[after:] != -1)[0]) + after


def _no_prediction(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a crafted tree was used to predict")

    for method in ("predict", "predict_proba", "apply", "decision_path"):
        monkeypatch.setattr(DecisionTreeClassifier, method, refuse)


def _assert_refused(path, fmt: str, expected: str) -> None:
    result = inspect_model_file(path, fmt, load_check=True)
    assert not result.verified
    assert any(expected in reason for reason in result.reasons), result.reasons
    with pytest.raises(ModelFileRefused) as refusal:
        load_verified_model(path, fmt)
    assert any(expected in reason for reason in refusal.value.reasons)


def test_a_fitted_tree_has_no_problems(decision_tree):
    assert find_tree_problems(decision_tree) == []


def test_out_of_range_child_in_a_pickle_is_refused(tmp_path, decision_tree, monkeypatch):
    # given a real fitted tree whose root's left child points far past the node array
    decision_tree.tree_ = _rebuilt(
        decision_tree.tree_, lambda nodes: nodes["left_child"].__setitem__(0, 10_000)
    )
    path = tmp_path / "tree.pkl"
    path.write_bytes(pickle.dumps(decision_tree))
    _no_prediction(monkeypatch)
    # then it is refused with the node named, and never predicts (the static scan passes)
    assert inspect_model_file(path, "pickle").verified
    _assert_refused(path, "pickle", "node 0 has children (10000,")


def test_out_of_range_feature_in_a_joblib_is_refused(tmp_path, decision_tree, monkeypatch):
    node = _split_node(decision_tree.tree_, 3)
    decision_tree.tree_ = _rebuilt(
        decision_tree.tree_, lambda nodes: nodes["feature"].__setitem__(node, 99)
    )
    path = tmp_path / "tree.joblib"
    with open(path, "wb") as handle:
        joblib.dump(decision_tree, handle, compress=3)
    _no_prediction(monkeypatch)
    _assert_refused(path, "joblib", f"node {node} splits on feature 99")


def test_cycle_in_a_skops_file_is_refused(tmp_path, decision_tree, monkeypatch):
    # a child pointing back to the root: predict would loop forever
    node = _split_node(decision_tree.tree_, 1)
    decision_tree.tree_ = _rebuilt(
        decision_tree.tree_, lambda nodes: nodes["right_child"].__setitem__(node, 0)
    )
    path = tmp_path / "tree.skops"
    skops.io.dump(decision_tree, path)
    _no_prediction(monkeypatch)
    _assert_refused(path, "skops", f"node {node} has children")


def test_node_array_edited_inside_the_skops_zip_is_refused(tmp_path, decision_tree):
    # given a genuine skops file whose Tree node .npy member is edited in place
    source = io.BytesIO(skops.io.dumps(decision_tree))
    edited = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(edited, "w") as target:
        for info in original.infolist():
            content = original.read(info)
            if info.filename.endswith(".npy"):
                array = np.load(io.BytesIO(content), allow_pickle=False)
                if array.dtype.names and "left_child" in array.dtype.names:
                    array = array.copy()
                    array["feature"][0] = 1_000_000
                    buffer = io.BytesIO()
                    np.save(buffer, array, allow_pickle=False)
                    content = buffer.getvalue()
            target.writestr(info, content)
    path = tmp_path / "edited.skops"
    path.write_bytes(edited.getvalue())
    _assert_refused(path, "skops", "node 0 splits on feature 1000000")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # fewer nodes than the arrays hold: splits now point past node_count
        ({"node_count": 5}, "not two distinct nodes in"),
        ({"node_count": 0}, "outside [1, capacity"),
        # decision_path sizes its buffer by max_depth
        ({"max_depth": 1}, "max_depth 1 but the tree is"),
    ],
)
def test_inconsistent_tree_state_is_refused(tmp_path, decision_tree, change, expected):
    decision_tree.tree_ = _CraftedTreeState(decision_tree.tree_, **change)
    path = tmp_path / "state.pkl"
    path.write_bytes(pickle.dumps(decision_tree))
    _assert_refused(path, "pickle", expected)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda nodes, n: nodes["right_child"].__setitem__(n, -1), "exactly one child set to -1"),
        (lambda nodes, n: nodes["threshold"].__setitem__(n, np.nan), "non-finite threshold"),
        (lambda nodes, n: nodes["left_child"].__setitem__(n, n), "not two distinct nodes"),
        (lambda nodes, n: nodes["feature"].__setitem__(n, -7), "splits on feature -7"),
    ],
)
def test_node_level_tampering_is_refused(decision_tree, edit, expected):
    node = _split_node(decision_tree.tree_, 2)
    decision_tree.tree_ = _rebuilt(decision_tree.tree_, lambda nodes: edit(nodes, node))
    problems = find_tree_problems(decision_tree)
    assert any(expected in problem for problem in problems), problems


def test_forest_member_wider_than_the_forest_is_refused(fitted_models, data):
    # a member tree claiming more features than the forest validates X for: the forest
    # calls it with check_input=False, so its split on feature 9 would read past X
    forest = pickle.loads(pickle.dumps(fitted_models["random_forest"].model))
    member = forest.estimators_[2]
    wide = Tree(9 + 1, member.tree_.n_classes.copy(), member.tree_.n_outputs)
    state = member.tree_.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"]["feature"][0] = 9
    wide.__setstate__(state)
    member.tree_, member.n_features_in_ = wide, 10
    problems = find_tree_problems(forest)
    assert any("the ensemble passes it 6 features" in p for p in problems), problems


def test_isolation_forest_tree_beyond_its_feature_subset_is_refused(fitted_models):
    model = pickle.loads(pickle.dumps(fitted_models["isolation_forest"].model))
    subset = len(model.estimators_features_[0])
    member = model.estimators_[0]
    wide = Tree(6, member.tree_.n_classes.copy(), 1)
    state = member.tree_.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"]["feature"][0] = 5
    wide.__setstate__(state)
    member.tree_, member.n_features_in_ = wide, 6
    problems = find_tree_problems(model)
    assert any(f"passes it {subset} features" in p for p in problems), problems


def test_gradient_boosting_stage_width_must_match_its_buffer(fitted_models):
    model = pickle.loads(pickle.dumps(fitted_models["gradient_boosting"].model))
    model.estimators_ = np.hstack([model.estimators_, model.estimators_])
    problems = find_tree_problems(model)
    assert any("2 trees per stage" in p for p in problems), problems


def test_hist_gradient_boosting_crafted_nodes_are_refused(tmp_path, fitted_models):
    model = pickle.loads(pickle.dumps(fitted_models["hist_gradient_boosting"].model))
    nodes = model._predictors[1][0].nodes
    split = int(np.flatnonzero(nodes["is_leaf"] == 0)[0])
    nodes["left"][split] = 60_000
    model._predictors[2][0].nodes["feature_idx"][0] = 6
    path = tmp_path / "hgb.skops"
    skops.io.dump(model, path)
    result = inspect_model_file(path, "skops", load_check=True)
    assert not result.verified
    assert any(f"node {split} has children (60000," in r for r in result.reasons), result.reasons
    assert any("_predictors[2][0]: a split uses feature 6" in r for r in result.reasons)


def test_hist_gradient_boosting_foreign_preprocessor_is_refused(fitted_models):
    from sklearn.compose import ColumnTransformer

    model = pickle.loads(pickle.dumps(fitted_models["hist_gradient_boosting"].model))
    model._preprocessor.transformers_ = model._preprocessor.transformers_[:1] + [
        ("numerical", "drop", model._preprocessor.transformers_[1][2])
    ]
    assert isinstance(model._preprocessor, ColumnTransformer)
    problems = find_tree_problems(model)
    assert any("_preprocessor is not the one" in p for p in problems), problems
