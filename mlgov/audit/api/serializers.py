"""Input and output shapes of the audit endpoints."""

from __future__ import annotations

from rest_framework import serializers

from mlgov.audit.export import EXPORT_FORMATS
from mlgov.audit.models import AuditEvent
from mlgov.audit.selectors import AuditFilters


class AuditFilterInput(serializers.Serializer):
    """Query parameters of the list and the export (all optional).

    `from` and `to` are ISO 8601 (a date, or a date and time; no offset means UTC) and
    bound a half-open range: from <= occurred_at < to.
    """

    actor = serializers.CharField(required=False, max_length=150)
    action = serializers.CharField(required=False, max_length=100)
    object_type = serializers.CharField(required=False, max_length=100)
    object_id = serializers.CharField(required=False, max_length=100)
    from_ = serializers.DateTimeField(required=False)
    to = serializers.DateTimeField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # `from` is a Python keyword
        return fields

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("from"), attrs.get("to")
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError(
                {"to": ["Must be later than `from`."]}, code="invalid"
            )
        return attrs

    def filters(self) -> AuditFilters:
        data = self.validated_data
        return AuditFilters(
            actor=data.get("actor"),
            action=data.get("action"),
            object_type=data.get("object_type"),
            object_id=data.get("object_id"),
            occurred_from=data.get("from"),
            occurred_to=data.get("to"),
        )


class AuditExportInput(AuditFilterInput):
    """The filters, and the file format of the export."""

    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="csv")


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "sequence", "occurred_at", "actor_id", "actor_username", "action", "object_type",
            "object_id", "before", "after", "request_id", "ip_address", "previous_hash",
            "event_hash",
        ]  # fmt: skip
        read_only_fields = fields


class _AnchorOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    event_hash = serializers.CharField()
    anchored_at = serializers.DateTimeField(allow_null=True)
    matches = serializers.BooleanField()


class _PositionOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    event_hash = serializers.CharField()


class _FindingOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    reason = serializers.ChoiceField(
        choices=[
            "sequence_gap", "sequence_duplicate", "broken_link", "hash_mismatch",
            "anchor_mismatch", "anchor_beyond_head",
        ]  # fmt: skip
    )
    message = serializers.CharField()
    event_id = serializers.IntegerField(allow_null=True)


class ChainReportOutput(serializers.Serializer):
    """The verification of the tenant's chain (`ChainReport.as_dict`)."""

    whole = serializers.BooleanField()
    events_verified = serializers.IntegerField()
    last_verified = _PositionOutput(allow_null=True)
    anchor = _AnchorOutput(allow_null=True)
    first_bad = _FindingOutput(allow_null=True)
    summary = serializers.CharField()
