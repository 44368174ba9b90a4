"""Writes of the platform: tenants and their life cycle. Audited in the public chain."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django_tenants.utils import get_public_schema_name, schema_context

from mlgov.audit.recorder import record_event
from mlgov.identity import roles
from mlgov.identity.services import member_create
from tenants.errors import InvalidSlug, SlugTaken
from tenants.keys import tenant_keys_destroy
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


def tenant_delete(*, acting_user: User | None, tenant: Tenant, reason: str) -> Tenant:
    """Delete a tenant for good: suspend it, destroy its keys (crypto-shredding: none of its
    artifacts can ever be decrypted again, from any copy or backup of the files), drop its
    schema, remove its artifact folder and its domains.

    The Tenant row stays as a tombstone with status `deleted`: the destroyed key rows, the
    usage ledger and the audit anchors point to it, and its slug is never given out again
    (tenant_create answers 409 `slug_taken`). `Tenant.objects` no longer finds it, so
    /t/<slug>/ is a 404 and no task or command runs for it.

    Two transactions on purpose: the suspension commits first, so new requests get 403
    `tenant_suspended` while DROP SCHEMA waits for the tenant's in-flight transactions;
    the rest is one transaction (a failure leaves the tenant suspended and whole, and the
    call can be repeated). The folder goes after commit: files are not transactional.
    """
    if tenant.schema_name == get_public_schema_name():
        raise ValueError("The public schema is not a tenant.")
    if not tenant.is_suspended and not tenant.is_deleted:
        tenant_suspend(acting_user=acting_user, tenant=tenant, reason=f"Deletion: {reason}"[:500])
    _tenant_erase(acting_user=acting_user, tenant=tenant, reason=reason)
    tenant.refresh_from_db(from_queryset=Tenant.all_objects.all())
    return tenant


@transaction.atomic
def _tenant_erase(*, acting_user: User | None, tenant: Tenant, reason: str) -> Tenant:
    connection.set_schema_to_public()  # type: ignore[attr-defined]  # django-tenants backend
    locked = Tenant.all_objects.select_for_update(of=("self",)).select_related("plan").get(
        pk=tenant.pk
    )
    if locked.is_deleted:  # a concurrent or earlier call did it
        return locked
    before = _tenant_snapshot(locked)
    keys_destroyed = tenant_keys_destroy(acting_user=acting_user, tenant=locked)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DROP SCHEMA IF EXISTS {connection.ops.quote_name(locked.schema_name)} CASCADE"
        )
    domains = [domain.domain for domain in Domain.objects.filter(tenant=locked)]
    Domain.objects.filter(tenant=locked).delete()
    locked.status = Tenant.Status.DELETED
    locked.deleted_at = timezone.now()
    locked.save(update_fields=["status", "deleted_at"])
    folder = Path(settings.ARTIFACT_ROOT) / locked.schema_name
    transaction.on_commit(lambda: shutil.rmtree(folder, ignore_errors=True))
    record_event(
        actor=acting_user,
        action="tenant.delete",
        object_type="tenant",
        object_id=locked.slug,
        before=before,
        after={
            **_tenant_snapshot(locked),
            "reason": reason,
            "keys_destroyed": keys_destroyed,
            "schema_dropped": locked.schema_name,
            "domains_deleted": domains,
            "artifact_folder_removed": str(folder),
        },
    )
    return locked
