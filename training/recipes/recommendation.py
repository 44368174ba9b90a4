"""Recommendation from implicit feedback: matrix factorisation (truncated SVD of the
user-item matrix) for users with history, and an item-similarity model over content
features for users and items without it.

The model is a dict of scikit-learn objects and arrays (no custom classes), so the
server can verify and load it like any other; `recommend()` interprets it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.pipeline import Pipeline

from training.recipes.base import (
    RecipeResult,
    TrialCallback,
    as_categorical_strings,
    preprocessor,
    rounded,
    run_study,
)
from training.spec import TrainingSpec

NEEDS_TARGET = False


def split_by_user(events: pd.DataFrame, user: str, fraction: float, seed: int):
    """Hold out a fraction of each user's interactions (users with at least 2)."""
    rng = np.random.default_rng(seed)
    held = np.zeros(len(events), dtype=bool)
    for _, index in events.groupby(user, sort=True).indices.items():
        if len(index) < 2:
            continue
        count = max(1, int(round(len(index) * fraction)))
        held[rng.choice(index, size=count, replace=False)] = True
    return events[~held], events[held]


def _matrix(events, users, items, user, item):
    rows = events[user].map(users).to_numpy()
    cols = events[item].map(items).to_numpy()
    data = np.ones(len(events), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(users), len(items)))


def recommend(model: dict, user_id, k: int, *, recent_items=()) -> list:
    """Top-k items for `user_id`: factors when the user is known, else items similar to
    `recent_items` by content, else the most popular items."""
    items = model["items"]
    seen = set()
    if user_id in model["user_index"]:
        row = model["user_index"][user_id]
        scores = model["user_factors"][row] @ model["item_factors"].T
        seen = set(model["seen"][row])
    elif recent_items and model.get("content") is not None:
        known = [model["item_position"][i] for i in recent_items if i in model["item_position"]]
        if known:
            vectors = model["content_vectors"][known].mean(axis=0, keepdims=True)
            scores = -np.linalg.norm(model["content_vectors"] - vectors, axis=1)
            seen = set(known)
        else:
            scores = np.asarray(model["popularity"], dtype=float)
    else:
        scores = np.asarray(model["popularity"], dtype=float)
    order = [i for i in np.argsort(-scores, kind="stable") if i not in seen]
    return [items[i] for i in order[:k]]


def ranking_metrics(model: dict, held_out: pd.DataFrame, user: str, item: str, k: int) -> dict:
    precisions, recalls, ndcgs = [], [], []
    for user_id, group in held_out.groupby(user, sort=True):
        relevant = set(group[item])
        ranked = recommend(model, user_id, k)
        hits = [1.0 if candidate in relevant else 0.0 for candidate in ranked]
        precisions.append(sum(hits) / k)
        recalls.append(sum(hits) / len(relevant))
        dcg = sum(hit / np.log2(position + 2) for position, hit in enumerate(hits))
        ideal = sum(1 / np.log2(position + 2) for position in range(min(len(relevant), k)))
        ndcgs.append(dcg / ideal if ideal else 0.0)
    return {
        f"precision_at_{k}": float(np.mean(precisions)),
        f"recall_at_{k}": float(np.mean(recalls)),
        f"ndcg_at_{k}": float(np.mean(ndcgs)),
        "users_evaluated": len(precisions),
    }


def _fit(train, users, items, spec, components, content_frame):
    matrix = _matrix(train, users, items, spec.user_column, spec.item_column)
    components = max(1, min(components, min(matrix.shape) - 1))
    svd = TruncatedSVD(n_components=components, random_state=spec.seed)
    user_factors = svd.fit_transform(matrix)
    item_list = list(items)
    model = {
        "factorizer": svd,
        "items": item_list,
        "item_position": {item_id: i for i, item_id in enumerate(item_list)},
        "user_index": dict(users),
        "user_factors": user_factors,
        "item_factors": svd.components_.T,
        "seen": [matrix[row].indices.tolist() for row in range(matrix.shape[0])],
        "popularity": np.asarray(matrix.sum(axis=0)).ravel().tolist(),
        "content": None,
    }
    if content_frame is not None:
        columns = list(spec.item_features)
        content = as_categorical_strings(content_frame, columns)
        pipeline = Pipeline([("prep", preprocessor(content, columns))]).fit(content)
        model["content"] = pipeline
        # Plain arrays, no KD-tree: the server refuses tree indexes it cannot validate.
        model["content_vectors"] = np.asarray(pipeline.transform(content), dtype=float)
    return model


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    if not (spec.user_column and spec.item_column):
        raise ValueError("recommendation needs user_column and item_column")
    events = frame.dropna(subset=[spec.user_column, spec.item_column])
    train, held_out = split_by_user(events, spec.user_column, spec.test_fraction, spec.seed)
    users = {u: i for i, u in enumerate(sorted(events[spec.user_column].unique()))}
    items = {t: i for i, t in enumerate(sorted(events[spec.item_column].unique()))}
    content_frame = None
    if spec.item_features:
        content_frame = (
            events.drop_duplicates(spec.item_column)
            .set_index(spec.item_column)
            .reindex(list(items))
            .reset_index()
        )

    def objective(trial):
        model = _fit(
            train,
            users,
            items,
            spec,
            trial.suggest_int("components", 2, 64, log=True),
            content_frame,
        )
        metrics = ranking_metrics(model, held_out, spec.user_column, spec.item_column, spec.top_k)
        return metrics[f"ndcg_at_{spec.top_k}"], metrics

    study, trials = run_study(
        spec=spec,
        direction="maximize",
        objective=objective,
        on_trial=on_trial,
        storage=storage,
        study_name=study_name,
    )
    best = _fit(train, users, items, spec, study.best_trial.params["components"], content_frame)
    metrics = ranking_metrics(best, held_out, spec.user_column, spec.item_column, spec.top_k)
    return RecipeResult(
        model=best,
        best_params=dict(study.best_trial.params),
        metrics=rounded(metrics),
        trials=trials,
        signature={
            "inputs": [{"name": spec.user_column, "type": "id"}],
            "outputs": [{"name": "items", "type": "list", "k": spec.top_k}],
        },
        reference_profile={"users": len(users), "items": len(items), "events": len(events)},
        feature_columns=[spec.user_column, spec.item_column],
    )
