"""Anchoring tenants' audit chains: each chain's head copied into `public`.

A superuser can rewrite a tenant's chain and recompute every hash after the change; the
chain alone would still verify. An anchor (the head's sequence and hash, kept in
`public`) pins what the chain was: `audit_verify` reports a chain that no longer has
the anchored hash at the anchored position, or that ends before it.

`audit_anchor_heads` runs from Celery beat every 5 minutes (CELERY_BEAT_SCHEDULE) as a
platform task, bound to no tenant. Idempotent: a head anchored already adds no row.
Celery autodiscovers only `<app>.tasks` modules: workers know this task once
`tenants.tasks` imports it (`from tenants.audit_anchoring import audit_anchor_heads`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from celery import shared_task
from django.db import IntegrityError, transaction
from django_tenants.utils import schema_context

from mlgov.audit.selectors import chain_head
from tenants.models import AuditAnchor, Tenant

logger = logging.getLogger(__name__)

ANCHOR_TASK_NAME = "tenants.audit_anchoring.audit_anchor_heads"


@dataclass(frozen=True)
class AnchoringSummary:
    tenants: int
    anchored: int
    unchanged: int
    empty: int
    failed: list[str]


def audit_anchor_tenant(*, tenant: Tenant) -> AuditAnchor | None:
    """Anchor `tenant`'s chain head in `public`. Returns the new anchor, or None when the
    chain is empty or its head is anchored already."""
    with schema_context(tenant.schema_name):
        head = chain_head()
    if head is None:
        return None
    existing = AuditAnchor.objects.filter(tenant=tenant, sequence=head.sequence).first()
    if existing is None:
        try:
            with transaction.atomic():
                return AuditAnchor.objects.create(
                    tenant=tenant, sequence=head.sequence, event_hash=head.event_hash
                )
        except IntegrityError:  # another run anchored the same head meanwhile
            existing = AuditAnchor.objects.get(tenant=tenant, sequence=head.sequence)
    if existing.event_hash != head.event_hash:
        # The anchor stays as it was: it is the evidence. audit_verify reports it.
        logger.error(
            "Audit chain of tenant %s no longer matches its anchor at event #%s "
            "(anchored %s, now %s): run `manage.py audit_verify --tenant %s`.",
            tenant.slug, head.sequence, existing.event_hash, head.event_hash, tenant.slug,
        )  # fmt: skip
    return None


def audit_anchor_all() -> AnchoringSummary:
    """Anchor the chain head of every tenant. One tenant's failure does not stop the rest."""
    anchored = unchanged = empty = 0
    failed: list[str] = []
    tenants = list(Tenant.objects.exclude(schema_name="public").order_by("slug"))
    for tenant in tenants:
        try:
            anchor = audit_anchor_tenant(tenant=tenant)
        except Exception:
            logger.exception("Could not anchor the audit chain of tenant %s", tenant.slug)
            failed.append(tenant.slug)
            continue
        if anchor is not None:
            anchored += 1
        elif AuditAnchor.objects.filter(tenant=tenant).exists():
            unchanged += 1
        else:
            empty += 1
    return AnchoringSummary(
        tenants=len(tenants), anchored=anchored, unchanged=unchanged, empty=empty, failed=failed
    )


@shared_task(name=ANCHOR_TASK_NAME, time_limit=600, soft_time_limit=570)
def audit_anchor_heads() -> dict:
    """Beat task: anchor every tenant's audit chain head (see `audit_anchor_all`)."""
    summary = audit_anchor_all()
    if summary.failed:
        logger.error("Audit anchoring failed for tenants: %s", ", ".join(summary.failed))
    return {
        "tenants": summary.tenants,
        "anchored": summary.anchored,
        "unchanged": summary.unchanged,
        "empty": summary.empty,
        "failed": summary.failed,
    }
