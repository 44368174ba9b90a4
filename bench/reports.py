"""Evaluation-report computations at size, each beside the library way of doing it.

1. Fairness: the report (`training.reports.fairness.fairness_report`) for 1,000,000
   predictions and one sensitive attribute with 100 groups, beside fairlearn's
   MetricFrame on the same data in the same run, with the same five per-group metrics
   (count, selection rate, TPR, FPR, accuracy) and its `difference()` and `ratio()`;
   the figures of both are compared (largest absolute difference).
2. Explanations: the report (`training.reports.explanations.explanation_report`,
   TreeExplainer, additivity check, grouping, local rows) for 1,000 rows x 20 features
   of a recipe-shaped random forest (the recipes' preprocessor, 100 trees, depth 8),
   beside shap's KernelExplainer on 10 rows of the same model (50 background rows,
   shap's default number of coalitions).

Everything runs with one BLAS/OpenMP thread (threadpoolctl), as an evaluation worker
runs, so neither side gets cores the other does not. The fast paths are timed
--repeat times (median); fairlearn and KernelExplainer once (tens of seconds each).
No database is used. Prints a table, then exactly one JSON line of the figures, each
goal figure beside its goal:

    fairness report <= 2 s and >= 10x faster than MetricFrame; explanations <= 2 s.

Usage: .venv/bin/python bench/reports.py [--rows 1000000] [--groups 100] [--repeat 3]
       [--deep]  (also explain the recipes' largest forest, depth 12, for information)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shap  # noqa: E402
from fairlearn.metrics import (  # noqa: E402
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.metrics import accuracy_score  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from training.recipes.base import preprocessor  # noqa: E402
from training.reports.explanations import explanation_report  # noqa: E402
from training.reports.fairness import fairness_report  # noqa: E402

GOAL_FAIRNESS_S = 2.0
GOAL_SPEEDUP = 10.0
GOAL_EXPLAIN_S = 2.0
METRICS = {
    "count": count,
    "selection_rate": selection_rate,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "accuracy": accuracy_score,
}


CPU_SECONDS: dict[str, list[float]] = {}


def timed(run: Callable[[], object], name: str = "") -> tuple[float, object]:
    """Wall seconds of `run()` and its result; its CPU seconds go to CPU_SECONDS[name], so
    that a slow figure on a busy machine can be told from a slow computation."""
    start, cpu = time.perf_counter(), time.process_time()
    result = run()
    CPU_SECONDS.setdefault(name, []).append(time.process_time() - cpu)
    return time.perf_counter() - start, result


def fairness_data(rows: int, groups: int, seed: int = 0):
    """Predictions whose selection rate and accuracy vary by group."""
    rng = np.random.default_rng(seed)
    names = np.array([f"group-{k:03d}" for k in range(groups)], dtype=object)
    codes = rng.integers(0, groups, rows)
    base = rng.uniform(0.2, 0.6, groups)[codes]
    y_true = (rng.uniform(size=rows) < base).astype(np.int64)
    accuracy = rng.uniform(0.7, 0.95, groups)[codes]
    y_pred = np.where(rng.uniform(size=rows) < accuracy, y_true, 1 - y_true)
    return y_true, y_pred, pd.DataFrame({"group": names[codes]})


def fairlearn_figures(y_true, y_pred, sensitive) -> dict:
    frame = MetricFrame(
        metrics=METRICS, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive["group"]
    )
    difference, ratio = frame.difference(), frame.ratio()
    return {
        "by_group": frame.by_group,
        "demographic_parity_difference": difference["selection_rate"],
        "demographic_parity_ratio": ratio["selection_rate"],
        "equalized_odds_difference": max(
            [difference["true_positive_rate"], difference["false_positive_rate"]]
        ),
        "equalized_odds_ratio": min([ratio["true_positive_rate"], ratio["false_positive_rate"]]),
    }


def largest_difference(report: dict, theirs: dict) -> float:
    breakdown = report["breakdowns"][0]
    worst = 0.0
    for group in breakdown["groups"]:
        row = theirs["by_group"].loc[group["group"]["group"]]
        for name in METRICS:
            worst = max(worst, abs(group[name] - float(row[name])))
    for name in (
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
    ):
        worst = max(worst, abs(breakdown[name] - float(theirs[name])))
    return worst


def forest(depth: int, seed: int = 0) -> tuple[Pipeline, pd.DataFrame]:
    """A recipe-shaped random forest on 5,000 rows x 20 numeric features; the frame
    returned holds 1,000 other rows to explain."""
    rng = np.random.default_rng(seed)
    columns = [f"f{k:02d}" for k in range(20)]
    x = pd.DataFrame(rng.normal(size=(6000, 20)), columns=columns)
    signal = x["f00"] + x["f01"] * x["f02"] - 0.5 * x["f03"] + rng.normal(0, 0.5, 6000)
    y = np.where(signal > 0, "yes", "no")
    model = Pipeline(
        [
            ("prep", preprocessor(x, columns)),
            (
                "model",
                RandomForestClassifier(
                    n_estimators=100,
                    max_depth=depth,
                    min_samples_leaf=5,
                    random_state=seed,
                    n_jobs=1,
                ),
            ),
        ]
    ).fit(x[:5000], y[:5000])
    return model, x[5000:].reset_index(drop=True)


def kernel_baseline(model: Pipeline, x: pd.DataFrame, rows: int) -> float:
    """KernelExplainer, as shap's docs show it, on the same model's features."""
    matrix = model[:-1].transform(x)
    background = shap.sample(matrix, 50, random_state=0)
    explainer = shap.KernelExplainer(model[-1].predict_proba, background)
    seconds, _ = timed(lambda: explainer.shap_values(matrix[:rows], silent=True), "kernel")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kernel-rows", type=int, default=10)
    parser.add_argument("--deep", action="store_true", help="also explain a depth-12 forest")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    with threadpool_limits(limits=1):
        y_true, y_pred, sensitive = fairness_data(args.rows, args.groups)

        def ours():
            return fairness_report(
                y_true=y_true,
                y_pred=y_pred,
                sensitive=sensitive,
                task="classification",
                positive_label=1,
            )

        ours()  # warm-up: imports, first allocations
        fairness_runs, report = [], None
        for _ in range(args.repeat):
            seconds, report = timed(ours, "fairness")
            fairness_runs.append(seconds)
        fairness_s = statistics.median(fairness_runs)
        fairlearn_s, theirs = timed(
            lambda: fairlearn_figures(y_true, y_pred, sensitive), "fairlearn"
        )
        difference = largest_difference(report, theirs)  # type: ignore[arg-type]
        speedup = fairlearn_s / fairness_s

        model, x = forest(depth=8)
        nodes = sum(tree.tree_.node_count for tree in model[-1].estimators_)
        explanation_report(model, x.iloc[:20])  # warm-up
        explain_runs, explained = [], None
        for _ in range(args.repeat):
            seconds, explained = timed(lambda: explanation_report(model, x), "explain")
            explain_runs.append(seconds)
        explain_s = statistics.median(explain_runs)
        kernel_s = kernel_baseline(model, x, args.kernel_rows)
        deep_s = deep_nodes = None
        if args.deep:
            deep_model, _ = forest(depth=12)
            deep_nodes = sum(tree.tree_.node_count for tree in deep_model[-1].estimators_)
            deep_s, _ = timed(lambda: explanation_report(deep_model, x), "deep")

    rows_explained = explained["rows_explained"]  # type: ignore[index]
    additivity = explained["additivity"]  # type: ignore[index]
    per_row_tree = explain_s / rows_explained
    per_row_kernel = kernel_s / args.kernel_rows
    print(
        f"mlgov reports bench: {args.rows:,} predictions x {args.groups} groups; forest of "
        f"100 trees, depth 8 ({nodes:,} nodes), 20 features; one BLAS/OpenMP thread; "
        f"Python {sys.version.split()[0]}, shap {shap.__version__}"
    )
    cpu = {name: statistics.median(values) for name, values in CPU_SECONDS.items()}
    print(f"{'phase':<58} {'wall s':>8} {'CPU s':>8} {'per row (ms)':>13}")
    table = [
        ("fairness report (vectorised), median", fairness_s, "fairness", None),
        (
            "  fairlearn MetricFrame + difference/ratio, same figures",
            fairlearn_s,
            "fairlearn",
            None,
        ),
        (
            f"explanations, {rows_explained} rows (TreeExplainer), median",
            explain_s,
            "explain",
            per_row_tree,
        ),
        (f"  KernelExplainer, {args.kernel_rows} rows", kernel_s, "kernel", per_row_kernel),
    ]
    if deep_s is not None:
        table.append(
            (f"  info: explanations, depth-12 forest ({deep_nodes:,} nodes)", deep_s, "deep", None)
        )
    for name, seconds, key, per_row in table:
        per = f"{per_row * 1000:>13.2f}" if per_row is not None else f"{'':>13}"
        print(f"{name:<58} {seconds:>8.3f} {cpu[key]:>8.3f} {per}")
    print(
        f"fairness: {speedup:.1f}x faster than MetricFrame, largest difference from fairlearn "
        f"{difference:.1e}; explanations: additivity max error {additivity['max_error']:.1e} "
        f"({'passed' if additivity['passed'] else 'FAILED'}); tree per row "
        f"{per_row_kernel / per_row_tree:.0f}x faster than kernel per row"
    )
    print(
        f"goals: fairness report <= {GOAL_FAIRNESS_S} s and >= {GOAL_SPEEDUP}x MetricFrame; "
        f"explanations of 1,000 rows <= {GOAL_EXPLAIN_S} s"
    )
    figures = {
        "bench": "reports",
        "rows": args.rows,
        "groups": args.groups,
        "threads": 1,
        "fairness_report_s": {
            "value": round(fairness_s, 3),
            "goal": f"<= {GOAL_FAIRNESS_S}",
            "met": fairness_s <= GOAL_FAIRNESS_S,
        },
        "fairness_speedup_vs_metricframe": {
            "value": round(speedup, 1),
            "goal": f">= {GOAL_SPEEDUP}",
            "met": speedup >= GOAL_SPEEDUP,
        },
        "explanations_1000_rows_s": {
            "value": round(explain_s, 3),
            "goal": f"<= {GOAL_EXPLAIN_S}",
            "met": explain_s <= GOAL_EXPLAIN_S,
        },
        "fairness_report_cpu_s": round(cpu["fairness"], 3),
        "explanations_cpu_s": round(cpu["explain"], 3),
        "metricframe_s": round(fairlearn_s, 3),
        "max_abs_difference_vs_fairlearn": difference,
        "fairness_runs_s": [round(s, 3) for s in fairness_runs],
        "explanation_runs_s": [round(s, 3) for s in explain_runs],
        "forest_nodes": nodes,
        "additivity_max_error": additivity["max_error"],
        "kernel_rows": args.kernel_rows,
        "kernel_s": round(kernel_s, 3),
        "kernel_ms_per_row": round(per_row_kernel * 1000, 1),
        "tree_ms_per_row": round(per_row_tree * 1000, 3),
        "deep_forest_explanations_s": round(deep_s, 3) if deep_s is not None else None,
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
