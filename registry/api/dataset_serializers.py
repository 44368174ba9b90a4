"""Input and output serializers of the dataset endpoints.

Inputs list exactly the fields a client may set and refuse any other (owner, digest,
status, ...) with a validation error naming it, rather than silently ignoring it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from rest_framework import serializers

from registry.models import Dataset, DatasetVersion

MAX_DECLARED_COLUMNS = 10_000
COLUMN_LIST_FIELDS = ("sensitive_attributes", "pii_columns")


class StrictInput(serializers.Serializer):
    """Refuses fields it does not declare."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(str(name) for name in data if name not in self.fields)
            if unknown:
                raise serializers.ValidationError(
                    {
                        name: [serializers.ErrorDetail("This field cannot be set.", "not_editable")]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)


class DatasetCreateInput(StrictInput):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    source = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class DatasetUpdateInput(StrictInput):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(allow_blank=True, required=False)
    source = serializers.CharField(max_length=500, allow_blank=True, required=False)


class DatasetOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None)
    version_count = serializers.IntegerField(default=0)
    latest_version = serializers.IntegerField(default=None, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "name",
            "description",
            "source",
            "created_by",
            "created_at",
            "updated_at",
            "version_count",
            "latest_version",
        ]
        read_only_fields = fields


class ColumnListField(serializers.Field):
    """Column names as a list, a JSON list in a string, or a comma-separated string."""

    default_error_messages = {
        "invalid": "Give column names as a JSON list of strings or as comma-separated names.",
        "too_many": f"At most {MAX_DECLARED_COLUMNS} columns may be declared.",
    }

    def to_internal_value(self, data) -> list[str]:
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("["):
                try:
                    data = json.loads(text)
                except ValueError:
                    self.fail("invalid")
            else:
                data = [part.strip() for part in text.split(",")]
        if not isinstance(data, list) or not all(isinstance(name, str) for name in data):
            self.fail("invalid")
        names = list(dict.fromkeys(name for name in data if name))  # drop blanks and repeats
        if len(names) > MAX_DECLARED_COLUMNS:
            self.fail("too_many")
        return names

    def to_representation(self, value):
        return list(value)


class VersionMetadataInput(StrictInput):
    target = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    sensitive_attributes = ColumnListField(required=False, default=list)
    pii_columns = ColumnListField(required=False, default=list)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    source = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")


class DatasetVersionUploadForm(VersionMetadataInput):
    """The multipart form, for the OpenAPI description."""

    file = serializers.FileField()


def metadata_from_query_dict(query_dict, *, ignore: tuple[str, ...]) -> dict:
    """A plain dict of form fields or query parameters; a column list may be repeated."""
    data: dict = {}
    for key in query_dict:
        if key in ignore:
            continue
        values = query_dict.getlist(key)
        data[key] = values if key in COLUMN_LIST_FIELDS and len(values) > 1 else values[-1]
    return data


class DatasetVersionOutput(serializers.ModelSerializer):
    dataset = serializers.IntegerField(source="dataset_id")
    sha256 = serializers.CharField(source="artifact.sha256")
    size_bytes = serializers.IntegerField(source="artifact.size_bytes")
    created_by = serializers.CharField(source="created_by.username", default=None)

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "dataset",
            "version",
            "file_format",
            "sha256",
            "size_bytes",
            "row_count",
            "columns",
            "target",
            "sensitive_attributes",
            "pii_columns",
            "description",
            "source",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields
