"""The roles of a tenant: Django groups whose permissions say what each role may do.

Permissions are named as strings ("app_label.codename") so the kernel imports no app.
A permission named here that does not exist is an error at sync time, not a silent gap.
"""

from __future__ import annotations

OWNER = "owner"
MAINTAINER = "maintainer"
REVIEWER = "reviewer"
AUDITOR = "auditor"
VIEWER = "viewer"

ROLES = (OWNER, MAINTAINER, REVIEWER, AUDITOR, VIEWER)

ROLE_DESCRIPTIONS = {
    OWNER: "Manages members, roles, policy and everything below",
    MAINTAINER: "ML engineer: registers data, trains, logs and registers models",
    REVIEWER: "Reviews evidence and approves or rejects promotions",
    AUDITOR: "Reads the audit trail and exports evidence",
    VIEWER: "Reads what the tenant shares with everyone",
}

# Registry objects guarded by django-guardian. A role's permission on them holds for every
# object of the tenant; per-object grants (the creator gets all of them) add to that.
_REGISTRY_MODELS = ("dataset", "experiment", "registeredmodel")


def _registry(*actions: str) -> tuple[str, ...]:
    return tuple(f"registry.{action}_{model}" for model in _REGISTRY_MODELS for action in actions)


# Reading, filtering, exporting and verifying the audit log: auditors and owners only.
_AUDIT_LOG = ("audit.view_auditlog", "audit.verify_auditlog")


# Jobs: everyone with a role sees them; maintainers and owners submit (and retry, which
# submits again) and cancel them.
_JOBS_VIEW = ("training.view_trainingjob", "training.view_evaluationjob")
_JOBS_RUN = ("training.add_trainingjob", "training.cancel_trainingjob")
# The tenant's own usage and cost (tenants.UsageRecord): owners only.
_USAGE = ("tenants.view_usagerecord",)


# Later apps add their permissions to these lists (as strings) when they land.
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    OWNER: (
        "identity.view_members",
        "identity.manage_members",
        *_registry("view", "add", "change", "delete", "download"),
        "registry.approve_registeredmodel",
        "registry.deploy_registeredmodel",
        *_AUDIT_LOG,
        *_JOBS_VIEW,
        *_JOBS_RUN,
        *_USAGE,
    ),
    # Maintainers see everything and create freely; they change, delete and download
    # what they created or were granted (object permissions).
    MAINTAINER: (*_registry("view", "add"), *_JOBS_VIEW, *_JOBS_RUN),
    REVIEWER: (*_registry("view"), "registry.approve_registeredmodel", *_JOBS_VIEW),
    AUDITOR: ("identity.view_members", *_registry("view"), *_AUDIT_LOG, *_JOBS_VIEW),
    VIEWER: (*_registry("view"), *_JOBS_VIEW),
}


def role_of(user) -> str | None:
    """The user's role name, from their groups (prefetched where lists show many users)."""
    names = {group.name for group in user.groups.all()}
    for role in ROLES:
        if role in names:
            return role
    return None
