"""Operators' platform API at /api/v1/: tenants and plans."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from mlgov.api.permissions import TokenScopePermission
from tenants import services
from tenants.api import serializers
from tenants.api.permissions import IsPlatformOperator
from tenants.errors import TenantError
from tenants.models import Plan, Tenant


def _domain_error(error: TenantError) -> DomainError:
    return DomainError(
        status_code=error.status, code=error.code, message=error.message, details=error.details
    )


class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Tenant.objects.select_related("plan").exclude(schema_name="public")
    serializer_class = serializers.TenantOutput
    permission_classes = [TokenScopePermission, IsPlatformOperator]
    required_scopes = {"POST": "admin"}
    lookup_field = "slug"
    filterset_fields = ["status"]
    ordering_fields = ["slug", "created_at"]

    @extend_schema(request=serializers.TenantCreateInput, responses=serializers.TenantCreateOutput)
    def create(self, request, *args, **kwargs):
        data = serializers.TenantCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            created = services.tenant_create(acting_user=request.user, **data.validated_data)
        except TenantError as error:
            raise _domain_error(error) from None
        tenant = created.tenant
        tenant.owner_username = created.owner_username
        tenant.owner_one_time_password = created.owner_password
        return Response(
            serializers.TenantCreateOutput(tenant).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=serializers.TenantSuspendInput, responses=serializers.TenantOutput)
    @action(detail=True, methods=["post"])
    def suspend(self, request, *args, **kwargs):
        tenant = self.get_object()
        data = serializers.TenantSuspendInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.tenant_suspend(
            acting_user=request.user, tenant=tenant, reason=data.validated_data["reason"]
        )
        return Response(serializers.TenantOutput(tenant).data)

    @extend_schema(request=None, responses=serializers.TenantOutput)
    @action(detail=True, methods=["post"])
    def resume(self, request, *args, **kwargs):
        tenant = self.get_object()
        services.tenant_resume(acting_user=request.user, tenant=tenant)
        return Response(serializers.TenantOutput(tenant).data)


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Plan.objects.order_by("name")
    serializer_class = serializers.PlanOutput
    permission_classes = [TokenScopePermission, IsPlatformOperator]
