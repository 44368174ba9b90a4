#!/usr/bin/env python
"""Registry benchmark: server time of registry requests on a real gunicorn.

Prints figures, not a test. One run, on a database of its own:

1. Recreate `mlgov_bench_registry` (or the database named by --database-url) on
   postgresql://postgres@127.0.0.1:5432, `manage.py migrate_tenants`, create the tenant
   `bench` with `tenants.services.tenant_create` and an admin token for its owner with
   `mlgov.identity.services.token_issue`.
2. Start gunicorn (gthread, keep-alive) on a free 127.0.0.1 port against that database.
3. Run each measurement in MEASUREMENTS: warm-up requests, then --repeat measured ones over
   one keep-alive connection. Server time is read from the response's `Server-Timing`
   header (`app;dur=`: the view's time, authentication, parsing and SQL included; the WSGI
   server and the tenant middleware not); client time (loopback, body upload included) is
   reported beside it.
4. Print a table, then exactly one JSON line of the figures, each beside its goal.

Measurements (one function each; add yours to MEASUREMENTS):
- metric_batch_10k: POST /t/bench/api/v1/runs/<id>/metrics/ with 10,000 points in one
  request; goal p50 server time <= 100 ms (issue 3).
- model_version_list_100: GET /t/bench/api/v1/model-versions/?model=<id>&page_size=100, a
  page of 100 out of one model's 1,000 versions (tags, aliases, metrics, signatures); the
  issue asks for the figure and sets no goal.

Run: `.venv/bin/python bench/registry.py [--repeat 20] [--points 10000]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mlgov_bench_registry"
SLUG = "bench"

GOAL_METRIC_BATCH_MS = 100.0

_SERVER_TIMING = re.compile(r"\bapp;dur=([0-9.]+)")


# --- database and Django -------------------------------------------------------------------


def recreate_database(database_url: str) -> None:
    import psycopg2

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MLGOV_ENV"] = "development"
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlgov.settings"
    # Run as a script, bench/ heads sys.path: keep it from shadowing the project's apps.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_tenant() -> str:
    """The `bench` tenant and an admin token for its owner (the product's services)."""
    from django.contrib.auth.models import User
    from django_tenants.utils import schema_context

    from mlgov.identity.services import token_issue
    from tenants.services import tenant_create

    created = tenant_create(
        acting_user=None, slug=SLUG, name="Bench", owner_username="owner",
        owner_email="owner@bench.test",
    )
    with schema_context(created.tenant.schema_name):
        owner = User.objects.get(username="owner")
        issued = token_issue(acting_user=None, user=owner, name="bench", scope="admin",
                             expires_days=1)
    return issued.plaintext


# --- HTTP ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_gunicorn(workers: int, log_path: Path, database_url: str) -> Server:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "mlgov.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", "1", "--keep-alive", "30",
        "--log-level", "warning",
    ]
    log = log_path.open("w")
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(process=process, port=port, log_path=log_path)


@dataclass
class Reply:
    status: int
    body: bytes
    client_ms: float
    server_ms: float | None


class Api:
    """One keep-alive connection to the tenant's API with the owner's token."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, method: str, path: str, body: bytes | None = None) -> Reply:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.conn.request(method, f"/t/{SLUG}/api/v1/{path}", body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        client_ms = (time.perf_counter() - started) * 1000
        timing = _SERVER_TIMING.search(response.getheader("Server-Timing") or "")
        if response.will_close:
            self.conn.close()  # http.client reopens it on the next request
        return Reply(response.status, data, client_ms, float(timing[1]) if timing else None)

    def close(self) -> None:
        self.conn.close()


def wait_ready(server: Server, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        api = Api(server.port, token)
        try:
            if api.call("GET", "experiments/").status == 200:
                return
        except OSError:
            pass
        finally:
            api.close()
        time.sleep(0.3)
    tail = server.log_path.read_text()[-2000:]
    raise RuntimeError(f"gunicorn did not answer 200 within {timeout:.0f}s:\n{tail}")


# --- measurements --------------------------------------------------------------------------


@dataclass
class Context:
    api: Api
    schema_name: str
    repeat: int
    warmup: int
    points: int


@dataclass
class Result:
    """One measurement: samples in ms, its goal on the server-time p50."""

    name: str
    label: str
    goal_ms: float | None
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def percentile(samples: list[float], q: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def _owner_run(schema_name: str) -> int:
    """An experiment and a run of the owner's, made through the services."""
    from django.contrib.auth.models import User
    from django_tenants.utils import schema_context

    from registry.services.experiments import experiment_create
    from registry.services.runs import run_create

    with schema_context(schema_name):
        owner = User.objects.get(username="owner")
        experiment = experiment_create(acting_user=owner, name=f"bench-{time.time_ns()}")
        return run_create(acting_user=owner, experiment=experiment, name="bench").pk


def measure_metric_batch(context: Context) -> Result:
    """POST one batch of `context.points` metric points (10 keys, increasing steps)."""
    from django.db import connection
    from django_tenants.utils import schema_context

    result = Result(
        "metric_batch_10k",
        f"POST runs/<id>/metrics/, {context.points:,} points",
        GOAL_METRIC_BATCH_MS,
    )
    run_id = _owner_run(context.schema_name)
    total = context.warmup + context.repeat
    now_ms = int(time.time() * 1000)
    bodies = []
    for request in range(total):  # built before timing starts: the client's cost is not ours
        first = request * context.points
        points = [
            {"key": f"metric_{i % 10}", "value": (i % 997) / 997.0, "step": i // 10,
             "timestamp": now_ms + i}
            for i in range(first, first + context.points)
        ]
        bodies.append(json.dumps({"metrics": points}).encode())
    result.notes.append(f"body {len(bodies[0]) / 1024:.0f} KiB")
    for index, body in enumerate(bodies):
        reply = context.api.call("POST", f"runs/{run_id}/metrics/", body)
        if reply.status != 201:
            raise RuntimeError(f"metric batch answered {reply.status}: {reply.body[:500]!r}")
        if index >= context.warmup:
            if reply.server_ms is None:
                raise RuntimeError("The response carries no Server-Timing header.")
            result.server_ms.append(reply.server_ms)
            result.client_ms.append(reply.client_ms)
    with schema_context(context.schema_name), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM registry_runmetric WHERE run_id = %s", [run_id])
        stored = cursor.fetchone()[0]
    if stored != total * context.points:
        raise RuntimeError(f"{stored} points stored, {total * context.points} sent.")
    result.notes.append(f"{stored:,} points stored, all checked")
    return result


def _owner_model_with_versions(schema_name: str, count: int) -> int:
    """A registered model of the owner's with `count` versions that look like real ones
    (signature, metrics, description, two tags each, a few aliases and stages)."""
    from django.contrib.auth.models import User
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from registry.models import ModelAlias, ModelVersion, ModelVersionTag
    from registry.services.models import registered_model_create

    with schema_context(schema_name):
        owner = User.objects.get(username="owner")
        model = registered_model_create(acting_user=owner, name=f"bench-{time.time_ns()}")
        signature = {"inputs": [{"name": f"f{i}", "type": "double"} for i in range(20)],
                     "outputs": [{"name": "score", "type": "double"}]}
        # Bulk rows, not registrations: the measurement is the list page, not signing.
        versions = ModelVersion.objects.bulk_create(
            ModelVersion(
                registered_model=model, version=number, model_format="skops", flavor="sklearn",
                verified=True, signature=signature, sha256=f"{number:064x}",
                metrics={"auc": 0.8 + number / 10_000, "f1": 0.7, "accuracy": 0.9},
                description=f"version {number}", created_by=owner, created_at=timezone.now(),
                stage="archived" if number < count else "production",
            )
            for number in range(1, count + 1)
        )
        ModelVersionTag.objects.bulk_create(
            ModelVersionTag(model_version=version, key=key, value=str(version.version))
            for version in versions for key in ("seed", "job")
        )
        for alias, version in (("champion", versions[-1]), ("challenger", versions[-2])):
            ModelAlias.objects.create(registered_model=model, alias=alias,
                                      model_version=version)
        return model.pk


def measure_model_version_list(context: Context) -> Result:
    """GET one 100-item page of the flat model-version list (the console's list)."""
    page_size = 100
    result = Result(
        "model_version_list_100",
        f"GET model-versions/, {page_size} items",
        None,  # issue 3 asks for the figure; it sets no goal
    )
    model_id = _owner_model_with_versions(context.schema_name, count=1_000)
    path = f"model-versions/?model={model_id}&page_size={page_size}"
    for index in range(context.warmup + context.repeat):
        reply = context.api.call("GET", path)
        if reply.status != 200:
            raise RuntimeError(f"version list answered {reply.status}: {reply.body[:500]!r}")
        body = json.loads(reply.body)
        if len(body["results"]) != page_size or body["count"] != 1_000:
            raise RuntimeError(f"expected {page_size} of 1,000 versions, got {body['count']}")
        if index >= context.warmup:
            if reply.server_ms is None:
                raise RuntimeError("The response carries no Server-Timing header.")
            result.server_ms.append(reply.server_ms)
            result.client_ms.append(reply.client_ms)
    result.notes.append(f"page of {page_size} out of 1,000 versions; body "
                        f"{len(reply.body) / 1024:.0f} KiB")
    return result


MEASUREMENTS: list[Callable[[Context], Result]] = [
    measure_metric_batch,
    measure_model_version_list,
]


# --- report --------------------------------------------------------------------------------


def goal(value: float, op: str, limit: float) -> dict:
    met = value <= limit if op == "<=" else value >= limit
    return {"value": round(value, 3), "goal": f"{op} {limit:g}", "met": met}


def report(results: list[Result], meta: dict) -> None:
    print()
    print(f"{'measurement':<44} {'p50':>9} {'p95':>9} {'min':>9}  notes")
    figures: dict = {}
    for result in results:
        for kind, samples in (("server", result.server_ms), ("client", result.client_ms)):
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            note = ""
            if kind == "server" and result.goal_ms is not None:
                verdict = "met" if p50 <= result.goal_ms else "MISSED"
                note = f"goal p50 <= {result.goal_ms:g} ms: {verdict}"
                figures[f"{result.name}_server_ms_p50"] = goal(p50, "<=", result.goal_ms)
            else:
                figures[f"{result.name}_{kind}_ms_p50"] = round(p50, 3)
            figures[f"{result.name}_{kind}_ms_p95"] = round(p95, 3)
            print(f"{result.label + f' ({kind})':<44} {p50:>7.1f}ms {p95:>7.1f}ms "
                  f"{min(samples):>7.1f}ms  {note}")
        figures[f"{result.name}_samples"] = len(result.server_ms)
        for note in result.notes:
            print(f"{'':<44} {note}")
    print()
    print(json.dumps({**figures, **meta}, sort_keys=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="a database of its own: it is dropped and recreated")
    parser.add_argument("--repeat", type=int, default=20, help="measured requests each")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured requests first")
    parser.add_argument("--points", type=int, default=10_000, help="metric points per batch")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args()
    started = time.perf_counter()

    print(f"Database {urlsplit(args.database_url).path.lstrip('/')}: recreating, migrating…",
          flush=True)
    recreate_database(args.database_url)
    django_setup(args.database_url)
    from django.core.management import call_command

    from tenants.slugs import schema_name_for

    call_command("migrate_tenants", verbosity=0)
    token = create_tenant()
    log_dir = Path(tempfile.mkdtemp(prefix="mlgov-bench-registry-"))
    server = start_gunicorn(args.workers, log_dir / "gunicorn.log", args.database_url)
    results: list[Result] = []
    api = None
    try:
        wait_ready(server, token)
        print(f"gunicorn on 127.0.0.1:{server.port}, {args.workers} workers (gthread, "
              f"keep-alive); log in {log_dir}", flush=True)
        api = Api(server.port, token)
        context = Context(api=api, schema_name=schema_name_for(SLUG), repeat=args.repeat,
                          warmup=args.warmup, points=args.points)
        for measurement in MEASUREMENTS:
            print(f"Measuring {measurement.__name__}: {args.warmup} warm-up + "
                  f"{args.repeat} requests…", flush=True)
            results.append(measurement(context))
    finally:
        if api is not None:
            api.close()
        server.stop()
    report(results, {
        "repeat": args.repeat,
        "points_per_batch": args.points,
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
