from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from registry.models.artifacts import Artifact
from registry.models.datasets import DatasetVersion


class Experiment(models.Model):
    class Lifecycle(models.TextChoices):
        ACTIVE = "active", "Active"
        DELETED = "deleted", "Deleted"

    name = models.CharField(max_length=500, unique=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=dict)
    lifecycle_stage = models.CharField(
        max_length=10, choices=Lifecycle.choices, default=Lifecycle.ACTIVE
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [("download_experiment", "Can download the experiment's run artifacts")]

    def __str__(self) -> str:
        return self.name


class Run(models.Model):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        FAILED = "failed", "Failed"
        KILLED = "killed", "Killed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    experiment = models.ForeignKey(Experiment, on_delete=models.PROTECT, related_name="runs")
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="child_runs"
    )
    name = models.CharField(max_length=250, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    lifecycle_stage = models.CharField(
        max_length=10, choices=Experiment.Lifecycle.choices, default=Experiment.Lifecycle.ACTIVE
    )
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-start_time", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["experiment", "-start_time"])]

    def __str__(self) -> str:
        return self.name or self.uuid.hex


class RunParam(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="params")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        unique_together = [("run", "key")]
        default_permissions = ()


class RunTag(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="tags")
    key = models.CharField(max_length=250)
    value = models.TextField()

    class Meta:
        unique_together = [("run", "key")]
        default_permissions = ()


class RunMetric(models.Model):
    """Every logged point; history is read page by page, never all at once."""

    # No index of its own on run_id: the (run, key, step, timestamp) index below leads with
    # it, and a second index costs a quarter of every bulk insert of points.
    run = models.ForeignKey(
        Run, on_delete=models.CASCADE, related_name="metrics", db_index=False
    )
    key = models.CharField(max_length=250)
    value = models.FloatField()
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField(help_text="milliseconds since the epoch")

    class Meta:
        default_permissions = ()
        indexes = [models.Index(fields=["run", "key", "step", "timestamp"])]


class RunMetricLatest(models.Model):
    """The latest point per run and key, so searches and lists never scan the history."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="latest_metrics")
    key = models.CharField(max_length=250)
    value = models.FloatField()
    step = models.BigIntegerField(default=0)
    timestamp = models.BigIntegerField()

    class Meta:
        unique_together = [("run", "key")]
        default_permissions = ()


class RunArtifact(models.Model):
    """A file a run logged, under a path the server normalised and checked."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="artifacts")
    path = models.CharField(max_length=1000)
    artifact = models.ForeignKey(Artifact, on_delete=models.PROTECT, related_name="+")

    class Meta:
        unique_together = [("run", "path")]
        default_permissions = ()


class RunDatasetInput(models.Model):
    """A dataset version a run consumed (training data, evaluation data)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="dataset_inputs")
    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.PROTECT, related_name="run_inputs"
    )
    context = models.CharField(max_length=50, default="training")

    class Meta:
        unique_together = [("run", "dataset_version", "context")]
        default_permissions = ()
