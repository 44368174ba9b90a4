"""Operators' platform API at /api/v1/: tenants and plans."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework import serializers as drf_serializers
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


class TenantDeleteInput(drf_serializers.Serializer):
    confirm = drf_serializers.CharField(trim_whitespace=False)
    reason = drf_serializers.CharField(max_length=500)


class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Tenant.objects.select_related("plan").exclude(schema_name="public")
    serializer_class = serializers.TenantOutput
    permission_classes = [TokenScopePermission, IsPlatformOperator]
    required_scopes = {"POST": "admin", "DELETE": "admin"}
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

    @extend_schema(
        parameters=[
            OpenApiParameter("confirm", str, required=True, description="the slug, once more"),
            OpenApiParameter("reason", str, required=True, description="kept in the audit log"),
        ],
        request=None,
        responses={204: None},
        description=(
            "Delete the tenant for good: its keys are destroyed (its artifacts can never be "
            "decrypted again), its schema and artifact folder removed. Irreversible; the slug "
            "is never given out again. `confirm` and `reason` come in the query string or a "
            "JSON body."
        ),
    )
    def destroy(self, request, *args, **kwargs):
        tenant = self.get_object()
        body = request.data
        body = body.dict() if hasattr(body, "dict") else body if isinstance(body, dict) else {}
        given = {**request.query_params.dict(), **body}
        # Checked before anything else: a missing or wrong confirmation never deletes.
        if given.get("confirm") != tenant.slug:
            raise DomainError(
                status_code=400,
                code="confirmation_required",
                message=f"Deleting a tenant is irreversible: pass confirm={tenant.slug}.",
                details={"confirm": "must equal the tenant's slug"},
            )
        data = TenantDeleteInput(data=given)
        data.is_valid(raise_exception=True)
        services.tenant_delete(
            acting_user=request.user, tenant=tenant, reason=data.validated_data["reason"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Plan.objects.order_by("name")
    serializer_class = serializers.PlanOutput
    permission_classes = [TokenScopePermission, IsPlatformOperator]
