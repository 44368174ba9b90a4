"""Writes of the platform: tenants and their life cycle. Audited in the public chain."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_context

from mlgov.audit.recorder import record_event
from mlgov.identity import roles
from mlgov.identity.services import member_create
from tenants.errors import InvalidSlug, SlugTaken
from tenants.models import Domain, Plan, Tenant
from tenants.provisioning import schema_clone_from_template
from tenants.slugs import schema_name_for, validate_slug
from tenants.spare_schemas import spare_target

DEFAULT_PLAN_NAME = "standard"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    owner_username: str
    owner_password: str | None


def _tenant_snapshot(tenant: Tenant) -> dict:
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "plan": tenant.plan.name if tenant.plan_id else None,
        "suspended_reason": tenant.suspended_reason,
    }


def plan_default() -> Plan:
    plan, _ = Plan.objects.get_or_create(name=DEFAULT_PLAN_NAME)
    return plan


def _spares_refill_later() -> None:
    from tenants.tasks import spare_schemas_refill_task

    try:
        spare_schemas_refill_task.delay()
    except Exception:  # the tenant exists; spares are only a speed-up (migrate refills too)
        logger.warning("Could not enqueue the spare-schema refill", exc_info=True)


@transaction.atomic
def tenant_create(
    *,
    acting_user: User | None,
    slug: str,
    name: str,
    owner_username: str,
    owner_email: str,
    plan: Plan | None = None,
) -> CreatedTenant:
    """Create a tenant: its row, its schema (a clone of the template), its owner.

    All in one transaction: a failure anywhere leaves no row and no schema behind.
    """
    try:
        validate_slug(slug)
    except ValidationError as error:
        raise InvalidSlug(error.messages[0]) from None
    if Tenant.objects.filter(slug=slug).exists():
        raise SlugTaken(f"A tenant with slug {slug!r} exists already.")
    connection.set_schema_to_public()
    tenant = Tenant(
        slug=slug,
        name=name,
        schema_name=schema_name_for(slug),
        plan=plan or plan_default(),
    )
    try:
        with transaction.atomic():  # a savepoint: a concurrent twin is a 409, not a 500
            tenant.save()
    except IntegrityError:
        raise SlugTaken(f"A tenant with slug {slug!r} exists already.") from None
    Domain.objects.create(domain=slug, tenant=tenant, is_primary=True)
    schema_clone_from_template(tenant.schema_name)
    if spare_target():
        transaction.on_commit(_spares_refill_later)
    with schema_context(tenant.schema_name):
        created = member_create(
            acting_user=None,
            username=owner_username,
            email=owner_email,
            role=roles.OWNER,
        )
        record_event(
            actor=None,
            action="tenant.create",
            object_type="tenant",
            object_id=tenant.slug,
            after={"owner": owner_username},
        )
    record_event(
        actor=acting_user,
        action="tenant.create",
        object_type="tenant",
        object_id=tenant.slug,
        after={**_tenant_snapshot(tenant), "owner": owner_username},
    )
    return CreatedTenant(
        tenant=tenant, owner_username=owner_username, owner_password=created.one_time_password
    )


@transaction.atomic
def tenant_suspend(*, acting_user: User | None, tenant: Tenant, reason: str) -> Tenant:
    """Suspend a tenant: every request under its path answers 403 `tenant_suspended`."""
    before = _tenant_snapshot(tenant)
    tenant.status = Tenant.Status.SUSPENDED
    tenant.suspended_reason = reason
    tenant.save(update_fields=["status", "suspended_reason"])
    record_event(
        actor=acting_user,
        action="tenant.suspend",
        object_type="tenant",
        object_id=tenant.slug,
        before=before,
        after=_tenant_snapshot(tenant),
    )
    return tenant


@transaction.atomic
def tenant_resume(*, acting_user: User | None, tenant: Tenant) -> Tenant:
    """Lift a suspension."""
    before = _tenant_snapshot(tenant)
    tenant.status = Tenant.Status.ACTIVE
    tenant.suspended_reason = ""
    tenant.save(update_fields=["status", "suspended_reason"])
    record_event(
        actor=acting_user,
        action="tenant.resume",
        object_type="tenant",
        object_id=tenant.slug,
        before=before,
        after=_tenant_snapshot(tenant),
    )
    return tenant
