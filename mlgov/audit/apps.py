from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "mlgov.audit"
    label = "audit"
    verbose_name = "Audit log"
