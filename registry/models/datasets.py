from __future__ import annotations

from django.conf import settings
from django.db import models

from registry.models.artifacts import Artifact


class Dataset(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("download_dataset", "Can download the dataset's files")]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    class FileFormat(models.TextChoices):
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")
    file_format = models.CharField(max_length=10, choices=FileFormat.choices)
    columns = models.JSONField(default=list, help_text="[{name, dtype}] inferred on upload")
    row_count = models.PositiveBigIntegerField()
    target = models.CharField(max_length=200, blank=True)
    sensitive_attributes = models.JSONField(default=list)
    pii_columns = models.JSONField(default=list)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-version"]
        unique_together = [("dataset", "version")]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.dataset.name} v{self.version}"
