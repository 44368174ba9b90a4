"""What every console page shows in its header: the tenant, the user's role and the
sections of the navigation the user may open (a template context processor)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject
from django.utils.translation import gettext_lazy as _

from mlgov.identity import roles

ROLE_LABELS = {
    roles.OWNER: _("Owner"),
    roles.MAINTAINER: _("Maintainer"),
    roles.REVIEWER: _("Reviewer"),
    roles.AUDITOR: _("Auditor"),
    roles.VIEWER: _("Viewer"),
}

# (section, URL name, label, permission needed or None for every member)
NAVIGATION = (
    ("dashboard", "console-home", _("Dashboard"), None),
    ("datasets", "console-datasets", _("Datasets"), None),
    ("experiments", "console-experiments", _("Experiments"), None),
    ("models", "console-models", _("Models"), None),
    ("lineage", "console-lineage", _("Lineage"), None),
    ("audit", "console-audit", _("Audit"), "audit.view_auditlog"),
    ("access", "console-access", _("Members & tokens"), None),
)


def _navigation(user) -> list[dict]:
    return [
        {"section": section, "url_name": url_name, "label": label}
        for section, url_name, label, permission in NAVIGATION
        if permission is None or user.has_perm(permission)
    ]


def console(request: HttpRequest) -> dict:
    """`console_role` (label or None) and `console_nav` for signed-in members of a tenant;
    both are lazy, so pages that never show them (sign-in) cost no query."""
    user = getattr(request, "user", None)
    if getattr(request, "tenant", None) is None or user is None or not user.is_authenticated:
        return {}
    return {
        "console_role": SimpleLazyObject(lambda: ROLE_LABELS.get(roles.role_of(user) or "", "")),
        "console_nav": SimpleLazyObject(lambda: _navigation(user)),
    }
