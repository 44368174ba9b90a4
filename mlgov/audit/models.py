"""The audit event table: one per schema (`public` for the platform, one per tenant)."""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    """One event of the schema's chain. Rows are never updated or deleted (triggers enforce it)."""

    sequence = models.BigIntegerField(unique=True)
    occurred_at = models.DateTimeField()
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_username = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, db_index=True)
    object_id = models.CharField(max_length=100, blank=True, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64)
    event_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["occurred_at"]), models.Index(fields=["actor_id"])]
        # No add/change/delete: events are written only by the recorder and never changed.
        default_permissions = ()
        permissions = [
            ("view_auditlog", "Can list, filter and export the audit log"),
            ("verify_auditlog", "Can verify the audit log's hash chain"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.object_type}:{self.object_id}"
