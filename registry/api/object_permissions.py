"""`.../<id>/permissions/` on datasets, experiments and registered models."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from mlgov.api.errors import DomainError
from registry import permissions
from registry.services.object_permissions import (
    PermissionChangeRefused,
    object_permissions_change,
)


class PermissionChangeInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    actions = serializers.ListField(child=serializers.CharField(max_length=20), min_length=1)


class PermissionHoldersOutput(serializers.Serializer):
    holders = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ObjectPermissionsMixin:
    """Adds list/grant/revoke of per-object grants. Managing needs `change` on the object."""

    def _manageable_object(self, request):
        obj = self.get_object()  # 404 for what the user may not see
        if not permissions.has_object_permission(request.user, obj, "change"):
            raise DomainError(
                status_code=403,
                code="permission_denied",
                message="Managing permissions needs the change permission on this object.",
            )
        return obj

    @extend_schema(request=None, responses=PermissionHoldersOutput)
    @action(detail=True, methods=["get"], url_path="permissions")
    def permissions_list(self, request, pk=None, **kwargs):  # kwargs: a format suffix
        obj = self._manageable_object(request)
        return Response({"holders": permissions.object_permission_holders(obj)})

    def _change(self, request, grant: bool):
        obj = self._manageable_object(request)
        data = PermissionChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            holders = object_permissions_change(
                acting_user=request.user, obj=obj, grant=grant, **data.validated_data
            )
        except PermissionChangeRefused as error:
            raise DomainError(status_code=400, code=error.code, message=str(error)) from None
        return Response({"holders": holders})

    @extend_schema(request=PermissionChangeInput, responses=PermissionHoldersOutput)
    @action(detail=True, methods=["post"], url_path="permissions/grant")
    def permissions_grant(self, request, pk=None, **kwargs):
        return self._change(request, grant=True)

    @extend_schema(request=PermissionChangeInput, responses=PermissionHoldersOutput)
    @action(detail=True, methods=["post"], url_path="permissions/revoke")
    def permissions_revoke(self, request, pk=None, **kwargs):
        return self._change(request, grant=False)
