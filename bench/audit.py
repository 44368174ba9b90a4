#!/usr/bin/env python
"""Audit benchmark: events appended per second by concurrent writers, events verified per second.

Prints figures, not a test. Steps, on a database of its own:

1. Create `mlgov_bench_audit` (the database named by DATABASE_URL, which must contain
   "bench") on the server if it is missing; `manage.py migrate_tenants`; create the tenant
   `bench-audit` with `tenants.services.tenant_create` if it is missing.
2. Append: --writers processes (default 8), each with its own connection, start together and
   append --events-per-writer events (default 1,000) to the tenant's chain, each event in its
   own transaction through `mlgov.audit.recorder.record_event`, as a write service does in
   production (the commit waits until the event is on disk). Goal >= 2,000 events/s.
3. Verify the chain is whole, then fill it up to --verify-events (default 200,000) events.
   Setup shortcut: the fill inserts chained rows in bulk (hashes computed with
   `mlgov.audit.chain`), not through the recorder, so that it takes seconds.
4. Time `mlgov.audit.verify.chain_verify` over the whole chain, best of --verify-runs (3).
   Goal >= 100,000 events/s.
5. With --ceiling (when `pgbench` is found): the same appends from a C client, pgbench with
   --writers clients sending the recorder's own SQL (one round trip to lock, read the head and
   insert; COMMIT; the WAL flush) to a scratch copy of the table. Not a goal: it shows what
   this machine allows at that moment, so the Python figure can be judged against it.
6. Print a table and, last, one JSON line with each figure beside its goal.

Run: `DATABASE_URL=postgresql://postgres@127.0.0.1:5432/mlgov_bench_audit
.venv/bin/python bench/audit.py [--writers 8] [--events-per-writer 1000]`.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mlgov_bench_audit"
TENANT_SLUG = "bench-audit"

GOAL_APPEND_PER_S = 2_000.0
GOAL_VERIFY_PER_S = 100_000.0


def _environment() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("MLGOV_ENV", "test")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlgov.settings")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _database_ensure(url: str) -> str:
    """Create the benchmark's database when it is missing; refuse any other database."""
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"Refusing to fill {name!r}: the database name must contain 'bench'.")
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return name


def _writer(schema_name: str, events: int, start, results) -> None:
    """One writer process: its own connection, one transaction per event."""
    _environment()
    import django

    django.setup()
    from django.db import connection, transaction

    from mlgov.audit.recorder import record_event

    connection.set_schema(schema_name)
    with transaction.atomic():  # connect and warm up outside the measured window
        record_event(actor=None, action="bench.warmup", object_type="bench")
    start.wait()
    latencies = []
    began = time.monotonic()
    for index in range(events):
        t0 = time.perf_counter()
        with transaction.atomic():
            record_event(
                actor=None,
                action="bench.append",
                object_type="model_version",
                object_id=index,
                before={"stage": "staging", "version": index},
                after={"stage": "production", "version": index, "reason": "benchmark"},
            )
        latencies.append(time.perf_counter() - t0)
    results.put((began, time.monotonic(), latencies))
    connection.close()


def _append(schema_name: str, writers: int, events: int) -> dict:
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    results = context.Queue()
    processes = [
        context.Process(target=_writer, args=(schema_name, events, start, results))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)
    while sum(1 for p in processes if p.is_alive()) < writers:
        time.sleep(0.1)
    time.sleep(4.0)  # every writer has set Django up and written its warm-up event
    start.set()
    collected = [results.get(timeout=600) for _ in processes]
    for process in processes:
        process.join()
    began = min(item[0] for item in collected)
    ended = max(item[1] for item in collected)
    latencies = sorted(x for item in collected for x in item[2])
    total = writers * events
    return {
        "events": total,
        "seconds": ended - began,
        "per_s": total / (ended - began),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def _fill(target: int) -> int:
    """Append chained rows in bulk until the chain holds `target` events; returns how many."""
    from django.db import connection, transaction
    from psycopg2.extras import execute_values

    from mlgov.audit.chain import GENESIS_HASH, canonical_json, canonical_prefix
    from mlgov.audit.models import AuditEvent
    from mlgov.audit.selectors import chain_head

    head = chain_head()
    sequence, previous = (head.sequence, head.event_hash) if head else (0, GENESIS_HASH)
    added = 0
    occurred = datetime.now(UTC) - timedelta(days=30)
    columns = (
        "sequence, occurred_at, actor_id, actor_username, action, object_type, object_id, "
        "before, after, request_id, ip_address, previous_hash, event_hash"
    )
    while sequence < target:
        rows = []
        for _ in range(min(5_000, target - sequence)):
            sequence += 1
            occurred += timedelta(milliseconds=10)
            fields = {
                "occurred_at": occurred,
                "actor_id": 1 + sequence % 7,
                "actor_username": f"member{sequence % 7}",
                "action": ("dataset.create", "run.log", "version.promote")[sequence % 3],
                "object_type": "model_version",
                "object_id": str(sequence),
                "request_id": uuid.uuid4().hex,
                "ip_address": f"10.0.{sequence % 250}.{sequence % 200}",
            }
            before = {"stage": "staging", "version": sequence}
            after = {"stage": "production", "version": sequence, "by": fields["actor_username"]}
            prefix = canonical_prefix(
                **fields, before_json=canonical_json(before), after_json=canonical_json(after)
            )
            digest = hashlib.sha256(f"{previous}{prefix}{sequence}}}".encode()).hexdigest()
            rows.append(
                (
                    sequence, occurred, fields["actor_id"], fields["actor_username"],
                    fields["action"], fields["object_type"], fields["object_id"],
                    json.dumps(before), json.dumps(after), fields["request_id"],
                    fields["ip_address"], previous, digest,
                )  # fmt: skip
            )
            previous = digest
        with transaction.atomic(), connection.cursor() as cursor:
            execute_values(
                cursor.cursor,
                f"INSERT INTO {AuditEvent._meta.db_table} ({columns}) VALUES %s",
                rows,
                template="(%s,%s,%s,%s,%s,%s,%s,%s::jsonb,%s::jsonb,%s,%s::inet,%s,%s)",
                page_size=1_000,
            )
        added += len(rows)
    return added


def _pgbench() -> str | None:
    found = shutil.which("pgbench") or sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _ceiling(url: str, schema_name: str, writers: int, seconds: int = 5) -> float | None:
    """Appends per second from pgbench (a C client) with the recorder's SQL, on a scratch
    copy of the audit table; None without pgbench."""
    pgbench = _pgbench()
    if pgbench is None:
        return None
    from django.db import connection

    from mlgov.audit import recorder

    scratch = "bench_ceiling"
    table = recorder._TABLE
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE')
        cursor.execute(f'CREATE SCHEMA "{scratch}"')
        cursor.execute(
            f'CREATE TABLE "{scratch}".{table} (LIKE "{schema_name}".{table} INCLUDING ALL)'
        )
        params = [
            recorder._LOCK_NAMESPACE, recorder.GENESIS_HASH, datetime.now(UTC), None, "system",
            "bench.append", "model_version", "1", '{"stage":"staging"}',
            '{"stage":"production"}', "", None, '{"action":"bench.append","sequence":',
        ]  # fmt: skip
        append = cursor.mogrify(recorder._APPEND_SQL, params).decode()
    append = " ".join(append.split()).replace(";", " \\;").rstrip(" \\;")
    script = (
        f'BEGIN \\; SET LOCAL search_path = "{scratch}", public \\; {append};\n'
        f"COMMIT;\n{recorder._FLUSH_SQL};\n"
    )
    parts = urlsplit(url)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        result = subprocess.run(
            [
                pgbench, "-n", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
                "-U", parts.username or "postgres", "-c", str(writers), "-j", "2",
                "-T", str(seconds), "-f", handle.name, parts.path.lstrip("/"),
            ],
            capture_output=True, text=True, timeout=seconds + 60,
            env={**os.environ, "PGPASSWORD": parts.password or ""},
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{scratch}" CASCADE')
    match = re.search(r"tps = ([0-9.]+)", result.stdout)
    if match is None:
        print(f"pgbench failed: {result.stderr.strip()[:500]}", flush=True)
        return None
    return float(match.group(1))


def goal(value: float, op: str, limit: float) -> dict:
    met = value <= limit if op == "<=" else value >= limit
    return {"value": round(value, 1), "goal": f"{op} {limit:g}", "met": met}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--events-per-writer", type=int, default=1_000)
    parser.add_argument("--verify-events", type=int, default=200_000)
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument(
        "--ceiling", action="store_true", help="also run pgbench with the recorder's SQL"
    )
    args = parser.parse_args()

    _environment()
    database = _database_ensure(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import schema_context

    from mlgov.audit.verify import chain_verify
    from tenants.models import Tenant
    from tenants.services import tenant_create

    run_started = time.perf_counter()
    print(f"Database {database}: migrating…", flush=True)
    call_command("migrate_tenants", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
    tenant = Tenant.objects.filter(slug=TENANT_SLUG).first()
    if tenant is None:
        tenant = tenant_create(
            acting_user=None,
            slug=TENANT_SLUG,
            name="Audit benchmark",
            owner_username="owner",
            owner_email="owner@bench.test",
        ).tenant
    connection.close()  # the writers start from a clean slate; so does this process after

    print(
        f"Append: {args.writers} writers x {args.events_per_writer} events, one transaction "
        "each…",
        flush=True,
    )
    appended = _append(tenant.schema_name, args.writers, args.events_per_writer)

    with schema_context(tenant.schema_name):
        after_append = chain_verify()
        if not after_append.is_whole:
            print(f"Chain after the append phase: {after_append.summary()}", flush=True)
            return 1
        print(f"Filling the chain to {args.verify_events} events…", flush=True)
        filled = _fill(args.verify_events)
        runs = []
        report = None
        for _ in range(max(args.verify_runs, 1)):
            started = time.perf_counter()
            report = chain_verify()
            runs.append(time.perf_counter() - started)
        ceiling = None
        if args.ceiling:
            print(f"Ceiling: pgbench, {args.writers} clients, the recorder's SQL…", flush=True)
            ceiling = _ceiling(os.environ["DATABASE_URL"], tenant.schema_name, args.writers)
    assert report is not None
    verified = report.events_verified
    verify_seconds = min(runs)
    verify_per_s = verified / verify_seconds
    total = time.perf_counter() - run_started

    rows = [
        ("Append (8 writers, own transactions)", "value", "goal", ""),
        ("events/s", f"{appended['per_s']:.0f}", f">= {GOAL_APPEND_PER_S:g}",
         f"{appended['events']} events in {appended['seconds']:.2f} s"),
        ("latency per event p50", f"{appended['p50_ms']:.2f} ms", "", "commit included"),
        ("latency per event p99", f"{appended['p99_ms']:.2f} ms", "", ""),
        ("chain after append", "whole", "", after_append.summary()),
        ("C client, same SQL (pgbench)", f"{ceiling:.0f}" if ceiling else "-", "",
         "this machine's ceiling now, not a goal" if ceiling else "--ceiling to measure"),
        ("", "", "", ""),
        ("Verify", "value", "goal", ""),
        ("events/s", f"{verify_per_s:.0f}", f">= {GOAL_VERIFY_PER_S:g}",
         f"{verified} events, best of {len(runs)}: {verify_seconds:.2f} s"),
        ("verify result", "whole" if report.is_whole else "BROKEN", "", report.summary()),
        ("fill (setup shortcut)", f"{filled}", "", "bulk-inserted chained rows"),
    ]  # fmt: skip
    print()
    for label, value, target, note in rows:
        print(f"{label:<38} {value:>12} {target:>10}  {note}")
    print(f"\nWhole run: {total:.0f} s.")

    figures = {
        "append_events_per_s": goal(appended["per_s"], ">=", GOAL_APPEND_PER_S),
        "verify_events_per_s": goal(verify_per_s, ">=", GOAL_VERIFY_PER_S),
        "append_writers": args.writers,
        "append_c_client_ceiling_per_s": round(ceiling, 1) if ceiling else None,
        "append_events": appended["events"],
        "append_p50_ms": round(appended["p50_ms"], 3),
        "append_p99_ms": round(appended["p99_ms"], 3),
        "verify_events": verified,
        "verify_seconds": round(verify_seconds, 3),
        "chain_whole": report.is_whole,
        "cpus": os.cpu_count(),
        "run_s": round(total, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0 if report.is_whole else 1


if __name__ == "__main__":
    sys.exit(main())
