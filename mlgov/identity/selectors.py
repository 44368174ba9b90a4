"""Reads of identity, restricted to what the acting user may see."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import QuerySet

from mlgov.identity.models import ApiToken


def member_list(*, acting_user: User) -> QuerySet[User]:
    """Members of the current tenant, for users who may view members."""
    if not acting_user.has_perm("identity.view_members"):
        return User.objects.none()
    return (
        User.objects.select_related("membership")
        .prefetch_related("groups")
        .order_by("username")
    )


def token_list(*, acting_user: User) -> QuerySet[ApiToken]:
    """The acting user's own tokens: nobody sees another person's tokens."""
    return ApiToken.objects.filter(user=acting_user).order_by("-created_at")
