from django.apps import AppConfig, apps


class AuditConfig(AppConfig):
    name = "mlgov.audit"
    label = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from mlgov.audit.receivers import login_failed_record

        if apps.is_installed("axes"):
            # django-axes' own receiver first: it counts the failure and flags a lock-out
            # on the request, which the audit event then records.
            import axes.signals  # noqa: F401

        # A signal receiver, against STYLE.md rule 8, because a failed sign-in happens
        # inside Django's authenticate(), which reports it only by this signal; see
        # mlgov/audit/receivers.py.
        user_login_failed.connect(login_failed_record, dispatch_uid="mlgov.audit.login_failed")
