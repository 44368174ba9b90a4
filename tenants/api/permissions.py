from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsPlatformOperator(BasePermission):
    """Staff users of the public schema. Tenant users never reach the platform API:
    their accounts do not exist in `public`."""

    message = "Only platform operators may use the platform API."

    def has_permission(self, request, view) -> bool:
        return bool(
            request.user
            and request.user.is_authenticated
            and request.user.is_staff
            and getattr(request, "tenant", None) is None
        )
