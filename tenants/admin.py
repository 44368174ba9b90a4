from django.contrib import admin

from tenants.models import Domain, Plan, Tenant, UsageRecord


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "plan", "created_at"]
    # Tenants are created through the operator API or `tenant_create` (schema cloning).
    readonly_fields = ["schema_name", "slug"]

    def has_add_permission(self, request) -> bool:
        return False


admin.site.register(Plan)
admin.site.register(Domain)
admin.site.register(UsageRecord)
