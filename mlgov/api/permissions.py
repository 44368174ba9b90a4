"""Permissions are checked here once, never view by view (STYLE.md rule 4).

Three layers, each with its own error code:
- the credential's scope (a read token cannot write): 403 `insufficient_scope`;
- the role's model permission for the action: 403 `permission_denied`;
- object permissions (django-guardian) through the base viewset's queryset:
  an object the user may not see is a 404, one they may see but not change is a 403.
"""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.permissions import SAFE_METHODS, BasePermission

from mlgov.identity.scopes import scope_allows


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"
    default_detail = "The API token's scope does not allow this request."


def required_scope(request, view) -> str:
    declared = getattr(view, "required_scopes", None) or {}
    action = getattr(view, "action", None)
    if action in declared:
        return declared[action]
    if request.method in declared:
        return declared[request.method]
    return "read" if request.method in SAFE_METHODS else "write"


class TokenScopePermission(BasePermission):
    """Authenticated, and the token (if any) has the scope the request needs."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        token = request.auth
        scope = getattr(token, "scope", None)
        if scope is not None and not scope_allows(scope, required_scope(request, view)):
            raise InsufficientScope()
        return True


class ActionPermission(BasePermission):
    """The role permission a view declares per action in `permissions_required`.

    `permissions_required = {"list": "identity.view_members", "create": "identity.manage_members"}`;
    an action missing from the map is refused, so a new action cannot ship unguarded.
    """

    def has_permission(self, request, view) -> bool:
        declared = getattr(view, "permissions_required", None)
        if declared is None:
            return True
        action = getattr(view, "action", None) or request.method.lower()
        if action not in declared:
            return False
        needed = declared[action]
        if needed is None:  # explicitly open to every authenticated member
            return True
        return request.user.has_perm(needed)
