"""Input and output serializers of runs (the run viewset lives in registry/api/runs.py)."""

from __future__ import annotations

import django_filters
from rest_framework import serializers

from registry.api.experiments import StrictInput
from registry.models import Run
from registry.services import metrics, runs

_INT64_MAX = 2**63 - 1


# --- output --------------------------------------------------------------------------------


class LatestMetricOutput(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.SerializerMethodField()
    step = serializers.IntegerField()
    timestamp = serializers.IntegerField()

    def get_value(self, point) -> float | str:
        return metrics.metric_value_out(point.value)


class RunOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.SerializerMethodField()
    latest_metrics = LatestMetricOutput(many=True, read_only=True)

    class Meta:
        model = Run
        fields = ["id", "uuid", "experiment", "parent_run", "name", "status", "lifecycle_stage",
                  "start_time", "end_time", "created_by", "tags", "latest_metrics"]

    def get_tags(self, run) -> dict[str, str]:
        return {tag.key: tag.value for tag in run.tags.all()}


class DatasetInputOutput(serializers.Serializer):
    dataset_version = serializers.IntegerField(source="dataset_version_id")
    dataset = serializers.IntegerField(source="dataset_version.dataset_id")
    dataset_name = serializers.CharField(source="dataset_version.dataset.name")
    version = serializers.IntegerField(source="dataset_version.version")
    context = serializers.CharField()


class RunDetailOutput(RunOutput):
    params = serializers.SerializerMethodField()
    dataset_inputs = DatasetInputOutput(many=True, read_only=True)

    class Meta(RunOutput.Meta):
        fields = RunOutput.Meta.fields + ["params", "dataset_inputs"]

    def get_params(self, run) -> dict[str, str]:
        return {param.key: param.value for param in run.params.all()}


class ArtifactEntryOutput(serializers.Serializer):
    name = serializers.CharField()
    path = serializers.CharField()
    is_dir = serializers.BooleanField()
    size_bytes = serializers.IntegerField(allow_null=True)
    sha256 = serializers.CharField(allow_null=True)


# --- input ---------------------------------------------------------------------------------


def _text(**kwargs):
    return serializers.CharField(allow_blank=True, trim_whitespace=False, **kwargs)


class RunCreateInput(StrictInput):
    experiment = serializers.IntegerField(min_value=1, max_value=_INT64_MAX)
    name = _text(max_length=runs.MAX_RUN_NAME_LENGTH, required=False, default="")
    start_time = serializers.DateTimeField(required=False)
    parent_run = serializers.IntegerField(
        min_value=1, max_value=_INT64_MAX, required=False, allow_null=True
    )
    tags = serializers.DictField(child=_text(), required=False, default=dict)
    params = serializers.DictField(child=_text(), required=False, default=dict)


class RunUpdateInput(StrictInput):
    name = _text(max_length=runs.MAX_RUN_NAME_LENGTH, required=False)
    status = serializers.ChoiceField(choices=Run.Status.choices, required=False)
    end_time = serializers.DateTimeField(required=False)


class ParamsInput(StrictInput):
    params = serializers.JSONField(help_text="[{key, value}] or {key: value}")


class TagsInput(StrictInput):
    tags = serializers.JSONField(help_text="[{key, value}] or {key: value}")


class DatasetInputInput(StrictInput):
    dataset_version = serializers.IntegerField(min_value=1, max_value=_INT64_MAX)
    context = serializers.CharField(max_length=50, required=False, default="training")


class RunFilter(django_filters.FilterSet):
    experiment = django_filters.NumberFilter(field_name="experiment_id")
    parent_run = django_filters.NumberFilter(field_name="parent_run_id")
    created_by = django_filters.NumberFilter(field_name="created_by_id")
    created_by_username = django_filters.CharFilter(field_name="created_by__username")
    status = django_filters.ChoiceFilter(choices=Run.Status.choices)

    class Meta:
        model = Run
        fields = ["experiment", "parent_run", "created_by", "status"]
