from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Artifact(models.Model):
    """One encrypted blob in the artifact store. Its id is the storage key: opaque,
    assigned by the server; a client never names a storage path."""

    class Kind(models.TextChoices):
        DATASET = "dataset", "Dataset file"
        MODEL = "model", "Model file"
        RUN_FILE = "run_file", "Run artifact"
        REPORT = "report", "Report"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveBigIntegerField()
    key_version = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"
