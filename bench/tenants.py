#!/usr/bin/env python
"""Tenant benchmark: how fast the product creates a tenant, and API latency as tenants grow.

Prints figures, not a test. It times the product as it ships; nothing is patched. Steps, all
in one run on databases of its own:

1. Recreate `mlgov_bench` (or MLGOV_BENCH_DATABASE) and `<that>_one` on the server named by
   DATABASE_URL, else on the machine's PostgreSQL at 127.0.0.1:5432 when it answers, else on
   the embedded PostgreSQL (pgserver) in the data folder; `manage.py migrate_tenants` on both
   (which also prepares the spare schemas).
2. Start one gunicorn per database on free ports. Phase 1: one tenant in each; p50/p99 of an
   authenticated GET /t/<slug>/api/v1/members/ (bearer token of the tenant's owner).
3. Tenant creation, few tenants present: `--create` rounds, each timing, in turn (the order
   flips every round so load drift hits all alike):
   (a) `tenants.services.tenant_create` with a spare schema ready, the product's normal path
       (`spare_schemas_refill()` runs untimed before it, as the worker would after commit);
   (b) `tenant_create` cold, with MLGOV_SPARE_SCHEMAS=0: it clones the template there and then;
   (c) `tenants.provisioning.schema_migrate_by_replay` into a fresh schema (dropped after).
4. Ramp the main database to --tenants (default 200) with the product's `tenant_create`
   (cold, in parallel processes: no worker refills spares here). Phase 2: requests spread over
   random tenants (fixed seed) on the main server, and over the single tenant of `<db>_one`.
   The two servers take turns request by request, so a busy machine slows both alike: the goal
   ratio compares them at the same time; the before/after ratio on the main server is printed
   too, and the phase-1 ratio of the two servers (both with one tenant) shows the noise.
5. Step 3 again with all those tenants present: the clone must cost the same.
6. Print a table and, last, one JSON line with each figure beside its goal.

Run: `make bench`, or `.venv/bin/python bench/tenants.py [--tenants 200] [--requests 1000]`.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mlgov_bench"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SPARE_SCHEMAS = "2"  # the product's default outside tests

GOAL_CREATE_S = 1.0
GOAL_SPEEDUP = 10.0
GOAL_P50_RATIO = 1.2
GOAL_CLONE_GROWTH = 1.2  # the bench's own bar for "does not grow with the tenant count"


# --- database ------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


def _server_answers(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def choose_server() -> tuple[str, str]:
    """A URL of a maintenance database on the server to use, and where it came from."""
    configured = os.environ.get("DATABASE_URL")
    if configured:
        return _with_database(configured, "postgres"), "DATABASE_URL's server"
    if _server_answers(LOCAL_SERVER_URL):
        return LOCAL_SERVER_URL, "machine PostgreSQL 127.0.0.1:5432"
    import pgserver

    data_dir = Path(os.environ.get("MLGOV_DATA_DIR") or ROOT / ".data").expanduser().resolve()
    pg_dir = data_dir / "pg"
    pg_dir.mkdir(parents=True, exist_ok=True)
    pgserver.get_server(str(pg_dir), cleanup_mode=None)
    return f"postgresql://postgres@/postgres?host={pg_dir}", f"embedded PostgreSQL in {pg_dir}"


def recreate_database(server_url: str, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def product_environment() -> None:
    """The environment every process of the run gets (this one, manage.py, gunicorn)."""
    os.environ["MLGOV_ENV"] = "development"
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["MLGOV_SPARE_SCHEMAS"] = SPARE_SCHEMAS
    # The per-tenant request-rate throttle would answer a burst of 1,000 requests with 429.
    os.environ["MLGOV_API_THROTTLE"] = "false"
    # The development broker (kombu's SQLAlchemy transport on the bench database): the
    # refill messages tenant_create enqueues stay in the bench database, where no worker
    # reads them; the bench refills itself, untimed.
    os.environ.pop("CELERY_BROKER_URL", None)


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlgov.settings"
    # Run as a script, bench/ heads sys.path and this file would shadow the `tenants` app.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def count_schemas(prefix: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE starts_with(nspname, %s)",
                       [prefix])
        return cursor.fetchone()[0]


def schema_signature(schema: str) -> tuple[frozenset, frozenset, frozenset]:
    """Relations, constraints and triggers of a schema by kind and name."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
            [schema],
        )
        relations = frozenset(cursor.fetchall())
        cursor.execute(
            "SELECT ct.contype, ct.conname FROM pg_constraint ct "
            "JOIN pg_namespace n ON n.oid = ct.connamespace WHERE n.nspname = %s",
            [schema],
        )
        constraints = frozenset(cursor.fetchall())
        cursor.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT t.tgisinternal",
            [schema],
        )
        triggers = frozenset(cursor.fetchall())
    return relations, constraints, triggers


# --- tenants -------------------------------------------------------------------------------


@dataclass
class Target:
    slug: str
    token: str


def create_tenant(slug: str, *, spare: bool = True) -> tuple[Target, float]:
    """The product's tenant_create, then a read token for its owner (untimed); returns the
    seconds tenant_create took. `spare=False` runs it with MLGOV_SPARE_SCHEMAS=0."""
    from django.contrib.auth.models import User
    from django.test.utils import override_settings
    from django_tenants.utils import schema_context

    from mlgov.identity.services import token_issue
    from tenants.services import tenant_create

    with override_settings(**({} if spare else {"MLGOV_SPARE_SCHEMAS": 0})):
        started = time.perf_counter()
        created = tenant_create(
            acting_user=None,
            slug=slug,
            name=f"Bench {slug}",
            owner_username="owner",
            owner_email=f"owner@{slug}.bench.test",
        )
        seconds = time.perf_counter() - started
    with schema_context(created.tenant.schema_name):
        owner = User.objects.get(username="owner")
        issued = token_issue(acting_user=None, user=owner, name="bench", scope="read",
                             expires_days=1)
    return Target(slug=slug, token=issued.plaintext), seconds


def create_timed(step: str, slug: str) -> tuple[Target, float]:
    """One timed creation by `step` ("spare" or "cold"), checking it took the path it names.
    Before the spare path, the spares are refilled untimed, as the worker does after commit."""
    from tenants.provisioning import spare_schemas_refill
    from tenants.spare_schemas import SPARE_PREFIX

    if step == "spare":
        spare_schemas_refill()
    ready = count_schemas(SPARE_PREFIX)
    target, seconds = create_tenant(slug, spare=step == "spare")
    taken = ready - count_schemas(SPARE_PREFIX)
    if taken != (1 if step == "spare" else 0):
        raise RuntimeError(f"{slug}: {taken} spare schema(s) taken; figures are void.")
    return target, seconds


def tenant_count() -> int:
    from tenants.models import Tenant

    return Tenant.objects.count()


class ControlCreator:
    """A process on the control database (one tenant) that creates tenants on request, so
    creations with many tenants can be timed beside creations with few at the same time."""

    def __init__(self, database_url: str):
        context = multiprocessing.get_context("spawn")  # a Django of its own
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_control_serve, args=(database_url, child))
        self.process.start()
        self.tenants_before = self.pipe.recv()

    def create(self, step: str, slug: str) -> float:
        self.pipe.send((step, slug))
        reply = self.pipe.recv()
        if isinstance(reply, str):
            raise RuntimeError(f"control creation failed: {reply}")
        return reply

    def close(self) -> int:
        self.pipe.send(None)
        tenants_after = self.pipe.recv()
        self.process.join(timeout=30)
        return tenants_after


def _control_serve(database_url: str, pipe) -> None:
    django_setup(database_url)
    create_timed("spare", "warm-up")  # clone script, broker connection: warm, untimed
    pipe.send(tenant_count())
    while (message := pipe.recv()) is not None:
        try:
            pipe.send(create_timed(*message)[1])
        except Exception as error:  # noqa: BLE001 - reported to the parent, which stops
            pipe.send(repr(error))
    pipe.send(tenant_count())


@dataclass
class Creations:
    """Seconds per path of one round of creations, and the tenant count around it."""

    spare: list[float] = field(default_factory=list)
    cold: list[float] = field(default_factory=list)
    replay: list[float] = field(default_factory=list)
    control_spare: list[float] = field(default_factory=list)  # same time, control database
    control_cold: list[float] = field(default_factory=list)
    tenants_before: int = 0
    tenants_after: int = 0
    control_tenants: tuple[int, int] = (0, 0)
    slugs: dict[str, str] = field(default_factory=dict)  # a slug made by each tenant path


def time_creations(label: str, rounds: int,
                   control: ControlCreator | None = None) -> tuple[Creations, list[Target]]:
    """`rounds` x (spare, cold, replay), interleaved, the order flipping every round; with a
    control, each spare and cold creation is paired with one on the control database."""
    from django.db import connection

    from tenants.provisioning import schema_migrate_by_replay

    result = Creations(tenants_before=tenant_count())
    targets = []
    for i in range(rounds):
        for step in ("spare", "cold", "replay")[:: -1 if i % 2 else 1]:
            if step == "replay":
                schema = f"bench_replay_{label}_{i + 1}"
                started = time.perf_counter()
                schema_migrate_by_replay(schema)
                result.replay.append(time.perf_counter() - started)
                with connection.cursor() as cursor:  # not a tenant: must not count later
                    cursor.execute(f"DROP SCHEMA {_quote(schema)} CASCADE")
                continue
            slug = f"{step}-{label}-{i + 1}"
            if control and i % 2:
                getattr(result, f"control_{step}").append(control.create(step, slug))
            target, seconds = create_timed(step, slug)
            if control and not i % 2:
                getattr(result, f"control_{step}").append(control.create(step, slug))
            getattr(result, step).append(seconds)
            result.slugs[step] = slug
            targets.append(target)
    result.tenants_after = tenant_count()
    return result, targets


@dataclass
class Ramp:
    targets: list[Target] = field(default_factory=list)
    create_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0


def _ramp_one(slug: str) -> tuple[Target, float]:
    return create_tenant(slug, spare=False)


def ramp(slugs: list[str], processes: int) -> Ramp:
    """Create the tenants in `slugs` with tenant_create in parallel processes."""
    from django.db import connections

    connections.close_all()  # children must not share the parent's connection
    started = time.perf_counter()
    result = Ramp()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for target, seconds in pool.imap_unordered(_ramp_one, slugs, chunksize=4):
            result.targets.append(target)
            result.create_seconds.append(seconds)
            if len(result.targets) % 50 == 0 or len(result.targets) == len(slugs):
                print(f"  ramp: {len(result.targets)}/{len(slugs)} tenants, "
                      f"{time.perf_counter() - started:.0f}s", flush=True)
    result.wall_seconds = time.perf_counter() - started
    return result


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
        # gthread keeps connections alive (the sync worker closes each one), so the figures
        # are the server's time per request rather than TCP set-up.
        "--worker-class", "gthread", "--threads", "1", "--keep-alive", "30",
        "--log-level", "warning",
    ]
    log = log_path.open("w")
    env = {**os.environ, "DATABASE_URL": database_url}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(process=process, port=port, log_path=log_path)


def wait_ready(server: Server, target: Target, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        client = Client(server.port, 1)
        try:
            status, _ = client.get(target, 0)
            if status == 200:
                return
        except OSError:
            pass
        finally:
            client.close()
        time.sleep(0.3)
    tail = server.log_path.read_text()[-2000:]
    raise RuntimeError(f"gunicorn did not answer 200 within {timeout:.0f}s:\n{tail}")


class Client:
    """Keep-alive connections to the server, used in turn so both workers get requests."""

    def __init__(self, port: int, connections: int):
        self.connections = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=30) for _ in range(connections)
        ]

    def get(self, target: Target, index: int) -> tuple[int, float]:
        conn = self.connections[index % len(self.connections)]
        started = time.perf_counter()
        conn.request("GET", f"/t/{target.slug}/api/v1/members/",
                     headers={"Authorization": f"Bearer {target.token}"})
        response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.will_close:
            conn.close()  # http.client reopens it on the next request
        return response.status, elapsed

    def close(self) -> None:
        for conn in self.connections:
            conn.close()


@dataclass
class Arm:
    """One server and the tenants its requests are spread over."""

    name: str
    server: Server
    targets: list[Target]
    samples_ms: list[float] = field(default_factory=list)

    def quantile(self, q: int) -> float:
        return statistics.quantiles(self.samples_ms, n=100, method="inclusive")[q - 1]


def measure(arms: list[Arm], requests: int, warmup: int, rng: random.Random,
            connections: int, block: int = 1) -> None:
    """`requests` GETs per arm, taking turns (the order flips every round) so that load from
    anything else on the machine hits every arm alike."""
    clients = [Client(arm.server.port, connections) for arm in arms]
    try:
        for arm, client in zip(arms, clients, strict=True):
            # Every tenant on every connection first (catalog caches, last_used_at writes).
            rounds = max(1, warmup // (len(arm.targets) * connections))
            for index in range(rounds * len(arm.targets) * connections):
                target = arm.targets[index // connections % len(arm.targets)]
                status, _ = client.get(target, index)
                if status != 200:
                    raise RuntimeError(f"Warm-up GET for {target.slug} answered {status}.")
            arm.samples_ms.clear()
        for start in range(0, requests, block):
            order = list(zip(arms, clients, strict=True))
            if (start // block) % 2:
                order.reverse()
            for arm, client in order:
                for index in range(start, min(start + block, requests)):
                    target = rng.choice(arm.targets)
                    status, elapsed = client.get(target, index)
                    if status != 200:
                        raise RuntimeError(f"GET for {target.slug} answered {status}.")
                    arm.samples_ms.append(elapsed * 1000)
    finally:
        for client in clients:
            client.close()


def control_database(server_url: str, name: str) -> tuple[str, Target]:
    """A second database that keeps one tenant, set up with the product's own commands."""
    url = _with_database(server_url, name)
    recreate_database(server_url, name)
    env = {**os.environ, "DATABASE_URL": url}

    def manage(*arguments: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"manage.py {arguments[0]} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    manage("migrate_tenants", "--verbosity", "0")
    manage("tenant_create", "control", "--name", "Control", "--owner", "owner",
           "--owner-email", "owner@control.bench.test")
    token = manage("token_issue", "--tenant", "control", "--user", "owner",
                   "--expires-days", "1").strip()
    return url, Target(slug="control", token=token)


# --- report --------------------------------------------------------------------------------


def goal(value: float, op: str, limit: float) -> dict:
    met = value <= limit if op == "<=" else value >= limit
    return {"value": round(value, 4), "goal": f"{op} {limit:g}", "met": met}


def creation_rows(title: str, c: Creations) -> list[tuple[str, str, str, str]]:
    mean, median = statistics.fmean, statistics.median
    return [
        (f"{title}: {c.tenants_before}-{c.tenants_after} tenants present, n={len(c.spare)}",
         "mean", "median", ""),
        ("  tenant_create, spare ready [product]", f"{mean(c.spare):.3f} s",
         f"{median(c.spare):.3f} s", f"goal <= {GOAL_CREATE_S:g} s"),
        ("  tenant_create, cold (no spare)", f"{mean(c.cold):.3f} s",
         f"{median(c.cold):.3f} s", f"fallback; goal <= {GOAL_CREATE_S:g} s"),
        ("  migration replay", f"{mean(c.replay):.3f} s", f"{median(c.replay):.3f} s", ""),
        ("  replay / spare [product]", f"{mean(c.replay) / mean(c.spare):.1f}x", "",
         f"goal >= {GOAL_SPEEDUP:g}x"),
        ("  replay / cold", f"{mean(c.replay) / mean(c.cold):.1f}x", "",
         f"goal >= {GOAL_SPEEDUP:g}x"),
    ]


def creation_figures(suffix: str, c: Creations) -> dict:
    mean = statistics.fmean
    return {
        f"create_spare_mean_s{suffix}": goal(mean(c.spare), "<=", GOAL_CREATE_S),
        f"speedup_spare_vs_migrate{suffix}": goal(mean(c.replay) / mean(c.spare), ">=",
                                                  GOAL_SPEEDUP),
        f"create_cold_mean_s{suffix}": goal(mean(c.cold), "<=", GOAL_CREATE_S),
        f"speedup_cold_vs_migrate{suffix}": goal(mean(c.replay) / mean(c.cold), ">=",
                                                 GOAL_SPEEDUP),
        f"create_spare_median_s{suffix}": round(statistics.median(c.spare), 4),
        f"create_cold_median_s{suffix}": round(statistics.median(c.cold), 4),
        f"migrate_mean_s{suffix}": round(mean(c.replay), 4),
        f"tenants_present{suffix}": [c.tenants_before, c.tenants_after],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--create", type=int, default=5,
                        help="creations per path (spare, cold, replay) and tenant count")
    parser.add_argument("--tenants", type=int, default=200, help="tenants in the second phase")
    parser.add_argument("--requests", type=int, default=1000,
                        help="measured requests per server and phase (two servers)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="warm-up requests per server (at least one per tenant and connection)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--processes", type=int, default=2, help="parallel ramp processes")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    if args.create < 1 or args.tenants < 2 * args.create + 2:
        parser.error("--create must be >= 1 and --tenants at least 2 x --create + 2")
    run_started = time.perf_counter()
    rng = random.Random(args.seed)

    server_url, where = choose_server()
    database = os.environ.get("MLGOV_BENCH_DATABASE", DEFAULT_DATABASE)
    database_url = _with_database(server_url, database)
    print(f"Databases: {database} and {database}_one on the {where} (recreated).", flush=True)
    product_environment()
    recreate_database(server_url, database)
    control_url, control_target = control_database(server_url, f"{database}_one")
    django_setup(database_url)

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from tenants.provisioning import spare_schemas_refill
    from tenants.slugs import schema_name_for

    started = time.perf_counter()
    call_command("migrate_tenants", verbosity=0, stdout=io.StringIO())
    template = settings.TENANT_BASE_SCHEMA
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'", [template]
        )
        template_tables = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {_quote(template)}.django_migrations")
        template_migrations = cursor.fetchone()[0]
    print(f"migrate_tenants: {time.perf_counter() - started:.1f}s; template {template}: "
          f"{template_tables} tables, {template_migrations} migrations; "
          f"MLGOV_SPARE_SCHEMAS={settings.MLGOV_SPARE_SCHEMAS}", flush=True)

    # The first tenant also warms what a long-running process has warm: the clone script,
    # the broker connection. Untimed.
    first, _ = create_tenant("bench-0001")
    spare_schemas_refill()
    log_dir = Path(tempfile.mkdtemp(prefix="mlgov-bench-"))
    main_server = start_gunicorn(args.workers, log_dir / "gunicorn-main.log", database_url)
    control_server = start_gunicorn(args.workers, log_dir / "gunicorn-one.log", control_url)
    try:
        wait_ready(main_server, first)
        wait_ready(control_server, control_target)
        print(f"gunicorn: 127.0.0.1:{main_server.port} ({database}) and "
              f"127.0.0.1:{control_server.port} ({database}_one), {args.workers} workers each; "
              f"logs in {log_dir}")

        print(f"Phase 1: {args.requests} requests per server, 1 tenant on each…", flush=True)
        main_one = Arm("main", main_server, [first])
        control_one = Arm("control", control_server, [control_target])
        phase_started = time.perf_counter()
        measure([main_one, control_one], args.requests, args.warmup, rng, args.workers)
        print(f"  done in {time.perf_counter() - phase_started:.0f}s", flush=True)

        print(f"Creation, few tenants: {args.create} x (spare, cold, replay), interleaved…",
              flush=True)
        few, made = time_creations("few", args.create)
        targets = [first, *made]

        ramp_slugs = [f"bench-{i:04d}" for i in range(2, args.tenants - len(targets) + 2)]
        print(f"Ramp: {len(ramp_slugs)} more tenants by tenant_create (cold), "
              f"{args.processes} processes…", flush=True)
        ramped = ramp(ramp_slugs, args.processes)
        targets.extend(ramped.targets)

        print(f"Phase 2: {args.requests} requests per server, {len(targets)} tenants on "
              f"{database}, 1 on {database}_one…", flush=True)
        main_many = Arm("main", main_server, targets)
        control_two = Arm("control", control_server, [control_target])
        phase_started = time.perf_counter()
        measure([main_many, control_two], args.requests, args.warmup, rng, args.workers)
        print(f"  done in {time.perf_counter() - phase_started:.0f}s", flush=True)

        print(f"Creation, {len(targets)} tenants: {args.create} x (spare, cold, replay)…",
              flush=True)
        control_creator = ControlCreator(control_url)
        many, _ = time_creations("many", args.create, control_creator)
        many.control_tenants = (control_creator.tenants_before, control_creator.close())
    finally:
        main_server.stop()
        control_server.stop()

    # Every path must give the template's relations, constraints and triggers, by name.
    expected = schema_signature(template)
    checked = [*few.slugs.values(), *many.slugs.values(), ramp_slugs[-1]]
    faithful = all(schema_signature(schema_name_for(slug)) == expected for slug in checked)
    if not faithful:
        raise RuntimeError("A new tenant's schema differs from the template; figures are void.")

    p50 = {name: arm.quantile(50) for name, arm in
           [("1", main_one), ("c1", control_one), ("n", main_many), ("c2", control_two)]}
    p99 = {name: arm.quantile(99) for name, arm in
           [("1", main_one), ("c1", control_one), ("n", main_many), ("c2", control_two)]}
    p50_ratio = p50["n"] / p50["c2"]  # same time, same load: many tenants vs 1
    p50_ratio_sequential = p50["n"] / p50["1"]  # same server, before and after the ramp
    median = statistics.median
    growth_cold = median(many.cold) / median(many.control_cold)  # same time
    growth_spare = median(many.spare) / median(many.control_spare)
    growth_cold_sequential = median(many.cold) / median(few.cold)
    growth_spare_sequential = median(many.spare) / median(few.spare)
    n = len(targets)
    total = time.perf_counter() - run_started

    rows = [
        *creation_rows("Tenant creation", few),
        *creation_rows("Tenant creation", many),
        (f"  same time, control database: {many.control_tenants[0]}-"
         f"{many.control_tenants[1]} tenants", "", "", ""),
        ("    tenant_create, spare ready", f"{statistics.fmean(many.control_spare):.3f} s",
         f"{median(many.control_spare):.3f} s", ""),
        ("    tenant_create, cold", f"{statistics.fmean(many.control_cold):.3f} s",
         f"{median(many.control_cold):.3f} s", ""),
        ("  p50 many / few tenants, same time: cold", f"{growth_cold:.2f}", "",
         f"goal <= {GOAL_CLONE_GROWTH:g} (clone cost flat)"),
        ("  p50 many / few tenants, same time: spare", f"{growth_spare:.2f}", "", ""),
        ("  p50 many / few, sequential: cold, spare", f"{growth_cold_sequential:.2f}",
         f"{growth_spare_sequential:.2f}", "load may differ between rounds"),
        (f"ramp: tenant_create cold, n={len(ramp_slugs)}",
         f"{statistics.fmean(ramped.create_seconds):.3f} s",
         f"{statistics.median(ramped.create_seconds):.3f} s",
         f"{args.processes} in parallel, wall {ramped.wall_seconds:.0f} s"),
        ("", "", "", ""),
        ("GET /t/<slug>/api/v1/members/", "p50", "p99", f"{args.requests} requests each"),
        ("phase 1: main, 1 tenant", f"{p50['1']:.2f} ms", f"{p99['1']:.2f} ms", ""),
        ("phase 1: control, 1 tenant", f"{p50['c1']:.2f} ms", f"{p99['c1']:.2f} ms", ""),
        (f"phase 2: main, {n} tenants", f"{p50['n']:.2f} ms", f"{p99['n']:.2f} ms", "random"),
        ("phase 2: control, 1 tenant", f"{p50['c2']:.2f} ms", f"{p99['c2']:.2f} ms", ""),
        (f"ratio {n} / 1 (phase 2, same time)", f"{p50_ratio:.2f}",
         f"{p99['n'] / p99['c2']:.2f}", f"goal p50 <= {GOAL_P50_RATIO:g}"),
        (f"ratio {n} / 1 (main, phase 2 / 1)", f"{p50_ratio_sequential:.2f}",
         f"{p99['n'] / p99['1']:.2f}", "load may differ between phases"),
        ("parity main / control (phase 1)", f"{p50['1'] / p50['c1']:.2f}",
         f"{p99['1'] / p99['c1']:.2f}", "expected ~1"),
    ]
    print()
    for label, a, b, note in rows:
        print(f"{label:<48} {a:>9} {b:>9}  {note}")
    print(f"\nWhole run: {total:.0f} s. New schemas match the template by name: {faithful}. "
          f"Template: {template_tables} tables, {template_migrations} migrations.")

    figures = {
        **creation_figures("", few),
        **creation_figures("_many", many),
        "clone_growth_cold_p50_many_vs_few": goal(growth_cold, "<=", GOAL_CLONE_GROWTH),
        "spare_growth_p50_many_vs_few": round(growth_spare, 3),
        "clone_growth_cold_p50_sequential": round(growth_cold_sequential, 3),
        "spare_growth_p50_sequential": round(growth_spare_sequential, 3),
        "control_create_cold_median_s": round(median(many.control_cold), 4),
        "control_create_spare_median_s": round(median(many.control_spare), 4),
        "control_tenants_present": list(many.control_tenants),
        "p50_ratio_many_vs_one": goal(p50_ratio, "<=", GOAL_P50_RATIO),
        "p50_ratio_sequential": round(p50_ratio_sequential, 3),
        "p50_ms_one": round(p50["1"], 3),
        "p99_ms_one": round(p99["1"], 3),
        "p50_ms_many": round(p50["n"], 3),
        "p99_ms_many": round(p99["n"], 3),
        "p50_ms_control": round(p50["c2"], 3),
        "p99_ms_control": round(p99["c2"], 3),
        "tenants_many": n,
        "requests_per_phase_and_server": args.requests,
        "ramp_create_mean_s": round(statistics.fmean(ramped.create_seconds), 4),
        "template_tables": template_tables,
        "template_migrations": template_migrations,
        "run_s": round(total, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
