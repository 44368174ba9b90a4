"""Input and output shapes of the training-job endpoints."""

from __future__ import annotations

from rest_framework import serializers

from registry.api.dataset_serializers import StrictInput
from training.models import TrainingJob
from training.services.jobs import MAX_PARALLELISM

LOG_TAIL_LINES = 200


class TrainingJobCreateInput(StrictInput):
    dataset_version = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    recipe = serializers.CharField(max_length=50)
    spec = serializers.JSONField(help_text="target, features, sensitive_attributes, trials, ...")
    registered_model_name = serializers.CharField(max_length=250)
    parallelism = serializers.IntegerField(
        min_value=1, max_value=MAX_PARALLELISM, default=1, required=False
    )

    def validate_spec(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("The spec is a JSON object.", code="invalid_spec")
        return value


class _Progress(serializers.Serializer):
    percent = serializers.IntegerField(source="progress_percent")
    stage = serializers.CharField(source="progress_stage")
    trials_logged = serializers.IntegerField()


class _Failure(serializers.Serializer):
    code = serializers.CharField(source="failure_code")
    reason = serializers.CharField(source="failure_reason")


class _Resources(serializers.Serializer):
    cpu_seconds = serializers.FloatField()
    peak_memory_bytes = serializers.IntegerField()
    wall_seconds = serializers.FloatField(allow_null=True)


class _Worker(serializers.Serializer):
    celery_task_id = serializers.CharField()
    hostname = serializers.CharField(source="worker_hostname")
    pid = serializers.IntegerField(source="worker_pid", allow_null=True)
    deliveries = serializers.IntegerField()
    part_deliveries = serializers.JSONField()
    heartbeat_at = serializers.DateTimeField(allow_null=True)


class _Links(serializers.Serializer):
    experiment = serializers.IntegerField(source="experiment_id", allow_null=True)
    parent_run = serializers.IntegerField(source="parent_run_id", allow_null=True)
    model_version = serializers.IntegerField(source="model_version_id", allow_null=True)


class _DatasetVersionRef(serializers.Serializer):
    id = serializers.IntegerField()
    dataset = serializers.IntegerField(source="dataset_id")
    dataset_name = serializers.CharField(source="dataset.name")
    version = serializers.IntegerField()


class TrainingJobOutput(serializers.ModelSerializer):
    """A job in a list: state, progress, failure, resources, links (no log)."""

    dataset_version = _DatasetVersionRef(allow_null=True)
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    progress = _Progress(source="*")
    failure = serializers.SerializerMethodField()
    resources = _Resources(source="*")
    worker = _Worker(source="*")
    links = _Links(source="*")
    retry_of = serializers.IntegerField(source="retry_of_id", allow_null=True)

    class Meta:
        model = TrainingJob
        fields = [
            "id", "state", "recipe", "registered_model_name", "parallelism", "attempt",
            "retry_of", "dataset_version", "spec", "progress", "cancel_requested", "failure",
            "resources", "worker", "links", "created_by", "created_at", "started_at",
            "finished_at",
        ]  # fmt: skip

    def get_failure(self, job: TrainingJob) -> dict | None:
        return _Failure(job).data if job.failure_code else None


class TrainingJobDetailOutput(TrainingJobOutput):
    """One job: everything in the list, plus metrics, best params and the log's tail."""

    log_tail = serializers.SerializerMethodField()

    class Meta(TrainingJobOutput.Meta):
        fields = [*TrainingJobOutput.Meta.fields, "metrics", "best_params", "log_tail"]

    def get_log_tail(self, job: TrainingJob) -> list[str]:
        return job.log.splitlines()[-LOG_TAIL_LINES:]
