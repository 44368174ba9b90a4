"""Console pages of datasets: the list, one dataset with its versions, one version with its
schema, and the download of a version's file (for holders of `download` only)."""

from __future__ import annotations

import re

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from registry import permissions
from registry.console.pages import page_of, visible_or_404
from registry.models import DatasetVersion
from registry.selectors import datasets as selectors
from registry.services import datasets as services

_MEDIA_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def _column_rows(version: DatasetVersion) -> list[dict]:
    """The version's columns with the roles declared for them (target, sensitive, PII)."""
    sensitive = set(version.sensitive_attributes or [])
    pii = set(version.pii_columns or [])
    return [
        {
            "name": column.get("name", ""),
            "dtype": column.get("dtype", ""),
            "target": column.get("name") == version.target,
            "sensitive": column.get("name") in sensitive,
            "pii": column.get("name") in pii,
        }
        for column in version.columns or []
    ]


@login_required
@require_GET
def dataset_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:200]
    datasets = selectors.dataset_list(acting_user=request.user)
    if query:
        datasets = datasets.filter(name__icontains=query)
    return render(
        request,
        "registry/dataset_list.html",
        {
            "section": "datasets",
            "page": page_of(request, datasets),
            "query": query,
            "can_add": request.user.has_perm("registry.add_dataset"),
        },
    )


@login_required
@require_GET
def dataset_detail(request: HttpRequest, dataset_pk: int) -> HttpResponse:
    dataset = visible_or_404(
        selectors.dataset_get, acting_user=request.user, dataset_id=dataset_pk
    )
    page = page_of(request, selectors.dataset_version_list(dataset=dataset), per_page=20)
    for version in page:
        version.column_rows = _column_rows(version)
    return render(
        request,
        "registry/dataset_detail.html",
        {
            "section": "datasets",
            "dataset": dataset,
            "page": page,
            "can_download": permissions.has_object_permission(request.user, dataset, "download"),
        },
    )


@login_required
@require_GET
def dataset_version_detail(request: HttpRequest, dataset_pk: int, version: int) -> HttpResponse:
    dataset = visible_or_404(
        selectors.dataset_get, acting_user=request.user, dataset_id=dataset_pk
    )
    found = visible_or_404(selectors.dataset_version_get, dataset=dataset, version=version)
    usage = selectors.dataset_version_usage(found)
    return render(
        request,
        "registry/dataset_version.html",
        {
            "section": "datasets",
            "dataset": dataset,
            "version": found,
            "columns": _column_rows(found),
            # Counts only: the runs themselves may be in experiments the user cannot see.
            "run_count": len(usage["runs"]),
            "model_version_count": len(usage["model_versions"]),
            "can_download": permissions.has_object_permission(request.user, dataset, "download"),
        },
    )


@login_required
@require_GET
def dataset_version_download(request: HttpRequest, dataset_pk: int, version: int):
    dataset = visible_or_404(
        selectors.dataset_get, acting_user=request.user, dataset_id=dataset_pk
    )
    found = visible_or_404(selectors.dataset_version_get, dataset=dataset, version=version)
    if not permissions.has_object_permission(request.user, dataset, "download"):
        raise PermissionDenied
    chunks = services.dataset_version_download(acting_user=request.user, version=found)
    name = _UNSAFE_FILE_CHARS.sub("_", dataset.name)[:100] or "dataset"
    response = StreamingHttpResponse(
        chunks, content_type=_MEDIA_TYPES.get(found.file_format, "application/octet-stream")
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{name}-v{found.version}.{found.file_format}"'
    )
    response["Content-Length"] = str(found.artifact.size_bytes)
    response["Cache-Control"] = "no-store"
    return response

