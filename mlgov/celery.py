"""The Celery app: JSON only, late acks, prefetch 1, time limits, tenant-aware tasks."""

from __future__ import annotations

import os

from celery import signals
from django.core.exceptions import ImproperlyConfigured
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")

app = CeleryApp("mlgov")
app.config_from_object("django.conf:settings", namespace="CELERY")


app.autodiscover_tasks()


def longest_hard_time_limit() -> int:
    from django.conf import settings

    limits = [app.conf.task_time_limit or 0, settings.CELERY_TRAINING_HARD_TIME_LIMIT]
    limits += [task.time_limit for task in app.tasks.values() if getattr(task, "time_limit", None)]
    return max(limits)


def assert_visibility_timeout() -> None:
    """A task running past the broker's visibility timeout is delivered again and runs twice."""
    if not str(app.conf.broker_url).startswith(("redis://", "rediss://")):
        return  # only Redis redelivers by visibility timeout; AMQP and SQL track acks
    timeout = app.conf.broker_transport_options.get("visibility_timeout", 3600)
    longest = longest_hard_time_limit()
    if timeout <= longest:
        raise ImproperlyConfigured(
            f"Broker visibility timeout ({timeout}s) must exceed the longest hard task time "
            f"limit ({longest}s); raise MLGOV_BROKER_VISIBILITY_TIMEOUT."
        )


@signals.worker_init.connect
def _check_on_worker_start(**_: object) -> None:
    assert_visibility_timeout()
