from __future__ import annotations

from django.db import models
from django_tenants.models import DomainMixin, TenantMixin


class Plan(models.Model):
    """What a tenant may use. Enforcement lives with the jobs; limits live here."""

    name = models.CharField(max_length=50, unique=True)
    max_concurrent_jobs = models.PositiveIntegerField(default=2)
    cpu_seconds_per_month = models.PositiveBigIntegerField(default=36_000)
    artifact_storage_bytes = models.PositiveBigIntegerField(default=10 * 1024**3)
    max_model_versions = models.PositiveIntegerField(default=500)
    api_requests_per_minute = models.PositiveIntegerField(default=600)
    price_per_cpu_hour = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    price_per_gb_month = models.DecimalField(max_digits=10, decimal_places=4, default=0)

    def __str__(self) -> str:
        return self.name


class LiveTenantManager(models.Manager):
    """Tenants that still exist. A deleted tenant keeps its row as a tombstone (its
    destroyed keys and usage ledger point to it, and its slug stays taken), but routing,
    migrations, tasks, commands and the operator API must never find it: they all go
    through `Tenant.objects`, so it is filtered here once. `Tenant.all_objects` sees all."""

    def get_queryset(self):
        return super().get_queryset().exclude(status=Tenant.Status.DELETED)


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        DELETED = "deleted", "Deleted (schema dropped, keys destroyed)"

    slug = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    suspended_reason = models.CharField(max_length=500, blank=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = LiveTenantManager()
    all_objects = models.Manager()

    # Schemas are created by tenants.provisioning (clone of the template), never on save.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_suspended(self) -> bool:
        return self.status == self.Status.SUSPENDED

    @property
    def is_deleted(self) -> bool:
        return self.status == self.Status.DELETED


class Domain(DomainMixin):
    """django-tenants wants one; path routing uses the slug, domain routing may use a host."""

    def __str__(self) -> str:
        return self.domain


class UsageRecord(models.Model):
    """One line of the per-tenant usage ledger, for quotas and cost allocation."""

    class Kind(models.TextChoices):
        CPU_SECONDS = "cpu_seconds", "CPU seconds"
        STORAGE_BYTES = "storage_bytes", "Artifact storage bytes"
        API_REQUESTS = "api_requests", "API requests"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usage")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    quantity = models.DecimalField(max_digits=20, decimal_places=3)
    recorded_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind", "recorded_at"])]


class AuditAnchor(models.Model):
    """A tenant's audit chain head, copied periodically into `public`: a later rewrite of
    the tenant's chain no longer matches its anchors."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="audit_anchors")
    sequence = models.BigIntegerField()
    event_hash = models.CharField(max_length=64)
    anchored_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        unique_together = [("tenant", "sequence")]
        ordering = ["tenant", "-sequence"]


class TenantDataKey(models.Model):
    """A tenant's data-encryption key (DEK), stored only wrapped by a master key version."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active: encrypts new artifacts"
        DECRYPT_ONLY = "decrypt_only", "Decrypts existing artifacts only"
        DESTROYED = "destroyed", "Destroyed (crypto-shredded)"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="data_keys")
    version = models.PositiveIntegerField()
    wrapped_key = models.BinaryField(null=True)
    kek_version = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        unique_together = [("tenant", "version")]
        ordering = ["tenant", "version"]


class TenantSigningKey(models.Model):
    """A tenant's Ed25519 key for model versions and attestations; private half wrapped."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="signing_keys")
    version = models.PositiveIntegerField()
    public_key = models.BinaryField()
    wrapped_private_key = models.BinaryField(null=True)
    kek_version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        unique_together = [("tenant", "version")]
        ordering = ["tenant", "version"]
