"""URLs of the audit log pages (included at the tenant's root)."""

from django.urls import path

from mlgov.audit import console

urlpatterns = [
    path("audit/", console.audit_log, name="console-audit"),
    path("audit/verify/", console.audit_verify, name="console-audit-verify"),
    path("audit/export/", console.audit_export, name="console-audit-export"),
]
