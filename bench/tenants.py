#!/usr/bin/env python
"""Tenant benchmark: creating tenants (clone vs migration replay) and API latency as tenants grow.

Prints figures, not a test. Steps, all in one run on databases of its own:

1. Recreate `mlgov_bench` (or MLGOV_BENCH_DATABASE) and `<that>_one` on the server named by
   DATABASE_URL, else on the machine's PostgreSQL at 127.0.0.1:5432 when it answers, else on the
   embedded PostgreSQL (pgserver) in the data folder; `manage.py migrate_tenants` on both.
2. Start one gunicorn per database on free ports. Phase 1: one tenant in each; p50/p99 of an
   authenticated GET /t/<slug>/api/v1/members/ (bearer token of the tenant's owner).
3. Time N tenants created by `tenants.services.tenant_create` (clones the template schema)
   against N fresh schemas migrated by `tenants.provisioning.schema_migrate_by_replay`,
   interleaved so load drift hits both alike.
4. Ramp the main database to --tenants (default 200). Phase 2: requests spread over random
   tenants (fixed seed) on the main server, and over the single tenant of `<db>_one`.
   The two servers take turns request by request, so a busy machine slows both alike: the goal
   ratio compares them at the same time; the before/after ratio on the main server is printed
   too, and the phase-1 ratio of the two servers (both with one tenant) shows the noise.
5. Print a table and, last, one JSON line with each figure beside its goal.

Setup shortcuts, stated in the output: by default the ramp runs the product's `tenant_create`
with its clone step swapped for a clone script generated once from the template's catalog
(`--ramp-clone lean`), because django-tenants' `clone_schema()` slows down with every schema in
the database (seconds per tenant at 200) and the ramp would not fit in five minutes. The
lean-cloned schemas are checked against the template (relations, constraints and triggers by
name). `--ramp-clone product` uses the product path throughout. The ramp also hashes the
owners' one-time passwords with the test suite's MD5 hasher (the timed creations use PBKDF2).

Run: `make bench`, or `.venv/bin/python bench/tenants.py [--tenants 200] [--requests 2000]`.
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
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mlgov_bench"
LOCAL_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

MD5_HASHER = "django.contrib.auth.hashers.MD5PasswordHasher"

GOAL_CLONE_CREATE_S = 1.0
GOAL_CLONE_SPEEDUP = 10.0
GOAL_P50_RATIO = 1.2


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


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["MLGOV_ENV"] = "development"
    os.environ["DEBUG"] = "false"  # DEBUG keeps every query in memory
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["DJANGO_SETTINGS_MODULE"] = "mlgov.settings"
    # Run as a script, bench/ heads sys.path and this file would shadow the `tenants` app.
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- tenants -------------------------------------------------------------------------------


@dataclass
class Target:
    slug: str
    token: str


def create_tenant(slug: str) -> tuple[Target, float]:
    """tenant_create (the product path) then a read token for its owner; returns the seconds
    tenant_create took (the token is not timed)."""
    from django.contrib.auth.models import User
    from django_tenants.utils import schema_context

    from mlgov.identity.services import token_issue
    from tenants.services import tenant_create

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


# Seconds of each clone step, appended by `timed`.
CLONE_SECONDS: list[float] = []


def timed(function: Callable[[str], None]) -> Callable[[str], None]:
    """`function` that also appends its duration to CLONE_SECONDS."""

    def wrapper(schema_name: str) -> None:
        started = time.perf_counter()
        function(schema_name)
        CLONE_SECONDS.append(time.perf_counter() - started)

    return wrapper


def create_with(clone: Callable[[str], None], slug: str, *,
                fast_hash: bool) -> tuple[Target, float, float]:
    """create_tenant with `clone` as tenant_create's clone step (and, with `fast_hash`, the
    owner's one-time password hashed with MD5); returns the target, the seconds of
    tenant_create and of its clone step."""
    from django.test.utils import override_settings

    import tenants.services

    hashers = override_settings(PASSWORD_HASHERS=[MD5_HASHER]) if fast_hash else nullcontext()
    previous = tenants.services.schema_clone_from_template
    tenants.services.schema_clone_from_template = timed(clone)
    try:
        with hashers:
            target, seconds = create_tenant(slug)
    finally:
        tenants.services.schema_clone_from_template = previous
    return target, seconds, CLONE_SECONDS[-1]


def _ramp_one(slug: str) -> tuple[Target, float]:
    return create_tenant(slug)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lean_clone_script(database_url: str, template: str) -> str:
    """One SQL script that copies the template schema to `{dest}`, keeping every name.

    Built once from the catalog, so a clone costs one round trip of plain DDL whose cost
    does not depend on how many schemas the database holds.
    """
    import psycopg2

    conn = psycopg2.connect(database_url)
    src = _quote(template)
    statements = ["CREATE SCHEMA {dest}"]
    with conn.cursor() as cursor:
        cursor.execute("SET search_path = ''")  # definitions come back schema-qualified
        cursor.execute(
            "SELECT count(*) FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND pg_get_expr(d.adbin, d.adrelid) LIKE 'nextval(%%'",
            [template],
        )
        if cursor.fetchone()[0]:
            raise RuntimeError("The lean clone handles identity columns only, not serials.")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
            [template],
        )
        tables = [row[0] for row in cursor.fetchall()]
        for table in tables:
            statements.append(
                f"CREATE TABLE {{dest}}.{_quote(table)} (LIKE {src}.{_quote(table)} "
                "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED "
                "INCLUDING STORAGE INCLUDING COMMENTS)"
            )
        cursor.execute(
            "SELECT r.relname, ct.conname, pg_get_constraintdef(ct.oid), ct.contype "
            "FROM pg_constraint ct JOIN pg_class r ON r.oid = ct.conrelid "
            "JOIN pg_namespace n ON n.oid = r.relnamespace "
            "WHERE n.nspname = %s ORDER BY ct.contype = 'f', r.relname, ct.conname",
            [template],
        )
        constraints = cursor.fetchall()
        # Primary keys, unique and check constraints under their own names (and indexes).
        for table, name, definition, kind in constraints:
            if kind != "f":
                statements.append(
                    f"ALTER TABLE {{dest}}.{_quote(table)} ADD CONSTRAINT {_quote(name)} "
                    f"{definition}"
                )
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint ct "
            "WHERE ct.conindid = i.indexrelid AND ct.contype IN ('p', 'u', 'x'))",
            [template],
        )
        for (definition,) in cursor.fetchall():
            statements.append(definition.replace(f" ON {template}.", " ON {dest}."))
        filled = []
        for table in tables:
            cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {src}.{_quote(table)})")
            if cursor.fetchone()[0]:
                filled.append(table)
                statements.append(
                    f"INSERT INTO {{dest}}.{_quote(table)} OVERRIDING SYSTEM VALUE "
                    f"SELECT * FROM {src}.{_quote(table)}"
                )
        cursor.execute(
            "SELECT c.relname, a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r' AND a.attidentity <> ''",
            [template],
        )
        for table, column in cursor.fetchall():
            if table in filled:
                statements.append(
                    f"SELECT setval(pg_get_serial_sequence('{{dest}}.{_quote(table)}', "
                    f"'{column}'), (SELECT coalesce(max({_quote(column)}), 0) + 1 "
                    f"FROM {{dest}}.{_quote(table)}), false)"
                )
        for table, name, definition, kind in constraints:
            if kind == "f":
                definition = definition.replace(f"REFERENCES {template}.", "REFERENCES {dest}.")
                statements.append(
                    f"ALTER TABLE {{dest}}.{_quote(table)} ADD CONSTRAINT {_quote(name)} "
                    f"{definition}"
                )
        cursor.execute(
            "SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND NOT t.tgisinternal",
            [template],
        )
        for (definition,) in cursor.fetchall():
            statements.append(definition.replace(f" ON {template}.", " ON {dest}."))
    conn.close()
    return ";\n".join(statements) + ";\n"


def lean_clone_function(script: str) -> Callable[[str], None]:
    def schema_clone_lean(schema_name: str) -> None:
        from django.db import connection

        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute(script.replace("{dest}", _quote(schema_name)))

    return schema_clone_lean


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


@dataclass
class Ramp:
    targets: list[Target] = field(default_factory=list)
    create_seconds: list[float] = field(default_factory=list)
    wall_seconds: float = 0.0


def ramp(slugs: list[str], processes: int) -> Ramp:
    """Create the tenants in `slugs` in parallel processes (tenant_create, then a token)."""
    from django.db import connections
    from django.test.utils import override_settings

    connections.close_all()  # children must not share the parent's connection
    started = time.perf_counter()
    result = Ramp()
    context = multiprocessing.get_context("fork")
    # The owners' one-time passwords are hashed with the test suite's fast hasher here:
    # PBKDF2 would add about half a second per tenant and nothing to the latency figures.
    fast_hash = override_settings(PASSWORD_HASHERS=[MD5_HASHER])
    with fast_hash, context.Pool(processes) as pool:
        for target, seconds in pool.imap_unordered(_ramp_one, slugs, chunksize=4):
            result.targets.append(target)
            result.create_seconds.append(seconds)
            if len(result.targets) % 25 == 0 or len(result.targets) == len(slugs):
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
    env = {**os.environ, "DATABASE_URL": url, "MLGOV_ENV": "development"}

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


def _stats(seconds: list[float]) -> dict:
    return {"mean": statistics.fmean(seconds), "median": statistics.median(seconds)}


def goal(value: float, op: str, limit: float) -> dict:
    met = value <= limit if op == "<=" else value >= limit
    return {"value": round(value, 3), "goal": f"{op} {limit:g}", "met": met}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--create", type=int, default=5, help="tenants per creation method")
    parser.add_argument("--tenants", type=int, default=200, help="tenants in the second phase")
    parser.add_argument("--requests", type=int, default=1000,
                        help="measured requests per server and phase (two servers)")
    parser.add_argument("--warmup", type=int, default=200,
                        help="warm-up requests per server (at least one per tenant and connection)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")
    parser.add_argument("--processes", type=int, default=2, help="parallel ramp processes")
    parser.add_argument("--ramp-clone", choices=["lean", "product"], default="lean")
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()
    if args.tenants < 2 * args.create + 2:
        parser.error("--tenants must be at least 2 x --create + 2")
    run_started = time.perf_counter()
    rng = random.Random(args.seed)

    server_url, where = choose_server()
    database = os.environ.get("MLGOV_BENCH_DATABASE", DEFAULT_DATABASE)
    database_url = _with_database(server_url, database)
    print(f"Databases: {database} and {database}_one on the {where} (recreated).", flush=True)
    recreate_database(server_url, database)
    control_url, control_target = control_database(server_url, f"{database}_one")
    django_setup(database_url)

    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection

    import tenants.services
    from tenants.provisioning import schema_migrate_by_replay
    from tenants.slugs import schema_name_for

    started = time.perf_counter()
    call_command("migrate_tenants", verbosity=0, stdout=io.StringIO())
    with connection.cursor() as cursor:
        template = settings.TENANT_BASE_SCHEMA
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'r'", [template]
        )
        template_tables = cursor.fetchone()[0]
        cursor.execute(f"SELECT count(*) FROM {_quote(template)}.django_migrations")
        template_migrations = cursor.fetchone()[0]
    print(f"migrate_tenants: {time.perf_counter() - started:.1f}s; template {template}: "
          f"{template_tables} tables, {template_migrations} migrations")

    first, _ = create_tenant("bench-0001")
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

        print(f"Creating {args.create} tenants by tenant_create, {args.create} schemas by "
              f"migration replay and {args.create} tenants with the suggested fixes "
              "(interleaved)…", flush=True)
        product_clone = tenants.services.schema_clone_from_template
        lean_clone = lean_clone_function(lean_clone_script(database_url, template))
        targets = [first]
        product: list[tuple[float, float]] = []  # (tenant_create, its clone step)
        fixed: list[tuple[float, float]] = []
        replay_seconds: list[float] = []
        replay_schemas = [f"bench_replay_{i + 1}" for i in range(args.create)]
        for i in range(args.create):
            # The replay closes the database connection; flipping the order each round gives
            # both tenant_create variants the fresh connection after it equally often.
            for step in ("product", "replay", "fixed")[:: -1 if i % 2 else 1]:
                if step == "replay":
                    replay_started = time.perf_counter()
                    schema_migrate_by_replay(replay_schemas[i])
                    replay_seconds.append(time.perf_counter() - replay_started)
                    continue
                clone, name, results = (
                    (product_clone, "clone", product) if step == "product"
                    else (lean_clone, "fixed", fixed)
                )
                target, *seconds = create_with(clone, f"{name}-{i + 1}",
                                               fast_hash=step == "fixed")
                targets.append(target)
                results.append((seconds[0], seconds[1]))
        with connection.cursor() as cursor:
            for schema in replay_schemas:  # not tenants: they must not count in phase 2
                cursor.execute(f"DROP SCHEMA {_quote(schema)} CASCADE")
        hash_started = time.perf_counter()
        make_password("a-one-time-password")
        password_hash_seconds = time.perf_counter() - hash_started

        ramp_slugs = [f"bench-{i:04d}" for i in range(2, args.tenants - 2 * args.create + 1)]
        print(f"Ramp: creating {len(ramp_slugs)} more tenants ({args.ramp_clone} clone, MD5 "
              f"password hasher, {args.processes} processes)…", flush=True)
        tenants.services.schema_clone_from_template = (
            lean_clone if args.ramp_clone == "lean" else product_clone
        )
        try:
            ramped = ramp(ramp_slugs, args.processes)
        finally:
            tenants.services.schema_clone_from_template = product_clone
        targets.extend(ramped.targets)
        faithful = schema_signature(template) == schema_signature(schema_name_for(ramp_slugs[-1]))
        if not faithful:
            raise RuntimeError("A ramp schema differs from the template; figures are void.")

        print(f"Phase 2: {args.requests} requests per server, {len(targets)} tenants on "
              f"{database}, 1 on {database}_one…", flush=True)
        main_many = Arm("main", main_server, targets)
        control_two = Arm("control", control_server, [control_target])
        phase_started = time.perf_counter()
        measure([main_many, control_two], args.requests, args.warmup, rng, args.workers)
        print(f"  done in {time.perf_counter() - phase_started:.0f}s", flush=True)

        # Each path once more, now that the database holds all these schemas.
        _, clone_at_scale, _ = create_with(product_clone, "clone-at-scale", fast_hash=False)
        _, fixed_at_scale, _ = create_with(lean_clone, "fixed-at-scale", fast_hash=True)
        replay_started = time.perf_counter()
        schema_migrate_by_replay("bench_replay_at_scale")
        replay_at_scale = time.perf_counter() - replay_started
    finally:
        main_server.stop()
        control_server.stop()

    clone = _stats([create for create, _ in product])
    clone_sql = _stats([sql for _, sql in product])
    fix = _stats([create for create, _ in fixed])
    lean_sql = _stats([sql for _, sql in fixed])
    replay = _stats(replay_seconds)
    speedup = replay["mean"] / clone["mean"]
    fixed_speedup = replay["mean"] / fix["mean"]
    ramp_create = _stats(ramped.create_seconds)
    p50 = {name: arm.quantile(50) for name, arm in
           [("1", main_one), ("c1", control_one), ("n", main_many), ("c2", control_two)]}
    p99 = {name: arm.quantile(99) for name, arm in
           [("1", main_one), ("c1", control_one), ("n", main_many), ("c2", control_two)]}
    p50_ratio = p50["n"] / p50["c2"]  # same time, same load: 200 tenants vs 1
    p50_ratio_sequential = p50["n"] / p50["1"]  # same server, before and after the ramp
    n = len(targets)
    total = time.perf_counter() - run_started

    rows = [
        (f"Tenant creation, n={args.create} each", "mean", "median", ""),
        ("tenant_create (clone_schema, PBKDF2)", f"{clone['mean']:.3f} s",
         f"{clone['median']:.3f} s", f"goal <= {GOAL_CLONE_CREATE_S:g} s"),
        ("  of which clone_schema() SQL", f"{clone_sql['mean']:.3f} s",
         f"{clone_sql['median']:.3f} s", ""),
        ("  of which owner password hash", f"{password_hash_seconds:.3f} s", "", "PBKDF2"),
        ("migration replay", f"{replay['mean']:.3f} s", f"{replay['median']:.3f} s", ""),
        ("replay / tenant_create", f"{speedup:.2f}x", "", f"goal >= {GOAL_CLONE_SPEEDUP:g}x"),
        ("tenant_create, suggested fixes", f"{fix['mean']:.3f} s", f"{fix['median']:.3f} s",
         "lean clone + fast one-time hash"),
        ("  of which lean clone SQL", f"{lean_sql['mean']:.3f} s",
         f"{lean_sql['median']:.3f} s", ""),
        ("replay / tenant_create with fixes", f"{fixed_speedup:.2f}x", "", ""),
        (f"with {n} tenants present, one each:", "", "", ""),
        ("  tenant_create (clone_schema)", f"{clone_at_scale:.3f} s", "", ""),
        ("  tenant_create, suggested fixes", f"{fixed_at_scale:.3f} s", "", ""),
        ("  migration replay", f"{replay_at_scale:.3f} s", "", ""),
        (f"ramp: tenant_create, {args.ramp_clone} clone", f"{ramp_create['mean']:.3f} s",
         f"{ramp_create['median']:.3f} s",
         f"n={len(ramp_slugs)}, {args.processes} in parallel, wall {ramped.wall_seconds:.0f} s"),
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
        print(f"{label:<40} {a:>10} {b:>10}  {note}")
    print(f"\nWhole run: {total:.0f} s. Ramp schemas match the template: {faithful}.")

    figures = {
        "clone_create_mean_s": goal(clone["mean"], "<=", GOAL_CLONE_CREATE_S),
        "clone_speedup_vs_migrate": goal(speedup, ">=", GOAL_CLONE_SPEEDUP),
        "p50_ratio_many_vs_one": goal(p50_ratio, "<=", GOAL_P50_RATIO),
        "p50_ratio_sequential": round(p50_ratio_sequential, 3),
        "clone_create_median_s": round(clone["median"], 4),
        "clone_sql_mean_s": round(clone_sql["mean"], 4),
        "password_hash_s": round(password_hash_seconds, 4),
        "migrate_mean_s": round(replay["mean"], 4),
        "migrate_median_s": round(replay["median"], 4),
        "fixed_create_mean_s": round(fix["mean"], 4),
        "lean_clone_sql_mean_s": round(lean_sql["mean"], 4),
        "fixed_speedup_vs_migrate": round(fixed_speedup, 3),
        "clone_create_at_scale_s": round(clone_at_scale, 4),
        "fixed_create_at_scale_s": round(fixed_at_scale, 4),
        "migrate_at_scale_s": round(replay_at_scale, 4),
        "p50_ms_one": round(p50["1"], 3),
        "p99_ms_one": round(p99["1"], 3),
        "p50_ms_many": round(p50["n"], 3),
        "p99_ms_many": round(p99["n"], 3),
        "p50_ms_control": round(p50["c2"], 3),
        "p99_ms_control": round(p99["c2"], 3),
        "tenants_many": n,
        "requests_per_phase_and_server": args.requests,
        "ramp_clone": args.ramp_clone,
        "ramp_create_mean_s": round(ramp_create["mean"], 4),
        "template_tables": template_tables,
        "template_migrations": template_migrations,
        "run_s": round(total, 1),
    }
    print(json.dumps(figures, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
