"""Console pages of experiments and runs: the experiment list, one experiment with its runs,
one run (params, tags, latest metrics, inputs, charts over steps) and runs side by side.

Charts load lazily (htmx) from `run_chart` and `run_compare_chart`: a run page with twenty
metric keys opens at once, and each chart costs two queries when it scrolls into view.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry.console.charts import line_chart
from registry.console.pages import page_of, visible_or_404
from registry.models import Experiment, Run
from registry.selectors import experiments as experiment_selectors
from registry.selectors import models as model_selectors
from registry.selectors import runs as run_selectors
from registry.selectors.metric_series import metric_series

COMPARE_MIN, COMPARE_MAX = 2, 4
# The run table shows this many metric columns; the run page shows every key.
RUN_TABLE_METRICS = 5
MAX_CHARTS = 24
SHOW_CHOICES = ("active", "deleted", "all")


@login_required
@require_GET
def experiment_list(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "active")
    if show not in SHOW_CHOICES:
        show = "active"
    query = request.GET.get("q", "").strip()[:200]
    experiments = experiment_selectors.experiment_list(
        acting_user=request.user, lifecycle_stage=show
    ).annotate(
        run_count=Count("runs", filter=Q(runs__lifecycle_stage=Experiment.Lifecycle.ACTIVE)),
        last_run_at=Max("runs__start_time"),
    )
    if query:
        experiments = experiments.filter(name__icontains=query)
    return render(
        request,
        "registry/experiment_list.html",
        {
            "section": "experiments",
            "page": page_of(request, experiments),
            "query": query,
            "show": show,
            "can_add": request.user.has_perm("registry.add_experiment"),
        },
    )


def _metric_columns(runs) -> list[str]:
    keys: set[str] = set()
    for run in runs:
        keys.update(metric.key for metric in run.latest_metrics.all())
    return sorted(keys)[:RUN_TABLE_METRICS]


@login_required
@require_GET
def experiment_detail(request: HttpRequest, experiment_pk: int) -> HttpResponse:
    experiment = visible_or_404(
        experiment_selectors.experiment_get, acting_user=request.user, experiment_id=experiment_pk
    )
    runs = (
        run_selectors.run_list(acting_user=request.user, lifecycle_stage="all")
        .filter(experiment=experiment, lifecycle_stage=Experiment.Lifecycle.ACTIVE)
        .order_by("-start_time", "-id")
    )
    page = page_of(request, runs)
    columns = _metric_columns(page.object_list)
    for run in page.object_list:
        latest = {metric.key: metric.value for metric in run.latest_metrics.all()}
        run.metric_cells = [latest.get(key) for key in columns]
    return render(
        request,
        "registry/experiment_detail.html",
        {
            "section": "experiments",
            "experiment": experiment,
            "page": page,
            "metric_columns": columns,
            "compare_min": COMPARE_MIN,
            "compare_max": COMPARE_MAX,
        },
    )


@login_required
@require_GET
def run_detail(request: HttpRequest, run_pk: int) -> HttpResponse:
    run = visible_or_404(run_selectors.run_get, acting_user=request.user, run_id=run_pk)
    latest = list(run.latest_metrics.all())
    model_versions = (
        model_selectors.model_version_list(acting_user=request.user).filter(run_id=run.pk)[:20]
    )
    return render(
        request,
        "registry/run_detail.html",
        {
            "section": "experiments",
            "run": run,
            "experiment": run.experiment,
            "latest_metrics": latest,
            "chart_keys": [metric.key for metric in latest][:MAX_CHARTS],
            "more_charts": max(0, len(latest) - MAX_CHARTS),
            "model_versions": model_versions,
        },
    )


@login_required
@require_GET
def run_chart(request: HttpRequest, run_pk: int) -> HttpResponse:
    """One metric of one run as an SVG chart (an htmx fragment)."""
    run = visible_or_404(run_selectors.run_for_write, acting_user=request.user, run_id=run_pk)
    key = request.GET.get("key", "")[:250]
    chart = line_chart([metric_series(run=run, key=key)])
    return render(
        request,
        "registry/_chart.html",
        {"chart": chart, "title": key, "chart_id": f"{run.pk}-{request.GET.get('n', '0')}"},
    )


def _compared_runs(request: HttpRequest) -> list[Run]:
    """The runs named by `?run=` (2 to 4, in the order given), each visible, else 404."""
    ids: list[int] = []
    for value in request.GET.getlist("run"):
        if value.isdigit() and len(value) <= 18 and int(value) not in ids:
            ids.append(int(value))
    if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
        return []
    found = {
        run.pk: run
        for run in run_selectors.run_list(acting_user=request.user, lifecycle_stage="all")
        .filter(pk__in=ids)
        .select_related("experiment")
        .prefetch_related("params")
    }
    if len(found) != len(ids):
        raise Http404  # one of them is not visible: say nothing about which
    return [found[pk] for pk in ids]


def _side_by_side(runs: list[Run], kind: str) -> list[dict]:
    """Rows of `kind` (params, tags or latest_metrics) with one cell per run; `differs`
    marks rows whose values are not all the same."""
    per_run = [
        {item.key: item.value for item in getattr(run, kind).all()} for run in runs
    ]
    keys = sorted({key for values in per_run for key in values})
    rows = []
    for key in keys:
        cells = [values.get(key) for values in per_run]
        rows.append({"key": key, "cells": cells, "differs": len({repr(c) for c in cells}) > 1})
    return rows


@login_required
@require_GET
def run_compare(request: HttpRequest) -> HttpResponse:
    runs = _compared_runs(request)
    if not runs:
        return render(
            request,
            "registry/run_compare.html",
            {"section": "experiments", "runs": [], "compare_min": COMPARE_MIN,
             "compare_max": COMPARE_MAX},
            status=400 if request.GET.getlist("run") else 200,
        )
    metrics = _side_by_side(runs, "latest_metrics")
    return render(
        request,
        "registry/run_compare.html",
        {
            "section": "experiments",
            "runs": runs,
            "params": _side_by_side(runs, "params"),
            "tags": _side_by_side(runs, "tags"),
            "metrics": metrics,
            "chart_keys": [row["key"] for row in metrics][:MAX_CHARTS],
            "run_query": "&".join(f"run={run.pk}" for run in runs),
        },
    )


@login_required
@require_GET
def run_compare_chart(request: HttpRequest) -> HttpResponse:
    """One metric of the compared runs in one chart, a series per run (an htmx fragment)."""
    runs = _compared_runs(request)
    if not runs:
        raise Http404
    key = request.GET.get("key", "")[:250]
    chart = line_chart(
        [metric_series(run=run, key=key) for run in runs],
        labels=[run.name or run.uuid.hex[:8] for run in runs],
    )
    return render(
        request,
        "registry/_chart.html",
        {"chart": chart, "title": key, "chart_id": f"compare-{request.GET.get('n', '0')}"},
    )
