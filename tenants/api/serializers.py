from __future__ import annotations

from rest_framework import serializers

from tenants.models import Plan, Tenant


class PlanOutput(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "name", "max_concurrent_jobs", "cpu_seconds_per_month",
                  "artifact_storage_bytes", "max_model_versions", "api_requests_per_minute",
                  "price_per_cpu_hour", "price_per_gb_month"]


class TenantOutput(serializers.ModelSerializer):
    plan = serializers.SlugRelatedField(slug_field="name", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "status", "suspended_reason", "plan", "schema_name",
                  "created_at", "url"]

    def get_url(self, tenant: Tenant) -> str:
        return f"/t/{tenant.slug}/"


class TenantCreateInput(serializers.Serializer):
    # No length, blank or whitespace rules here: the service validates the slug and answers
    # every bad one with `invalid_slug` (a trimmed " acme" would otherwise pass silently).
    slug = serializers.CharField(allow_blank=True, trim_whitespace=False)
    name = serializers.CharField(max_length=200)
    owner_username = serializers.RegexField(r"^[A-Za-z0-9_.@+-]{1,150}$")
    owner_email = serializers.EmailField()
    plan = serializers.SlugRelatedField(
        slug_field="name", queryset=Plan.objects.all(), required=False, allow_null=True
    )


class TenantCreateOutput(TenantOutput):
    owner_username = serializers.CharField()
    owner_one_time_password = serializers.CharField()

    class Meta(TenantOutput.Meta):
        fields = TenantOutput.Meta.fields + ["owner_username", "owner_one_time_password"]


class TenantSuspendInput(serializers.Serializer):
    reason = serializers.CharField(max_length=500)
