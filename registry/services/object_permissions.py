"""Granting and revoking object permissions on datasets, experiments and models."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from mlgov.audit.recorder import record_event
from registry import permissions


class PermissionChangeRefused(Exception):
    code = "permission_change_refused"


@transaction.atomic
def object_permissions_change(
    *, acting_user: User, obj, username: str, actions: list[str], grant: bool
) -> dict[str, list[str]]:
    """Grant or revoke `actions` on `obj` for the member `username`; audited."""
    member = User.objects.filter(username=username, is_active=True).first()
    if member is None:
        raise PermissionChangeRefused(f"No active member named {username!r}.")
    allowed = permissions.OBJECT_ACTIONS[type(obj)]
    unknown = [action for action in actions if action not in allowed]
    if unknown or not actions:
        raise PermissionChangeRefused(f"Actions must be among {list(allowed)}; got {actions!r}.")
    before = permissions.object_permission_holders(obj).get(username, [])
    if grant:
        permissions.object_permission_grant(obj, member, actions)
    else:
        permissions.object_permission_revoke(obj, member, actions)
    holders = permissions.object_permission_holders(obj)
    record_event(
        actor=acting_user,
        action="permission.grant" if grant else "permission.revoke",
        object_type=obj._meta.model_name,
        object_id=obj.pk,
        before={"member": username, "actions": before},
        after={"member": username, "actions": holders.get(username, [])},
    )
    return holders
