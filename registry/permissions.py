"""Object permissions of registry objects (django-guardian).

Datasets, experiments and registered models carry object permissions; their versions,
runs and files inherit from them. Codenames: view, change, delete, download (and
approve, deploy for registered models).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from guardian.shortcuts import assign_perm, get_users_with_perms, remove_perm

from registry.models import Dataset, Experiment, RegisteredModel

GUARDED_MODELS = (Dataset, Experiment, RegisteredModel)

OBJECT_ACTIONS: dict[type, tuple[str, ...]] = {
    Dataset: ("view", "change", "delete", "download"),
    Experiment: ("view", "change", "delete", "download"),
    RegisteredModel: ("view", "change", "delete", "download", "approve", "deploy"),
}
CREATOR_ACTIONS = ("view", "change", "delete", "download")


def codename(obj_or_model, action: str) -> str:
    meta = obj_or_model._meta
    return f"{meta.app_label}.{action}_{meta.model_name}"


def has_object_permission(user: User, obj, action: str) -> bool:
    """True if the user holds `action` on `obj` through their role or a grant."""
    name = codename(obj, action)
    return user.has_perm(name) or user.has_perm(name, obj)


def grant_creator_permissions(obj, user: User | None) -> None:
    """The creator of a guarded object gets view, change, delete and download on it."""
    if user is None or not getattr(user, "pk", None):
        return
    for action in CREATOR_ACTIONS:
        assign_perm(codename(obj, action).split(".", 1)[1], user, obj)


def object_permission_grant(obj, user: User, actions: list[str]) -> None:
    allowed = OBJECT_ACTIONS[type(obj)]
    for action in actions:
        if action not in allowed:
            raise ValueError(f"unknown action {action!r}; allowed: {list(allowed)}")
    for action in actions:
        assign_perm(codename(obj, action).split(".", 1)[1], user, obj)


def object_permission_revoke(obj, user: User, actions: list[str]) -> None:
    for action in actions:
        remove_perm(codename(obj, action).split(".", 1)[1], user, obj)


def object_permission_holders(obj) -> dict[str, list[str]]:
    """username -> actions held on `obj` by per-object grant (not by role)."""
    holders = get_users_with_perms(obj, attach_perms=True, with_group_users=False)
    model_name = obj._meta.model_name
    return {
        user.username: sorted(perm.removesuffix(f"_{model_name}") for perm in perms)
        for user, perms in holders.items()
    }
