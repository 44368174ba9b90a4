from __future__ import annotations

from django.db import models


class LineageEdge(models.Model):
    """A directed edge between two registry objects: dataset_version -> run -> model_version
    (deployments and attestations join later). Nodes are `<type>:<id>`."""

    class NodeType(models.TextChoices):
        DATASET_VERSION = "dataset_version", "Dataset version"
        RUN = "run", "Run"
        MODEL_VERSION = "model_version", "Model version"
        ATTESTATION = "attestation", "Attestation"
        REPORT = "report", "Report"
        DEPLOYMENT = "deployment", "Deployment"

    source_type = models.CharField(max_length=30, choices=NodeType.choices)
    source_id = models.CharField(max_length=64)
    target_type = models.CharField(max_length=30, choices=NodeType.choices)
    target_id = models.CharField(max_length=64)
    relation = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        unique_together = [("source_type", "source_id", "target_type", "target_id", "relation")]
        indexes = [
            models.Index(fields=["source_type", "source_id"]),
            models.Index(fields=["target_type", "target_id"]),
        ]
        default_permissions = ()
