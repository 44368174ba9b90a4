"""Training and evaluation jobs: the row is the truth, Celery only carries its id.

A job moves through queued -> running -> succeeded | failed | cancelled (the legal moves
live in `training.services.jobs.TRANSITIONS`, the only place that changes `state`).
Besides its state a job holds its progress, a bounded log, the resources it used, how
often it was delivered to a worker, why it failed, and links to what it produced.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})

# The log keeps its newest characters only: a chatty job cannot grow its row without bound.
MAX_LOG_CHARS = 64_000


class Job(models.Model):
    """What every kind of job shares: state machine, progress, log, resources, deliveries."""

    state = models.CharField(max_length=20, choices=JobState.choices, default=JobState.QUEUED)
    progress_percent = models.PositiveSmallIntegerField(default=0)
    progress_stage = models.CharField(max_length=200, blank=True)
    # Append-only, bounded to MAX_LOG_CHARS (the oldest lines drop off).
    log = models.TextField(blank=True)
    # A running job stops at its next check; the worker then moves it to cancelled.
    cancel_requested = models.BooleanField(default=False)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_reason = models.TextField(blank=True)
    # The queue its messages go to (re-enqueues by the watchdog use it too).
    queue = models.CharField(max_length=200, default="training")
    celery_task_id = models.CharField(max_length=255, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    # Every delivery of a message that started work on the job, all parts together.
    deliveries = models.PositiveIntegerField(default=0)
    # Per part ("0", "1", ...): deliveries of that part, checked against the maximum.
    part_deliveries = models.JSONField(default=dict)
    cpu_seconds = models.FloatField(default=0)
    peak_memory_bytes = models.PositiveBigIntegerField(default=0)
    wall_seconds = models.FloatField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class TrainingJob(Job):
    """Train a recipe on a dataset version; register the best model as a new version."""

    # SET_NULL, not PROTECT: the registry's delete services decide about their objects;
    # a job that lost its dataset version fails when it runs, its history stays.
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipe = models.CharField(max_length=50)
    spec = models.JSONField(default=dict)
    registered_model_name = models.CharField(max_length=250)
    parallelism = models.PositiveSmallIntegerField(default=1)
    # A retry is a new job (attempt + 1); the failed or cancelled one stays as it was.
    attempt = models.PositiveSmallIntegerField(default=1)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )
    # Distributed search: the study (optuna, in the shared `optuna` schema), whether the
    # parts were sent, and which parts finished.
    study_name = models.CharField(max_length=200, blank=True)
    parts_enqueued = models.BooleanField(default=False)
    parts_finished = models.JSONField(default=list)
    # Results
    experiment = models.ForeignKey(
        "registry.Experiment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parent_run = models.ForeignKey(
        "registry.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    metrics = models.JSONField(default=dict)
    best_params = models.JSONField(default=dict)
    trials_logged = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("cancel_trainingjob", "Can cancel training jobs")]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"]),
            models.Index(fields=["recipe", "-created_at"]),
            models.Index(fields=["-created_at", "-id"]),
        ]

    def __str__(self) -> str:
        return f"training job {self.pk} ({self.recipe}, {self.state})"


class EvaluationJob(Job):
    """Evaluate a model version on a dataset version (reports arrive with governance)."""

    model_version = models.ForeignKey(
        "registry.ModelVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    dataset_version = models.ForeignKey(
        "registry.DatasetVersion", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    report_kinds = models.JSONField(default=list)
    result = models.JSONField(default=dict)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("cancel_evaluationjob", "Can cancel evaluation jobs")]
        indexes = [models.Index(fields=["state", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"evaluation job {self.pk} ({self.state})"
