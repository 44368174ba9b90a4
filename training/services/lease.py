"""Who is working on a job part right now, proven by the database itself.

A `JobLease` is a PostgreSQL session advisory lock on (schema, job, part), held by a
thread of the worker process on a connection of its own, for as long as the part runs.
That thread also writes the heartbeat (with the CPU seconds and peak memory measured so
far) every MLGOV_JOB_HEARTBEAT_SECONDS and notices a cancellation request.

If the process dies (SIGKILL, out of memory, a lost machine) its connection closes and
PostgreSQL releases the lock: the lease is free exactly when nobody works on the part.
So a second delivery of a part that is still running is dropped, and the watchdog never
re-enqueues a job whose worker is only slow (`lease_is_held`).
"""

from __future__ import annotations

import logging
import resource
import sys
import threading
import time

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

# How long a new delivery waits for the lease: a worker that was just killed may still
# hold it for a moment, until PostgreSQL notices the closed connection.
LEASE_WAIT_SECONDS = 5.0
_LOCK_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))"
_UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%s, 0))"


def lease_key(schema: str, table: str, job_id: int, part: int) -> str:
    return f"mlgov-job-lease:{schema}:{table}:{job_id}:{part}"


def lease_is_held(schema: str, table: str, job_id: int, part: int) -> bool:
    """True while a live process holds the part's lease (checked on this connection)."""
    key = lease_key(schema, table, job_id, part)
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_SQL, [key])
        acquired = cursor.fetchone()[0]
        if acquired:
            cursor.execute(_UNLOCK_SQL, [key])
    return not acquired


class ResourceMeter:
    """CPU seconds (user + system, all threads) of this process since the meter started,
    handed out as deltas, each exactly once; and the process's peak resident memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reported = self._cpu_now()
        self._started = time.monotonic()

    @staticmethod
    def _cpu_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    @staticmethod
    def peak_memory_bytes() -> int:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux: KiB

    def take(self) -> float:
        """CPU seconds used since the previous take."""
        with self._lock:
            now = self._cpu_now()
            delta = max(0.0, now - self._reported)
            self._reported = now
        return delta


def job_report(
    *,
    schema: str,
    table: str,
    job_id: int,
    cpu_delta: float = 0.0,
    peak_memory: int = 0,
    percent: int | None = None,
    stage: str | None = None,
    trials: int = 0,
) -> tuple[bool, str, int] | None:
    """Heartbeat, resources and progress of a running job in one UPDATE (schema-qualified,
    so it does not depend on the connection's search_path). Percent never goes back.
    Returns (cancel_requested, state, trials_logged), or None if the job is gone."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(schema)}.{quote(table)} SET heartbeat_at = now(), "
            "cpu_seconds = cpu_seconds + %s, "
            "peak_memory_bytes = GREATEST(peak_memory_bytes, %s), "
            "progress_percent = GREATEST(progress_percent, COALESCE(%s, 0)), "
            "progress_stage = COALESCE(%s, progress_stage), "
            "trials_logged = trials_logged + %s "
            "WHERE id = %s AND state IN ('queued', 'running') "
            "RETURNING cancel_requested, state, trials_logged",
            [cpu_delta, peak_memory, percent, stage, trials, job_id],
        )
        row = cursor.fetchone()
    return (bool(row[0]), row[1], int(row[2])) if row else None


class JobLease:
    """`with JobLease(...) as lease: if lease.acquired: ...` (see the module docstring)."""

    def __init__(self, *, schema: str, table: str, job_id: int, part: int) -> None:
        self.schema = schema
        self.table = table
        self.job_id = job_id
        self.key = lease_key(schema, table, job_id, part)
        self.meter = ResourceMeter()
        self.acquired = False
        self.cancel_requested = threading.Event()
        self._decided = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.interval = float(settings.MLGOV_JOB_HEARTBEAT_SECONDS)

    def __enter__(self) -> JobLease:
        self._thread = threading.Thread(
            target=self._hold, name=f"job-lease-{self.job_id}", daemon=True
        )
        self._thread.start()
        self._decided.wait(LEASE_WAIT_SECONDS + 30)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def heartbeat(self, **progress) -> tuple[bool, str, int] | None:
        """Report from the job's own thread (between trials): heartbeat, resources,
        progress. Returns what job_report returns."""
        result = job_report(
            schema=self.schema,
            table=self.table,
            job_id=self.job_id,
            cpu_delta=self.meter.take(),
            peak_memory=self.meter.peak_memory_bytes(),
            **progress,
        )
        if result is None or result[0]:
            # Cancelled, or ended meanwhile (another part failed it): stop working on it.
            self.cancel_requested.set()
        return result

    # --- the lease thread ---------------------------------------------------------------

    def _try_lock(self) -> bool:
        deadline = time.monotonic() + LEASE_WAIT_SECONDS
        with connection.cursor() as cursor:
            while True:
                cursor.execute(_LOCK_SQL, [self.key])
                if cursor.fetchone()[0]:
                    return True
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.1)

    def _hold(self) -> None:
        try:
            try:
                self.acquired = self._try_lock()
            finally:
                self._decided.set()
            while self.acquired and not self._stop.wait(self.interval):
                try:
                    self.heartbeat()
                except Exception:  # a missed heartbeat is not worth killing the job for
                    logger.exception("Heartbeat of job %s failed", self.job_id)
            if self.acquired:
                with connection.cursor() as cursor:
                    cursor.execute(_UNLOCK_SQL, [self.key])
        except Exception:
            logger.exception("Lease of job %s failed", self.job_id)
        finally:
            connection.close()  # this thread's own connection
