"""Reads of runs and what they logged, restricted to runs of experiments the user may view.

A run inherits its experiment's permissions: the run list filters on the ids of visible
experiments (one subquery), and the pieces of a run (params, tags, latest metrics, inputs,
files) are read only through a run the caller already got from here.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import (
    Case,
    CharField,
    Func,
    IntegerField,
    Max,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import StrIndex, Substr

from registry import permissions
from registry.models import (
    Experiment,
    Run,
    RunArtifact,
    RunDatasetInput,
    RunMetric,
    RunMetricLatest,
    RunParam,
    RunTag,
)
from registry.selectors.experiments import visible_experiment_ids

ACTIVE = Experiment.Lifecycle.ACTIVE
DELETED = Experiment.Lifecycle.DELETED


def run_list(*, acting_user: User, lifecycle_stage: str = "active") -> QuerySet[Run]:
    """Runs of experiments the user may view, with tags and latest metrics prefetched.

    "active" hides deleted runs and the runs of deleted experiments; "deleted" shows
    deleted runs only; "all" shows everything visible.
    """
    queryset = Run.objects.filter(experiment_id__in=visible_experiment_ids(acting_user=acting_user))
    if lifecycle_stage == "active":
        queryset = queryset.filter(lifecycle_stage=ACTIVE, experiment__lifecycle_stage=ACTIVE)
    elif lifecycle_stage == "deleted":
        queryset = queryset.filter(lifecycle_stage=DELETED)
    return queryset.select_related("created_by").prefetch_related(
        Prefetch("tags", queryset=RunTag.objects.order_by("key")),
        Prefetch("latest_metrics", queryset=RunMetricLatest.objects.order_by("key")),
    )


def run_get(*, acting_user: User, run_id: int) -> Run:
    """One visible run (deleted ones too) with its experiment, params, tags, latest metrics
    and dataset inputs, in a fixed number of queries; Run.DoesNotExist otherwise."""
    return (
        run_list(acting_user=acting_user, lifecycle_stage="all")
        .select_related("experiment")
        .prefetch_related(
            Prefetch("params", queryset=RunParam.objects.order_by("key")),
            Prefetch(
                "dataset_inputs",
                queryset=RunDatasetInput.objects.select_related("dataset_version__dataset")
                .order_by("pk"),
            ),
        )
        .get(pk=run_id)
    )


def run_for_write(*, acting_user: User, run_id: int) -> Run:
    """One visible run with its experiment, nothing prefetched (writes load what they need);
    Run.DoesNotExist for a run the user may not see.

    One row and a permission check on its experiment (cached role permissions, or the
    object's grants), cheaper than the list's subquery on the hot metric-logging path.
    """
    run = Run.objects.select_related("experiment").get(pk=run_id)
    if not permissions.has_object_permission(acting_user, run.experiment, "view"):
        raise Run.DoesNotExist
    return run


def run_latest_metrics(*, run: Run) -> QuerySet[RunMetricLatest]:
    """The latest point of each metric key of the run, by key."""
    return RunMetricLatest.objects.filter(run=run).order_by("key")


def metric_history_page(
    *, run: Run, key: str, after: tuple[int, int, int] | None, limit: int
) -> list[tuple[int, int, float, int]]:
    """One page of a metric's history ordered by (step, timestamp, id), after the keyset
    `after`; never the whole history at once (MLflow loads it all: PITFALLS.md)."""
    queryset = RunMetric.objects.filter(run=run, key=key)
    if after is not None:
        step, timestamp, point_id = after
        queryset = queryset.filter(
            Q(step__gt=step)
            | Q(step=step, timestamp__gt=timestamp)
            | Q(step=step, timestamp=timestamp, pk__gt=point_id)
        )
    return list(
        queryset.order_by("step", "timestamp", "pk").values_list(
            "step", "timestamp", "value", "pk"
        )[:limit]
    )


def run_dataset_inputs(*, run: Run) -> QuerySet[RunDatasetInput]:
    return RunDatasetInput.objects.filter(run=run).select_related(
        "dataset_version__dataset"
    ).order_by("pk")


def run_artifact_get(*, run: Run, path: str) -> RunArtifact:
    """One file of the run by its normalised name; RunArtifact.DoesNotExist otherwise."""
    return RunArtifact.objects.select_related("artifact").get(run=run, path=path)


def run_artifact_children(*, run: Run, directory: str) -> QuerySet:
    """Direct children of `directory` ("" for the top) in one grouped query: files with
    size and digest, folders once each (is_dir first, then by name)."""
    prefix = f"{directory.rstrip('/')}/" if directory else ""
    rest = Substr("path", len(prefix) + 1)
    return (
        RunArtifact.objects.filter(run=run, path__startswith=prefix)
        .annotate(
            slash=StrIndex(rest, Value("/")),
            name=Func(rest, Value("/"), Value(1), function="split_part", output_field=CharField()),
        )
        .annotate(
            is_dir=Case(When(slash__gt=0, then=Value(1)), default=Value(0),
                        output_field=IntegerField())
        )
        .values("name", "is_dir")
        .annotate(
            size_bytes=Max("artifact__size_bytes"),
            sha256=Max("artifact__sha256"),
        )
        .order_by("-is_dir", "name")
    )
