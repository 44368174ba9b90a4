"""Audit endpoints: parse the filters, call a selector or the verifier, shape the answer."""

from __future__ import annotations

from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from mlgov.api.viewsets import TenantGenericViewSet
from mlgov.audit import selectors
from mlgov.audit.anchors import anchor_latest
from mlgov.audit.api import serializers
from mlgov.audit.api.pagination import AuditCursorPagination
from mlgov.audit.export import CONTENT_TYPES, audit_export_stream
from mlgov.audit.models import AuditEvent
from mlgov.audit.verify import chain_verify

_FILTER_PARAMETERS = [
    OpenApiParameter("actor", str, description="User name or user id of the actor."),
    OpenApiParameter(
        "action", str, description="Exact action, or a prefix ending in `.` or `*` (`member.`)."
    ),
    OpenApiParameter("object_type", str),
    OpenApiParameter("object_id", str),
    OpenApiParameter("from", str, description="ISO 8601; events at or after this time."),
    OpenApiParameter("to", str, description="ISO 8601; events before this time."),
]


class AuditEventViewSet(mixins.ListModelMixin, TenantGenericViewSet):
    """The tenant's audit log, for auditors and owners: list (newest first), export, verify."""

    serializer_class = serializers.AuditEventOutput
    pagination_class = AuditCursorPagination
    filter_backends: list = []  # the filters are AuditFilterInput, validated, never ignored
    permissions_required = {
        "list": selectors.VIEW_PERMISSION,
        "export": selectors.VIEW_PERMISSION,
        "verify": selectors.VERIFY_PERMISSION,
    }

    def perform_content_negotiation(self, request, force=False):
        # Answers are JSON (errors included); `?format=` names the export's file format
        # here, not a DRF renderer, so DRF must not turn `format=csv` into a 404.
        return JSONRenderer(), JSONRenderer.media_type

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation, no user
            return AuditEvent.objects.none()
        data = serializers.AuditFilterInput(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        return selectors.audit_event_list(acting_user=self.request.user, filters=data.filters())

    @extend_schema(parameters=_FILTER_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(
        parameters=[
            *_FILTER_PARAMETERS,
            OpenApiParameter("format", str, enum=[*CONTENT_TYPES], default="csv"),
        ],
        responses={(200, "text/csv"): str, (200, "application/json"): dict},
    )
    @action(detail=False, methods=["get"], pagination_class=None)
    def export(self, request, format=None):  # noqa: A002 (DRF's name for the suffix)
        """The matching events in chain order as a CSV or JSON download, streamed.
        `?format=` or a suffix (`export.csv`) names the file format."""
        params = request.query_params.copy()
        if format and "format" not in params:
            params["format"] = format
        data = serializers.AuditExportInput(data=params)
        data.is_valid(raise_exception=True)
        file_format = data.validated_data["format"]
        stream = audit_export_stream(
            acting_user=request.user, filters=data.filters(), file_format=file_format
        )
        response = StreamingHttpResponse(stream, content_type=CONTENT_TYPES[file_format])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        slug = getattr(request.tenant, "slug", connection.schema_name)
        response["Content-Disposition"] = (
            f'attachment; filename="audit-{slug}-{stamp}.{file_format}"'
        )
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(responses=serializers.ChainReportOutput)
    @action(detail=False, methods=["get"], pagination_class=None)
    def verify(self, request, format=None):  # noqa: A002 (DRF's name for the suffix)
        """Walk the tenant's chain, recompute every hash and compare the head with its
        latest anchor in `public`; `first_bad` names the first bad event."""
        report = chain_verify(anchor=anchor_latest(schema_name=connection.schema_name))
        return Response(serializers.ChainReportOutput(report.as_dict()).data)
