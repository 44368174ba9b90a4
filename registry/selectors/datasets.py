"""Reads of datasets and their versions, restricted to what the acting user may see,
and the usage of dataset versions by runs and model versions (lineage)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db.models import Count, Max, Q, QuerySet

from mlgov.api.viewsets import restrict
from registry.models import (
    Dataset,
    DatasetVersion,
    LineageEdge,
    ModelVersion,
    Run,
    RunDatasetInput,
)


def dataset_list(*, acting_user: User) -> QuerySet[Dataset]:
    """Datasets the user may see (role or object grant), with version count and latest."""
    queryset = Dataset.objects.select_related("created_by").annotate(
        version_count=Count("versions"), latest_version=Max("versions__version")
    )
    return restrict(queryset, acting_user, "view").order_by("name")


def dataset_get(*, acting_user: User, dataset_id: int) -> Dataset:
    """One visible dataset; Dataset.DoesNotExist for one the user may not see."""
    return dataset_list(acting_user=acting_user).get(pk=dataset_id)


def dataset_version_list(*, dataset: Dataset) -> QuerySet[DatasetVersion]:
    """Versions of a dataset the caller already got through `dataset_get` (they inherit
    its permissions), newest first."""
    return (
        DatasetVersion.objects.filter(dataset=dataset)
        .select_related("artifact", "created_by")
        .order_by("-version")
    )


def dataset_version_get(*, dataset: Dataset, version: int) -> DatasetVersion:
    """One version of a visible dataset; DatasetVersion.DoesNotExist otherwise."""
    return dataset_version_list(dataset=dataset).get(version=version)


def _edge_targets(version_ids: Iterable[int], target_type: str) -> set[int]:
    """Primary keys of the `target_type` nodes lineage edges lead to from the versions
    (node ids are primary keys as text: registry/services/lineage.py)."""
    targets = LineageEdge.objects.filter(
        source_type=LineageEdge.NodeType.DATASET_VERSION,
        source_id__in=[str(pk) for pk in version_ids],
        target_type=target_type,
    ).values_list("target_id", flat=True)
    return {int(target) for target in targets if target.isdigit()}


def _usage(version_ids: list[int]) -> dict:
    if not version_ids:
        return {"runs": [], "model_versions": []}
    edge_run_ids = _edge_targets(version_ids, LineageEdge.NodeType.RUN)
    edge_model_ids = _edge_targets(version_ids, LineageEdge.NodeType.MODEL_VERSION)
    used_by_runs = Q(
        pk__in=RunDatasetInput.objects.filter(dataset_version_id__in=version_ids).values("run_id")
    )
    runs = [
        {**run, "uuid": run["uuid"].hex}
        for run in Run.objects.filter(used_by_runs | Q(pk__in=edge_run_ids))
        .order_by("pk")
        .values("id", "uuid", "experiment_id", "name")
    ]
    model_versions = list(
        ModelVersion.objects.filter(
            Q(run_id__in=[run["id"] for run in runs]) | Q(pk__in=edge_model_ids)
        )
        .order_by("pk")
        .values("id", "registered_model_id", "version", "run_id")
    )
    return {"runs": runs, "model_versions": model_versions}


def dataset_version_usage(version: DatasetVersion) -> dict:
    """Runs that consumed `version` (RunDatasetInput or a lineage edge) and model versions
    made by those runs or linked to it: `{"runs": [...], "model_versions": [...]}`.

    Not restricted to the acting user: it answers "may this be deleted?" for the whole
    tenant. Show callers counts, not the runs, unless they may see them.
    """
    return _usage([version.pk])


def dataset_usage(dataset: Dataset) -> dict:
    """`dataset_version_usage` over every version of `dataset` at once."""
    return _usage(list(dataset.versions.values_list("pk", flat=True)))
