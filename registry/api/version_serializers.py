"""Input and output serializers of the model-version endpoints (registry/api/versions.py)."""

from __future__ import annotations

import json

from rest_framework import serializers

from registry.api.models import StrictInput, TagsField
from registry.models import ModelVersion
from registry.services import versions as services


class JSONObjectField(serializers.JSONField):
    """A JSON object, given as JSON or (in a multipart form) as a JSON-encoded string."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data, parse_constant=_refuse_constant)
            except ValueError:
                raise serializers.ValidationError("Must be a JSON object.") from None
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if len(json.dumps(value)) > 256 * 1024:
            raise serializers.ValidationError("Must be at most 256 KiB of JSON.")
        return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class JSONTagsField(TagsField):
    def get_value(self, dictionary):
        # In a multipart form the tags come as one JSON string, not as `tags.<key>` fields.
        if hasattr(dictionary, "getlist") and self.field_name in dictionary:
            return dictionary.get(self.field_name)
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("Must be a JSON object.") from None
        return super().to_internal_value(data)


class _VersionFields(StrictInput):
    model_format = serializers.ChoiceField(choices=services.REGISTRABLE_FORMATS, required=False)
    signature = JSONObjectField(required=False, help_text="input and output schema")
    metrics = JSONObjectField(required=False)
    description = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    tags = JSONTagsField(required=False)
    flavor = serializers.RegexField(r"^[a-z0-9_.-]{1,50}$", required=False)
    idempotency_key = serializers.CharField(max_length=200, required=False)


class VersionFromRunInput(_VersionFields):
    run = serializers.CharField(max_length=64, help_text="run id or UUID")
    artifact_path = serializers.CharField(
        max_length=1000, help_text="the model file's name inside the run's artifacts"
    )


class VersionUploadInput(_VersionFields):
    file = serializers.FileField()


class ModelVersionOutput(serializers.ModelSerializer):
    model = serializers.IntegerField(source="registered_model_id")
    model_name = serializers.CharField(source="registered_model.name")
    run = serializers.IntegerField(source="run_id", allow_null=True)
    run_uuid = serializers.UUIDField(default=None, format="hex", read_only=True)
    size_bytes = serializers.IntegerField(default=None, read_only=True)
    signed = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by_username", default=None)

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "model",
            "model_name",
            "version",
            "run",
            "run_uuid",
            "model_format",
            "flavor",
            "verified",
            "verification_detail",
            "signed",
            "signing_key_version",
            "sha256",
            "size_bytes",
            "signature",
            "metrics",
            "status",
            "stage",
            "description",
            "aliases",
            "tags",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_signed(self, version: ModelVersion) -> bool:
        return bool(version.ed25519_signature)

    # Versions come from selectors.model_version_list, which annotates these values.
    def get_aliases(self, version: ModelVersion) -> list[str]:
        return version.alias_names or []

    def get_tags(self, version: ModelVersion) -> dict[str, str]:
        return {pair["key"]: pair["value"] for pair in version.tag_pairs or []}


class VersionUpdateInput(StrictInput):
    description = serializers.CharField(allow_blank=True, max_length=20000)


class ModelCardIO(StrictInput):
    intended_use = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    out_of_scope_use = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    training_data = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    evaluation_data = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    limitations = serializers.CharField(allow_blank=True, required=False, max_length=20000)
    ethical_considerations = serializers.CharField(
        allow_blank=True, required=False, max_length=20000
    )
    owners = serializers.CharField(allow_blank=True, required=False, max_length=20000)


class StageInput(StrictInput):
    stage = serializers.ChoiceField(choices=ModelVersion.Stage.values)
    reason = serializers.CharField(max_length=5000)


class TransitionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    from_value = serializers.CharField()
    to_value = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.CharField(source="actor.username", default=None)
    created_at = serializers.DateTimeField()


class StageOutput(serializers.Serializer):
    version = ModelVersionOutput()
    transitions = TransitionOutput(many=True)
