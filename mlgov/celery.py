"""The Celery app: JSON only, late acks, prefetch 1, time limits, tenant-aware tasks.

Workers (the same CELERY_BROKER_URL, DATABASE_URL and secrets as the web servers):

    # everything but training
    celery -A mlgov worker -Q default,evaluation --concurrency 4 --prefetch-multiplier 1
    # training: one task per child process, so no tenant's data stays in a worker's
    # memory after its task
    celery -A mlgov worker -Q training --concurrency 1 --max-tasks-per-child 1 \
        --prefetch-multiplier 1

A worker refuses to start (exit status 1, the reason on stderr) when the broker's
visibility timeout does not exceed the longest hard time limit of any task (a late-
acked task would be delivered twice), or when it consumes the training queue without
`--max-tasks-per-child 1`.

`MLGOV_WORKER_READY_FILE=/path` makes the worker write that file (JSON: hostname,
pid, queues) once it consumes, and remove it on shutdown: a readiness probe for
orchestrators and tests. `manage.py worker_selftest --tenant <slug>` checks, end to
end, that workers run a tenant's task in that tenant's schema.

Tenant tasks derive from `mlgov.queue.TenantBoundTask` and are sent with
`mlgov.queue.enqueue_after_commit`; a message that is not JSON is discarded unread.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from celery import signals
from django.core.exceptions import ImproperlyConfigured
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")

logger = logging.getLogger(__name__)

TRAINING_QUEUE = "training"

app = CeleryApp("mlgov")
app.config_from_object("django.conf:settings", namespace="CELERY")


app.autodiscover_tasks()


def longest_hard_time_limit() -> int:
    """The longest hard time limit any task of this app may run for, in seconds."""
    from django.conf import settings

    limits = [app.conf.task_time_limit or 0, settings.CELERY_TRAINING_HARD_TIME_LIMIT]
    limits += [task.time_limit for task in app.tasks.values() if getattr(task, "time_limit", None)]
    return max(limits)


# Transports that redeliver an unacknowledged message after a visibility timeout.
VISIBILITY_TIMEOUT_TRANSPORTS = frozenset({"redis", "sqs"})


def assert_visibility_timeout() -> None:
    """A task running past the broker's visibility timeout is delivered again and runs twice.

    Only Redis and SQS redeliver on a timeout; other transports (AMQP, SQLAlchemy) do not
    have one, so there is nothing to check.
    """
    with app.connection_for_read() as broker:  # not connected: only reads the URL
        driver = broker.transport.driver_type
    if driver not in VISIBILITY_TIMEOUT_TRANSPORTS:
        return
    options = app.conf.broker_transport_options or {}
    timeout = options.get("visibility_timeout", 3600)
    longest = longest_hard_time_limit()
    if timeout <= longest:
        raise ImproperlyConfigured(
            f"Broker visibility timeout ({timeout}s) must exceed the longest hard task time "
            f"limit ({longest}s); raise MLGOV_BROKER_VISIBILITY_TIMEOUT."
        )


def assert_training_recycles_children(queues: set[str], max_tasks_per_child: int | None) -> None:
    """A training worker's child must exit after each task (no tenant data left in memory)."""
    if TRAINING_QUEUE in queues and max_tasks_per_child != 1:
        raise ImproperlyConfigured(
            f"A worker consuming the {TRAINING_QUEUE!r} queue must run with "
            f"--max-tasks-per-child 1 (got {max_tasks_per_child}): celery -A mlgov worker "
            "-Q training --concurrency 1 --max-tasks-per-child 1 --prefetch-multiplier 1"
        )


def _consumed_queues(worker: object) -> set[str]:
    worker_app = getattr(worker, "app", app)
    return set(worker_app.amqp.queues.consume_from or worker_app.amqp.queues)


@signals.worker_init.connect
def _check_on_worker_start(sender: object = None, **_: object) -> None:
    # Celery logs and swallows exceptions of signal receivers; SystemExit (not an
    # Exception) is what actually stops the worker from starting.
    try:
        assert_visibility_timeout()
        if sender is not None:
            assert_training_recycles_children(
                _consumed_queues(sender), getattr(sender, "max_tasks_per_child", None)
            )
    except ImproperlyConfigured as error:
        logger.critical("Worker refuses to start: %s", error)
        raise SystemExit(f"mlgov worker refuses to start: {error}") from None


def _ready_file() -> Path | None:
    from django.conf import settings

    name = getattr(settings, "CELERY_WORKER_READY_FILE", None)
    return Path(name) if name else None


@signals.worker_ready.connect
def _write_ready_file(sender: object = None, **_: object) -> None:
    path = _ready_file()
    if path is None:
        return
    controller = getattr(sender, "controller", None)
    state = {
        "hostname": getattr(sender, "hostname", None),
        "pid": os.getpid(),
        "queues": sorted(_consumed_queues(controller)) if controller is not None else [],
    }
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(state))
    partial.replace(path)  # atomic: a reader never sees half a file


@signals.worker_shutdown.connect
def _remove_ready_file(**_: object) -> None:
    path = _ready_file()
    if path is not None:
        path.unlink(missing_ok=True)
