"""The shared base viewsets: object permissions applied once, here (NetBox's pattern).

A viewset names its model's object-permission codenames; the queryset is restricted
to objects the user holds `view` on (globally through their role, or on the object
through django-guardian). Everything else is a 404, never a 403 that would reveal it.
"""

from __future__ import annotations

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user
from rest_framework import exceptions, viewsets

from mlgov.api.permissions import ActionPermission, TokenScopePermission

# The object permission an action needs beyond being able to see the object.
ACTION_OBJECT_PERMISSION = {
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def restrict(queryset: QuerySet, user, action: str = "view") -> QuerySet:
    """Objects of `queryset` on which `user` holds `<action>_<model>` globally or per object."""
    meta = queryset.model._meta
    permission = f"{meta.app_label}.{action}_{meta.model_name}"
    # guardian ignores accept_global_perms unless with_superuser is True; a role's global
    # permission must cover every object of the tenant (a superuser holds every permission
    # through has_perm anyway, so this grants superusers nothing more).
    return get_objects_for_user(
        user, permission, klass=queryset, accept_global_perms=True, with_superuser=True
    )


class TenantGenericViewSet(viewsets.GenericViewSet):
    """Authentication, scope and role checks for every tenant endpoint."""

    permission_classes = [TokenScopePermission, ActionPermission]


class ObjectPermissionModelViewSet(viewsets.ModelViewSet):
    """CRUD with object permissions. Subclasses set `queryset` and serializers."""

    permission_classes = [TokenScopePermission, ActionPermission]

    def get_queryset(self) -> QuerySet:
        return restrict(super().get_queryset(), self.request.user, "view")

    def check_object_permissions(self, request, obj) -> None:
        super().check_object_permissions(request, obj)
        needed = ACTION_OBJECT_PERMISSION.get(self.action)
        if needed is None:
            return
        meta = obj._meta
        if not request.user.has_perm(f"{meta.app_label}.{needed}_{meta.model_name}", obj) and not (
            request.user.has_perm(f"{meta.app_label}.{needed}_{meta.model_name}")
        ):
            raise exceptions.PermissionDenied(
                f"You may see this {meta.verbose_name} but not {needed} it."
            )
