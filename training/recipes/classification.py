"""Classification: logistic regression, random forest or gradient boosting, chosen and
tuned by the search on cross-validated ROC-AUC (binary) or macro F1 (multi-class)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline

from training.recipes.base import (
    RecipeResult,
    TrialCallback,
    as_categorical_strings,
    model_signature,
    preprocessor,
    reference_profile,
    rounded,
    run_study,
)
from training.spec import TrainingSpec, feature_columns

NEEDS_TARGET = True


def _estimator(trial, seed: int):
    kind = trial.suggest_categorical(
        "model", ["logistic_regression", "random_forest", "gradient_boosting"]
    )
    if kind == "logistic_regression":
        return LogisticRegression(C=trial.suggest_float("C", 1e-3, 1e2, log=True), max_iter=2000)
    if kind == "random_forest":
        return RandomForestClassifier(
            n_estimators=trial.suggest_int("n_estimators", 20, 100, step=20),
            max_depth=trial.suggest_int("max_depth", 2, 12),
            min_samples_leaf=trial.suggest_int("min_samples_leaf", 1, 10),
            random_state=seed,
            n_jobs=1,
        )
    return HistGradientBoostingClassifier(
        learning_rate=trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        max_depth=trial.suggest_int("gb_max_depth", 2, 8),
        max_iter=trial.suggest_int("max_iter", 20, 100, step=20),
        random_state=seed,
    )


def classification_metrics(y_true, y_pred, y_score, labels) -> dict:
    binary = len(labels) == 2
    average = "binary" if binary else "macro"
    pos_label = labels[1] if binary else 1
    kwargs = {"average": average, "zero_division": 0}
    if binary:
        kwargs["pos_label"] = pos_label
    metrics = {
        "precision": float(precision_score(y_true, y_pred, **kwargs)),
        "recall": float(recall_score(y_true, y_pred, **kwargs)),
        "f1": float(f1_score(y_true, y_pred, **kwargs)),
        "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred))),
        "confusion_matrix": {
            "labels": [str(label) for label in labels],
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
    if binary:
        positive = np.asarray(y_true) == pos_label
        metrics["roc_auc"] = float(roc_auc_score(positive, y_score[:, 1]))
        metrics["pr_auc"] = float(average_precision_score(positive, y_score[:, 1]))
    else:
        metrics["roc_auc"] = float(roc_auc_score(y_true, y_score, multi_class="ovr", labels=labels))
    return metrics


def run(
    frame: pd.DataFrame,
    spec: TrainingSpec,
    on_trial: TrialCallback | None = None,
    storage=None,
    study_name=None,
) -> RecipeResult:
    columns = feature_columns(spec, list(frame.columns))
    data = frame.dropna(subset=[spec.target])
    x = as_categorical_strings(data, columns)
    y = data[spec.target].astype(str).to_numpy()
    labels = sorted(set(y))
    if len(labels) < 2:
        raise ValueError("the target has a single class; classification needs two or more")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=spec.test_fraction, random_state=spec.seed, stratify=y
    )
    scoring = "roc_auc" if len(labels) == 2 else "f1_macro"
    folds = StratifiedKFold(n_splits=spec.folds, shuffle=True, random_state=spec.seed)

    def objective(trial):
        pipeline = Pipeline(
            [("prep", preprocessor(x_train, columns)), ("model", _estimator(trial, spec.seed))]
        )
        scores = cross_val_score(pipeline, x_train, y_train, cv=folds, scoring=scoring)
        return float(scores.mean()), {
            f"cv_{scoring}": float(scores.mean()),
            f"cv_{scoring}_std": float(scores.std()),
        }

    study, trials = run_study(
        spec=spec,
        direction="maximize",
        objective=objective,
        on_trial=on_trial,
        storage=storage,
        study_name=study_name,
    )
    best = Pipeline(
        [
            ("prep", preprocessor(x_train, columns)),
            ("model", _estimator(study.best_trial, spec.seed)),
        ]
    )
    best.fit(x_train, y_train)
    metrics = classification_metrics(
        y_test, best.predict(x_test), best.predict_proba(x_test), list(best.classes_)
    )
    metrics[f"cv_{scoring}"] = float(study.best_value)
    return RecipeResult(
        model=best,
        best_params=dict(study.best_trial.params),
        metrics=rounded(metrics),
        trials=trials,
        signature=model_signature(
            x,
            columns,
            {"name": spec.target, "type": "category", "classes": [str(c) for c in best.classes_]},
        ),
        reference_profile=reference_profile(data, columns),
        feature_columns=columns,
        extras={"test_index": [int(i) for i in np.asarray(x_test.index)]},
    )
