"""Usage and cost per tenant and month (tenants/quotas.py does the arithmetic).

- Operators: `GET /api/v1/usage/?month=YYYY-MM[&tenant=<slug>]`, every tenant (paged).
- A tenant's owners: `GET /t/<slug>/api/v1/usage/?month=YYYY-MM`, their own tenant, with
  the plan's limits beside what is used.

CPU cost = CPU seconds booked in the month / 3600 x the plan's price per CPU hour; storage
cost = bytes of artifacts held at the month's end (now, for the current month) / 2^30 x
its price per GB-month.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.permissions import TokenScopePermission
from mlgov.api.viewsets import TenantGenericViewSet
from tenants import quotas
from tenants.api.permissions import IsPlatformOperator
from tenants.models import Tenant

_MONTH = OpenApiParameter("month", str, description="YYYY-MM; this month when left out")


class MonthlyUsageOutput(serializers.Serializer):
    tenant = serializers.CharField(source="tenant.slug")
    plan = serializers.CharField(source="tenant.plan.name", default=None)
    month = serializers.SerializerMethodField()
    cpu_seconds = serializers.DecimalField(max_digits=20, decimal_places=3)
    storage_bytes = serializers.IntegerField()
    storage_bytes_added_by_jobs = serializers.DecimalField(
        source="storage_bytes_recorded", max_digits=20, decimal_places=0
    )
    cpu_cost = serializers.DecimalField(max_digits=20, decimal_places=4)
    storage_cost = serializers.DecimalField(max_digits=20, decimal_places=4)
    total_cost = serializers.DecimalField(max_digits=20, decimal_places=4)

    def get_month(self, usage: quotas.MonthlyUsage) -> str:
        return usage.month.strftime("%Y-%m")


class _Limits(serializers.Serializer):
    max_concurrent_jobs = serializers.IntegerField()
    cpu_seconds_per_month = serializers.IntegerField()
    artifact_storage_bytes = serializers.IntegerField()
    max_model_versions = serializers.IntegerField()
    api_requests_per_minute = serializers.IntegerField()
    price_per_cpu_hour = serializers.DecimalField(max_digits=10, decimal_places=4)
    price_per_gb_month = serializers.DecimalField(max_digits=10, decimal_places=4)


@extend_schema_serializer(many=False)  # one object, though answered by the `list` action
class TenantUsageOutput(MonthlyUsageOutput):
    limits = _Limits(source="tenant.plan", allow_null=True)


def _month(request):
    try:
        return quotas.parse_month(request.query_params.get("month"))
    except ValueError as error:
        raise DomainError(
            status_code=400, code="invalid_month", message=str(error),
            details={"month": request.query_params.get("month")},
        ) from None


@extend_schema(parameters=[_MONTH, OpenApiParameter("tenant", str)])
class PlatformUsageViewSet(viewsets.GenericViewSet):
    """Operators: usage and cost of every tenant for one month."""

    permission_classes = [TokenScopePermission, IsPlatformOperator]
    serializer_class = MonthlyUsageOutput
    queryset = Tenant.objects.none()

    def list(self, request, *args, **kwargs):
        month = _month(request)
        tenants = Tenant.objects.select_related("plan").exclude(schema_name="public")
        slug = request.query_params.get("tenant")
        if slug:
            tenants = tenants.filter(slug=slug)
        page = self.paginate_queryset(tenants.order_by("slug"))
        rows = quotas.monthly_usage(list(page), month)
        return self.get_paginated_response(MonthlyUsageOutput(rows, many=True).data)


@extend_schema(parameters=[_MONTH], responses=TenantUsageOutput)
class TenantUsageViewSet(TenantGenericViewSet):
    """A tenant's own usage and cost for one month, beside its plan's limits (owners)."""

    serializer_class = TenantUsageOutput
    queryset = Tenant.objects.none()
    pagination_class = None
    permissions_required = {"list": "tenants.view_usagerecord"}

    def list(self, request, *args, **kwargs):
        month = _month(request)
        tenant = Tenant.objects.select_related("plan").get(pk=request.tenant.pk)
        (usage,) = quotas.monthly_usage([tenant], month)
        return Response(TenantUsageOutput(usage).data)
