"""Runs under /t/<slug>/api/v1/runs/: parse, call a service, map its errors.

A run inherits its experiment's permissions: the selectors show only runs of experiments
the caller may view (404 otherwise) and the services refuse writes without `change` on
the experiment (403). Metric batches and history bypass DRF serializers on purpose: one
serializer per point costs more than the whole insert (PITFALLS.md, DRF#6328).
"""

from __future__ import annotations

import base64
import binascii
import time

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.viewsets import TenantGenericViewSet
from registry.api.experiments import LOOKUP, domain_error
from registry.api.run_serializers import (
    ArtifactEntryOutput,
    DatasetInputInput,
    DatasetInputOutput,
    LatestMetricOutput,
    ParamsInput,
    RunCreateInput,
    RunDetailOutput,
    RunFilter,
    RunOutput,
    RunUpdateInput,
    TagsInput,
)
from registry.models import Experiment, Run
from registry.selectors import experiments as experiment_selectors
from registry.selectors import runs as selectors
from registry.services import metrics, run_artifacts, runs
from registry.services.experiments import TrackingError

MAX_BATCH_BODY_BYTES = 64 * 1024 * 1024  # 100,000 points with long keys fit comfortably
HISTORY_DEFAULT_PAGE = 1_000
HISTORY_MAX_PAGE = 10_000

_LIFECYCLE = OpenApiParameter(
    "lifecycle_stage", str, enum=["active", "deleted", "all"],
    description="active (default: not deleted, in an active experiment), deleted or all",
)


def _cursor_out(row) -> str:
    step, timestamp, _value, point_id = row
    return base64.urlsafe_b64encode(f"{step}:{timestamp}:{point_id}".encode()).decode()


def _cursor_in(text: str) -> tuple[int, int, int]:
    try:
        step, timestamp, point_id = base64.urlsafe_b64decode(text.encode()).decode().split(":")
        return int(step), int(timestamp), int(point_id)
    except (ValueError, binascii.Error, UnicodeError):
        raise DomainError(
            status_code=400, code="invalid_cursor", message="The cursor is not one we issued."
        ) from None


class RunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantGenericViewSet
):
    """Runs of experiments the caller may see; writes need change on the experiment."""

    serializer_class = RunOutput
    lookup_value_regex = LOOKUP
    http_method_names = ["get", "post", "patch", "delete", "head"]
    permissions_required = {
        action_name: None  # role-independent: the experiment's permissions decide
        for action_name in (
            "list", "retrieve", "create", "partial_update", "destroy", "restore",
            "params", "tags", "tag_delete", "metrics_latest", "metrics_log",
            "metrics_history", "inputs", "input_add", "artifacts",
        )
    }
    filterset_class = RunFilter
    ordering_fields = ["start_time", "end_time", "name", "status", "id"]
    ordering = ["-start_time", "-id"]

    def initial(self, request, *args, **kwargs):
        self._started = time.perf_counter()
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Server-Timing (W3C): the view's own time, authentication included, so clients
        # and bench/registry.py can tell server time from transfer time.
        response = super().finalize_response(request, response, *args, **kwargs)
        started = getattr(self, "_started", None)
        if started is not None:
            response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Run.objects.none()
        stage = self.request.query_params.get("lifecycle_stage", "active")
        if stage not in experiment_selectors.LIFECYCLE_FILTERS:
            raise DomainError(
                status_code=400, code="invalid_lifecycle_stage",
                message="lifecycle_stage is active, deleted or all.",
            )
        return selectors.run_list(acting_user=self.request.user, lifecycle_stage=stage)

    def _run(self) -> Run:
        try:
            return selectors.run_for_write(acting_user=self.request.user, run_id=self.kwargs["pk"])
        except Run.DoesNotExist:
            raise NotFound() from None

    @extend_schema(parameters=[_LIFECYCLE])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=RunDetailOutput)
    def retrieve(self, request, *args, **kwargs):
        try:
            run = selectors.run_get(acting_user=request.user, run_id=kwargs["pk"])
        except Run.DoesNotExist:
            raise NotFound() from None
        return Response(RunDetailOutput(run).data)

    def _detail(self, run: Run, status_code: int = 200) -> Response:
        run = selectors.run_get(acting_user=self.request.user, run_id=run.pk)
        return Response(RunDetailOutput(run).data, status=status_code)

    @extend_schema(request=RunCreateInput, responses={201: RunDetailOutput})
    def create(self, request, *args, **kwargs):
        data = RunCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = request.user
        try:
            values["experiment"] = experiment_selectors.experiment_get(
                acting_user=user, experiment_id=values["experiment"]
            )
        except Experiment.DoesNotExist:
            raise _missing("experiment") from None
        if values.get("parent_run") is not None:
            try:
                values["parent_run"] = selectors.run_for_write(
                    acting_user=user, run_id=values["parent_run"]
                )
            except Run.DoesNotExist:
                raise _missing("parent_run") from None
        try:
            run = runs.run_create(acting_user=user, **values)
        except TrackingError as error:
            raise domain_error(error) from None
        return self._detail(run, status.HTTP_201_CREATED)

    @extend_schema(request=RunUpdateInput, responses=RunDetailOutput)
    def partial_update(self, request, pk=None, **kwargs):
        run = self._run()
        data = RunUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._call(runs.run_update, run, **data.validated_data)

    @extend_schema(request=None, responses=RunDetailOutput)
    def destroy(self, request, pk=None, **kwargs):
        """Soft delete (lifecycle_stage = deleted)."""
        return self._call(runs.run_delete, self._run())

    @extend_schema(request=None, responses=RunDetailOutput)
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None, **kwargs):
        return self._call(runs.run_restore, self._run())

    def _call(self, service, run: Run, **kwargs) -> Response:
        try:
            run = service(acting_user=self.request.user, run=run, **kwargs)
        except TrackingError as error:
            raise domain_error(error) from None
        return self._detail(run)

    @extend_schema(request=ParamsInput, responses=RunDetailOutput)
    @action(detail=True, methods=["post"])
    def params(self, request, pk=None, **kwargs):
        """Log params; a logged param never changes value (409 param_immutable)."""
        run = self._run()
        data = ParamsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            runs.run_params_log(acting_user=request.user, run=run, **data.validated_data)
        except TrackingError as error:
            raise domain_error(error) from None
        return self._detail(run)

    @extend_schema(request=TagsInput, responses=RunDetailOutput)
    @action(detail=True, methods=["post"])
    def tags(self, request, pk=None, **kwargs):
        """Set tags (an existing key takes the new value)."""
        run = self._run()
        data = TagsInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            runs.run_tags_set(acting_user=request.user, run=run, **data.validated_data)
        except TrackingError as error:
            raise domain_error(error) from None
        return self._detail(run)

    @extend_schema(
        request=None, responses=RunDetailOutput,
        parameters=[OpenApiParameter("key", str, required=True)],
    )
    @tags.mapping.delete
    def tag_delete(self, request, pk=None, **kwargs):
        """Remove the tag named by ?key=."""
        run = self._run()
        key = request.query_params.get("key")
        if not key:
            raise DomainError(status_code=400, code="invalid_tag", message="?key= is required.")
        try:
            runs.run_tag_delete(acting_user=request.user, run=run, key=key)
        except TrackingError as error:
            raise domain_error(error) from None
        return self._detail(run)

    # --- metrics -------------------------------------------------------------------------

    @extend_schema(request=None, responses=LatestMetricOutput(many=True))
    @action(detail=True, methods=["get"], url_path="metrics")
    def metrics_latest(self, request, pk=None, **kwargs):
        """The latest point of each metric key, paginated by key."""
        page = self.paginate_queryset(selectors.run_latest_metrics(run=self._run()))
        return self.get_paginated_response(LatestMetricOutput(page, many=True).data)

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
        description='{"metrics": [{"key", "value", "step", "timestamp"}] (at most 100,000), '
        '"params": [{"key", "value"}], "tags": [{"key", "value"}]}. Values are numbers or '
        '"NaN", "Infinity", "-Infinity"; step defaults to 0, timestamp (ms) to now.',
    )
    @metrics_latest.mapping.post
    def metrics_log(self, request, pk=None, **kwargs):
        """Log a batch of metric points (with params and tags) in a few SQL statements."""
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > MAX_BATCH_BODY_BYTES:
            raise DomainError(
                status_code=413, code="payload_too_large",
                message=f"A batch body is at most {MAX_BATCH_BODY_BYTES} bytes.",
            )
        run = self._run()
        body = request.data
        if not isinstance(body, dict) or not body.keys() <= {"metrics", "params", "tags"}:
            raise DomainError(
                status_code=400, code="invalid_batch",
                message='A batch is an object with "metrics", "params" and "tags" lists.',
            )
        try:
            logged = metrics.run_log_batch(
                acting_user=request.user,
                run=run,
                metrics=body.get("metrics", []),
                params=body.get("params", []),
                tags=body.get("tags", []),
            )
        except TrackingError as error:
            raise domain_error(error) from None
        return Response(
            {"metrics": logged.metrics, "params": logged.params, "tags": logged.tags},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=None,
        responses=OpenApiTypes.OBJECT,
        parameters=[
            OpenApiParameter("key", str, required=True),
            OpenApiParameter("page_size", int, description="1 to 10,000 (default 1,000)"),
            OpenApiParameter("cursor", str, description="next_cursor of the previous page"),
        ],
    )
    @action(detail=True, methods=["get"], url_path="metrics/history")
    def metrics_history(self, request, pk=None, **kwargs):
        """One page of a metric's history, ordered by (step, timestamp); keyset paginated."""
        run = self._run()
        key = request.query_params.get("key")
        if not key:
            raise DomainError(status_code=400, code="invalid_metric", message="?key= is required.")
        size_text = request.query_params.get("page_size", str(HISTORY_DEFAULT_PAGE))
        if not size_text.isdigit() or not 1 <= int(size_text) <= HISTORY_MAX_PAGE:
            raise DomainError(
                status_code=400, code="invalid_page_size",
                message=f"page_size is 1 to {HISTORY_MAX_PAGE}.",
            )
        limit = int(size_text)
        cursor = request.query_params.get("cursor")
        after = _cursor_in(cursor) if cursor else None
        rows = selectors.metric_history_page(run=run, key=key, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _cursor_out(rows[-1]) if more else None
        next_url = None
        if next_cursor:
            query = request.query_params.copy()
            query["cursor"] = next_cursor
            next_url = request.build_absolute_uri(
                reverse("run-metrics-history", kwargs={"pk": run.pk}) + "?" + query.urlencode()
            )
        out = metrics.metric_value_out
        return Response({
            "key": key,
            "results": [
                {"step": step, "timestamp": timestamp, "value": out(value)}
                for step, timestamp, value, _ in rows
            ],
            "next_cursor": next_cursor,
            "next": next_url,
        })

    # --- dataset inputs and files --------------------------------------------------------

    @extend_schema(request=None, responses=DatasetInputOutput(many=True))
    @action(detail=True, methods=["get"])
    def inputs(self, request, pk=None, **kwargs):
        """Dataset versions the run consumed."""
        page = self.paginate_queryset(selectors.run_dataset_inputs(run=self._run()))
        return self.get_paginated_response(DatasetInputOutput(page, many=True).data)

    @extend_schema(request=DatasetInputInput, responses={201: DatasetInputOutput})
    @inputs.mapping.post
    def input_add(self, request, pk=None, **kwargs):
        """Record a dataset version the run consumed (needs view on the dataset)."""
        run = self._run()
        data = DatasetInputInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            added = runs.run_dataset_input_add(
                acting_user=request.user, run=run,
                dataset_version_id=data.validated_data["dataset_version"],
                context=data.validated_data["context"],
            )
        except TrackingError as error:
            raise domain_error(error) from None
        return Response(DatasetInputOutput(added).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=ArtifactEntryOutput(many=True),
        parameters=[OpenApiParameter("path", str, description="a folder of the run's files")],
    )
    @action(detail=True, methods=["get"])
    def artifacts(self, request, pk=None, **kwargs):
        """Direct children of ?path= (default: the top): files with size and SHA-256,
        and folders."""
        directory = request.query_params.get("path", "")
        try:  # decoded and checked before anything else
            directory = run_artifacts.artifact_name(directory) if directory else ""
        except TrackingError as error:
            raise domain_error(error) from None
        page = self.paginate_queryset(
            selectors.run_artifact_children(run=self._run(), directory=directory)
        )
        prefix = f"{directory}/" if directory else ""
        entries = [
            {
                "name": row["name"],
                "path": prefix + row["name"],
                "is_dir": bool(row["is_dir"]),
                "size_bytes": None if row["is_dir"] else row["size_bytes"],
                "sha256": None if row["is_dir"] else row["sha256"],
            }
            for row in page
        ]
        return self.get_paginated_response(ArtifactEntryOutput(entries, many=True).data)


def _missing(field: str) -> DomainError:
    # A missing id and one the caller may not see get the same answer.
    return DomainError(
        status_code=400,
        code="validation_error",
        message="The request is not valid; see details for each field.",
        details={"fields": {field: ["No such object."]}, "first_code": "does_not_exist"},
    )
