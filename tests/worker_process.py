"""A real `celery -A mlgov worker` in a subprocess, for tests that need one.

    worker = CeleryWorker(queues=[isolated_queue("default")], concurrency=2).start()
    try:
        ...  # send tasks with queue=worker.queues[0]; committed data only
    finally:
        worker.stop()

or `with CeleryWorker(...) as worker:`. The worker gets this test run's database (the
test database, as a DATABASE_URL), this process's broker URL (so the SQLAlchemy
transport, derived from DATABASE_URL when CELERY_BROKER_URL is unset, stays the same
database), MLGOV_ENV=test and the rest of this process's environment; `env=` adds or
overrides variables. Only committed data is visible to it: use the `committed_tenant`
fixture, never `db`.

Readiness is the worker's own signal: mlgov/celery.py writes MLGOV_WORKER_READY_FILE
once the worker consumes. Every wait is bounded; a worker that dies or does not become
ready fails the test with the tail of its log. `stop()` asks for a warm shutdown and
kills the worker's whole process group (its pool children too) if that takes too long.

On a shared broker, give each worker queue names of its own (`isolated_queue`) and send
to them (`queue=`): parallel test runs (pytest-xdist, other checkouts) then never take
each other's messages, and a message left over from a crashed run is never consumed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_CHARS = 4000


class WorkerFailed(AssertionError):
    """The worker exited, or did not become ready, when the test needed it."""


_isolated_queues: set[str] = set()


def isolated_queue(name: str) -> str:
    """A queue name no other test run uses: `default` -> `default.test-1a2b3c4d`.

    A worker deletes its isolated queues from the broker when it stops.
    """
    queue = f"{name}.test-{uuid.uuid4().hex[:8]}"
    _isolated_queues.add(queue)
    return queue


def delete_queue(name: str) -> None:
    """Remove a queue, its messages and its binding from this run's broker (best effort)."""
    from kombu import Exchange, Queue

    from mlgov.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
            bound = queue(connection.default_channel)
            bound.declare()  # the channel must know the binding to remove it
            bound.delete()
            channel = connection.default_channel
            if connection.transport.driver_type == "sql":  # kombu keeps the queue's row
                channel.session.query(channel.queue_cls).filter_by(name=name).delete()
                channel.session.commit()
    except Exception:  # cleanup must not hide the outcome of the test itself
        pass


def database_url(db: Mapping[str, Any]) -> str:
    """A DATABASE_URL (as mlgov/settings.py reads it) for a Django DATABASES entry."""
    user = quote(str(db.get("USER") or ""), safe="")
    password = db.get("PASSWORD")
    auth = user + (f":{quote(str(password), safe='')}" if password else "")
    host = str(db.get("HOST") or "")
    name = quote(str(db["NAME"]), safe="")
    query = {k: str(v) for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str | int)}
    if host.startswith("/"):  # a Unix socket directory (the embedded PostgreSQL)
        query = {"host": host, **query}
        netloc = f"{auth}@" if auth else ""
    else:
        port = f":{db['PORT']}" if db.get("PORT") else ""
        netloc = (f"{auth}@" if auth else "") + host + port
    suffix = f"?{urlencode(query, safe='/')}" if query else ""
    return f"postgresql://{netloc}/{name}{suffix}"


def ensure_broker_database(broker_url: str) -> None:
    """Create the database of a `sqla+postgresql` broker if it is missing.

    The derived broker lives in DATABASE_URL's database, which a test run does not
    otherwise create (it works in `<name>_test`).
    """
    if not broker_url.startswith("sqla+postgresql"):
        return
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(broker_url.removeprefix("sqla+"))
    params = dict(parse_qsl(parts.query))
    name = parts.path.lstrip("/")
    conn = psycopg2.connect(
        dbname="postgres",
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        host=params.get("host") or parts.hostname or None,
        port=parts.port or None,
    )
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg2.errors.DuplicateDatabase:
        pass  # another test process created it first
    finally:
        conn.close()


def worker_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker that shares this test run's database and broker."""
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="mlgov.settings",
        MLGOV_ENV=settings.MLGOV_ENV,
        DATABASE_URL=database_url(settings.DATABASES["default"]),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


@dataclass
class CeleryWorker:
    """One `celery -A mlgov worker` process (and its pool children)."""

    queues: Sequence[str] = ("default",)
    concurrency: int = 1
    max_tasks_per_child: int | None = None
    prefetch_multiplier: int = 1
    pool: str = "prefork"
    loglevel: str = "INFO"
    env: Mapping[str, str] = field(default_factory=dict)
    extra_args: Sequence[str] = ()
    name: str = field(default_factory=lambda: f"test-{uuid.uuid4().hex[:8]}")
    workdir: Path | None = None

    process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    ready_info: dict = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"mlgov-{self.name}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "worker.log"
        self.ready_path = self.workdir / "ready.json"

    # --- life cycle -----------------------------------------------------------

    def command(self) -> list[str]:
        command = [
            sys.executable, "-m", "celery", "-A", "mlgov", "worker",
            "-Q", ",".join(self.queues),
            "--hostname", f"{self.name}@%h",
            "--pool", self.pool,
            "--concurrency", str(self.concurrency),
            "--prefetch-multiplier", str(self.prefetch_multiplier),
            "--loglevel", self.loglevel,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        if self.max_tasks_per_child is not None:
            command += ["--max-tasks-per-child", str(self.max_tasks_per_child)]
        return command + list(self.extra_args)

    def start(self, *, wait_ready: bool = True, timeout: float = READY_TIMEOUT) -> CeleryWorker:
        """Start the worker; by default wait until it consumes (bounded by `timeout`)."""
        if self.process is not None:
            raise RuntimeError("This worker was started already.")
        env = worker_environment({"MLGOV_WORKER_READY_FILE": str(self.ready_path), **self.env})
        ensure_broker_database(env["CELERY_BROKER_URL"])
        self.ready_path.unlink(missing_ok=True)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the children
            )
        if wait_ready:
            self.wait_ready(timeout=timeout)
        return self

    def wait_ready(self, *, timeout: float = READY_TIMEOUT) -> dict:
        """Wait until the worker consumes; returns its ready file (hostname, pid, queues)."""
        self._wait(lambda: self.ready_path.exists(), timeout, "become ready", fail_on_exit=True)
        self.ready_info = json.loads(self.ready_path.read_text())
        return self.ready_info

    def wait_exit(self, *, timeout: float = READY_TIMEOUT) -> int:
        """Wait for the worker to exit by itself (a refused start); returns its status."""
        assert self.process is not None, "start() first"
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WorkerFailed(
                f"Worker {self.name} still runs after {timeout:g}s.\n{self.log_tail()}"
            ) from None

    def stop(self, *, graceful: bool = True, timeout: float = STOP_TIMEOUT) -> int | None:
        """Warm shutdown (SIGTERM), then SIGKILL to the process group after `timeout`.

        `graceful=False` kills at once: for a worker known to be idle, since a warm
        shutdown takes seconds on a polling transport (the SQLAlchemy one: ~5 s).
        Isolated queues of this worker are then deleted from the broker.
        """
        process = self.process
        if process is None:
            return None
        if process.poll() is None and graceful:
            # To the main process only, as a supervisor would: it stops its pool children
            # itself once their tasks are done (a SIGTERM to a child kills that child).
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
        self._signal_group(signal.SIGKILL)  # pool children left behind, if any
        process.wait(timeout=5)
        for queue in self.queues:
            if queue in _isolated_queues:
                delete_queue(queue)
        return process.returncode

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signum)  # the group started for this worker only
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> CeleryWorker:
        return self.start() if self.process is None else self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- observing ---------------------------------------------------------------

    @property
    def hostname(self) -> str:
        """The node name the worker reports (`test-1a2b3c4d@host`); known once ready."""
        return self.ready_info.get("hostname", "")

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        return f"--- worker {self.name} log (tail) ---\n{self.log()[-chars:]}"

    def wait_for_log(self, text: str, *, timeout: float = 20.0) -> str:
        """Wait until `text` appears in the worker's log; returns the log."""
        self._wait(lambda: text in self.log(), timeout, f"log {text!r}")
        return self.log()

    def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 20.0,
                   what: str = "the condition") -> Any:
        """Poll `predicate` until truthy; fail with the worker's log if it never is."""
        return self._wait(predicate, timeout, what)

    def _wait(self, predicate: Callable[[], Any], timeout: float, what: str,
              *, fail_on_exit: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        interval = 0.02
        while True:
            result = predicate()
            if result:
                return result
            if fail_on_exit and self.process is not None and self.process.poll() is not None:
                raise WorkerFailed(
                    f"Worker {self.name} exited with status {self.process.returncode} "
                    f"before {what}.\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise WorkerFailed(
                    f"Timed out after {timeout:g}s waiting for {what}.\n{self.log_tail()}"
                )
            time.sleep(interval)
            interval = min(interval * 2, 0.2)
