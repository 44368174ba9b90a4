"""Celery tasks of the training app: thin, they take ids and call a service (STYLE.md 7).

`run_training_job` runs on the `training` queue (CELERY_TASK_ROUTES), whose workers start
a fresh child process per task (--max-tasks-per-child 1): no tenant's data stays in a
worker's memory. Late acknowledgement and reject-on-worker-lost put the message back when
the child dies mid-task; the service counts deliveries, so that cannot loop forever.

The watchdog sweep runs from Celery beat on the default queue (its name does not match
the training route): it must not wait behind long training tasks.
"""

from __future__ import annotations

import socket

from celery import shared_task, signals
from django.conf import settings

from mlgov.queue import TenantBoundTask
from training.services.execute import Delivery, training_job_execute
from training.services.watchdog import training_watchdog_sweep

_HARD_LIMIT = settings.CELERY_TRAINING_HARD_TIME_LIMIT
# The soft limit leaves the job time to record its failure before the hard kill.
_SOFT_LIMIT = _HARD_LIMIT - max(5, min(60, _HARD_LIMIT // 10))


@shared_task(
    base=TenantBoundTask,
    bind=True,
    name="training.tasks.run_training_job",
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=_HARD_LIMIT,
    soft_time_limit=_SOFT_LIMIT,
    ignore_result=True,
)
def run_training_job(self, job_id: int, part: int = 0) -> str:
    """Run (one part of) the training job `job_id` of the message's tenant."""
    delivery_info = self.request.delivery_info or {}
    delivery = Delivery(
        task_id=self.request.id or "",
        hostname=self.request.hostname or socket.gethostname(),
        redelivered=bool(delivery_info.get("redelivered")),
        part=int(part),
    )
    return training_job_execute(job_id=int(job_id), delivery=delivery)


@shared_task(
    name="training.watchdog.sweep",
    time_limit=max(30, settings.MLGOV_WATCHDOG_INTERVAL_SECONDS),
    soft_time_limit=max(25, settings.MLGOV_WATCHDOG_INTERVAL_SECONDS - 5),
    ignore_result=True,
)
def training_watchdog() -> dict:
    """Recover or fail running jobs whose worker went silent, in every tenant."""
    return training_watchdog_sweep().as_dict()


@signals.worker_init.connect
def _preload_for_fresh_children(**_: object) -> None:
    """Load, once in a worker's main process, what a training task would otherwise import
    on first use: each task runs in a fresh child forked from it (--max-tasks-per-child 1),
    which then inherits these instead of paying for them on every job (~0.15 s of CPU)."""
    import pandas
    import pyarrow.pandas_compat  # noqa: F401  (pandas <-> Arrow, on reading the data)

    import registry.model_files  # noqa: F401  (the registration's model-file checks)

    try:  # scikit-learn converts DataFrames through narwhals, whose backends load lazily
        import narwhals.stable.v2 as narwhals

        narwhals.from_native(pandas.DataFrame({"a": [1.0], "b": ["x"]}), eager_only=True)
    except ImportError:
        pass
