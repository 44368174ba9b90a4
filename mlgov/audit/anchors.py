"""Anchors as the kernel reads them: a tenant chain's head, copied earlier into `public`.

The anchor table is `tenants.AuditAnchor` (each row points at its tenant) and
`tenants/audit_anchoring.py` writes it. The kernel never imports the tenants app
(imports run tenants -> kernel), so it looks the model up by label in Django's app
registry, as django-tenants does for `settings.TENANT_MODEL`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django_tenants.utils import get_public_schema_name

ANCHOR_MODEL_LABEL = "tenants.AuditAnchor"


@dataclass(frozen=True)
class AnchorPoint:
    """A chain position vouched for from outside the chain: event `sequence` had `event_hash`."""

    sequence: int
    event_hash: str
    anchored_at: datetime | None = None


def anchor_latest(*, schema_name: str) -> AnchorPoint | None:
    """The newest anchor of the chain in `schema_name`; None for `public` (the platform
    chain has no anchors) and for a tenant not anchored yet."""
    if schema_name == get_public_schema_name():
        return None
    anchor_model = apps.get_model(ANCHOR_MODEL_LABEL)
    row = (
        anchor_model.objects.filter(tenant__schema_name=schema_name)
        .order_by("-sequence")
        .values_list("sequence", "event_hash", "anchored_at")
        .first()
    )
    return AnchorPoint(*row) if row else None
