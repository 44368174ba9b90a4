#!/usr/bin/env python
"""Console benchmark: response time of the console's main pages on a demo-sized tenant.

Prints figures, not a test. One run, on a database of its own:

1. Recreate `mlgov_bench_console` (or --database-url), `manage.py migrate_tenants`, create
   the tenant `bench` (tenants.services.tenant_create) with a maintainer and an auditor, and
   fill it through the product's services with demo-sized data (defaults): 12 datasets of 3
   versions, 8 experiments of 60 runs (10 params, 3 metrics over 100 steps, a dataset
   input each), 10 models of 8 versions with cards and stage changes, so a few thousand
   audit events.
2. Start gunicorn (gthread, keep-alive) on a free 127.0.0.1 port against that database and
   sign in to the console as the owner through the sign-in form (session cookie).
3. For each page in PAGES: warm-up requests, then --repeat measured ones over one
   keep-alive connection. The time is taken at the client over loopback, from sending the
   request to the last byte of the page: gunicorn, every middleware (tenant routing,
   session, CSRF, locale), the view and its queries, the template. It is an upper bound of
   the server's time (loopback adds a few tens of microseconds).
4. Print a table (p50, p95, max, page size), then exactly one JSON line of the figures;
   each page's p95 stands beside the goal (<= 150 ms, issue 6).

Run: `.venv/bin/python bench/console.py [--repeat 40] [--runs-per-experiment 60]`.
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
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/mlgov_bench_console"
SLUG = "bench"
PASSWORD = "bench-console-password-1"
GOAL_P95_MS = 150.0
_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


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


# --- demo-sized data -----------------------------------------------------------------------


@dataclass
class Seeded:
    dataset_id: int = 0
    experiment_id: int = 0
    run_ids: list[int] = field(default_factory=list)
    model_id: int = 0
    model_version_pk: int = 0
    counts: dict = field(default_factory=dict)


def _csv(rows: int, seed: int) -> bytes:
    lines = ["user_id,age,country,plays,skips,premium,churned"]
    for row in range(rows):
        value = row * 7 + seed
        lines.append(f"{row},{18 + value % 60},{'DE FR ES IT'.split()[value % 4]},"
                     f"{value % 500},{value % 37},{value % 2},{int(value % 5 == 0)}")
    return ("\n".join(lines) + "\n").encode()


def _model_bytes() -> bytes:
    import numpy as np
    import skops.io
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 5))
    return skops.io.dumps(LogisticRegression().fit(features, (features[:, 0] > 0).astype(int)))


def seed(args) -> Seeded:
    """The bench tenant, its members and demo-sized data, through the product's services."""
    import io

    from django.contrib.auth.models import User
    from django_tenants.utils import schema_context

    from mlgov.identity.models import Membership
    from mlgov.identity.services import member_create, token_issue
    from registry.services.datasets import dataset_create, dataset_version_create
    from registry.services.experiments import experiment_create
    from registry.services.metrics import run_log_batch
    from registry.services.models import registered_model_create
    from registry.services.runs import run_create, run_dataset_input_add, run_update
    from registry.services.stages import model_version_transition
    from registry.services.versions import model_card_put, model_version_register_upload
    from tenants.services import tenant_create

    created = tenant_create(acting_user=None, slug=SLUG, name="Bench Music Streaming",
                            owner_username="owner", owner_email="owner@bench.test")
    seeded = Seeded()
    with schema_context(created.tenant.schema_name):
        member_create(acting_user=None, username="maint", email="m@bench.test",
                      role="maintainer")
        member_create(acting_user=None, username="aud", email="a@bench.test", role="auditor")
        for user in User.objects.all():
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        Membership.objects.update(must_change_password=False)
        maint = User.objects.get(username="maint")
        owner = User.objects.get(username="owner")
        for index in range(3):
            token_issue(acting_user=None, user=owner, name=f"laptop {index}", scope="read")
        dataset_versions = []
        for index in range(args.datasets):
            dataset = dataset_create(acting_user=maint, name=f"listening-{index:02d}",
                                     description="Listening sessions of one market.")
            for version in range(3):
                dataset_versions.append(dataset_version_create(
                    acting_user=maint, dataset=dataset, content=io.BytesIO(_csv(500, version)),
                    file_format="csv", max_bytes=10**7, target="churned",
                    sensitive_attributes=["age", "country"], pii_columns=["user_id"],
                ))
            seeded.dataset_id = dataset.pk
        print(f"  {args.datasets} datasets x 3 versions", flush=True)
        for index in range(args.experiments):
            experiment = experiment_create(acting_user=maint, name=f"churn-search-{index:02d}")
            for number in range(args.runs_per_experiment):
                run = run_create(
                    acting_user=maint, experiment=experiment, name=f"trial-{number:03d}",
                    params={f"p{k}": str((number * (k + 1)) % 17) for k in range(10)},
                    tags={"recipe": "classification"},
                )
                points = [
                    {"key": key, "value": base + step * 0.001 * (number % 7), "step": step}
                    for key, base in (("loss", 0.9), ("f1", 0.5), ("roc_auc", 0.6))
                    for step in range(100)
                ]
                run_log_batch(acting_user=maint, run=run, metrics=points)
                run_dataset_input_add(acting_user=maint, run=run,
                                      dataset_version_id=dataset_versions[number % 3].pk)
                run_update(acting_user=maint, run=run, status="finished")
                seeded.run_ids.append(run.pk)
            seeded.experiment_id = experiment.pk
            print(f"  experiment {index + 1}/{args.experiments}: "
                  f"{args.runs_per_experiment} runs", flush=True)
        payload = _model_bytes()
        for index in range(args.models):
            model = registered_model_create(acting_user=maint, name=f"churn-{index:02d}")
            for _number in range(args.versions_per_model):
                version = model_version_register_upload(
                    acting_user=maint, model=model, source=[payload], file_name="model.skops",
                    metrics={"f1": 0.8, "roc_auc": 0.9},
                    signature={"inputs": [{"name": "age", "type": "int64"}],
                               "outputs": [{"name": "churned", "type": "int"}]},
                ).version
                model_card_put(acting_user=maint, version=version,
                               intended_use="Retention offers.", limitations="One market.")
            model_version_transition(acting_user=maint, version=version, stage="staging",
                                     reason="Offline metrics pass.")
            model_version_transition(acting_user=maint, version=version, stage="production",
                                     reason="Reviewed.")
            model_version_transition(acting_user=maint, version=version, alias="champion")
            seeded.model_id, seeded.model_version_pk = model.pk, version.pk
        print(f"  {args.models} models x {args.versions_per_model} versions", flush=True)
        from mlgov.audit.models import AuditEvent
        from registry.models import Run

        seeded.counts = {"runs": Run.objects.count(), "audit_events": AuditEvent.objects.count()}
    return seeded


# --- HTTP ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(workers: int, log_path: Path, database_url: str) -> subprocess.Popen:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "mlgov.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread", "--threads", "1", "--keep-alive", "30",
        "--log-level", "warning",
    ]
    env = {**os.environ, "DATABASE_URL": database_url}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    process.port = port  # type: ignore[attr-defined]
    return process


class Browser:
    """One keep-alive connection with the console's cookies, like a signed-in browser tab."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: dict | None = None):
        headers = {"Accept": "text/html", "Host": "127.0.0.1"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://127.0.0.1{path}"
        started = time.perf_counter()
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        content = response.read()
        elapsed_ms = (time.perf_counter() - started) * 1000
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.will_close:
            self.conn.close()
        return response.status, content, elapsed_ms

    def sign_in(self, username: str) -> None:
        status, page, _ = self.request("GET", f"/t/{SLUG}/login/")
        token = _CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"sign-in page answered {status}")
        status, _, _ = self.request("POST", f"/t/{SLUG}/login/", {
            "username": username, "password": PASSWORD,
            "csrfmiddlewaretoken": token[1].decode(),
        })
        if status != 302:
            raise RuntimeError(f"sign-in answered {status}")


def wait_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if Browser(process.port).request("GET", f"/t/{SLUG}/login/")[0] == 200:  # type: ignore[attr-defined]
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f}s:\n"
                       f"{log_path.read_text()[-2000:]}")


# --- measurements --------------------------------------------------------------------------


def pages(seeded: Seeded) -> list[tuple[str, str]]:
    runs = seeded.run_ids[-3:]
    compare = "&".join(f"run={pk}" for pk in runs)
    return [
        ("dashboard", ""),
        ("datasets", "datasets/"),
        ("dataset", f"datasets/{seeded.dataset_id}/"),
        ("dataset_version", f"datasets/{seeded.dataset_id}/versions/1/"),
        ("experiments", "experiments/"),
        ("experiment_runs", f"experiments/{seeded.experiment_id}/"),
        ("run", f"runs/{runs[-1]}/"),
        ("run_chart", f"runs/{runs[-1]}/chart/?key=loss"),
        ("run_compare", f"runs/compare/?{compare}"),
        ("models", "models/"),
        ("model_versions", f"models/{seeded.model_id}/"),
        ("model_version", f"models/{seeded.model_id}/versions/1/"),
        ("lineage", "lineage/?node=dataset_version:1&depth=2"),
        ("audit_log", "audit/"),
        ("audit_filtered", "audit/?action=run."),
        ("members", "members/"),
        ("tokens", "tokens/"),
    ]


def percentile(samples: list[float], q: int) -> float:
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


def measure(browser: Browser, path: str, warmup: int, repeat: int) -> tuple[list[float], int]:
    samples: list[float] = []
    size = 0
    for index in range(warmup + repeat):
        status, content, elapsed_ms = browser.request("GET", f"/t/{SLUG}/{path}")
        if status != 200:
            raise RuntimeError(f"/t/{SLUG}/{path} answered {status}")
        size = len(content)
        if index >= warmup:
            samples.append(elapsed_ms)
    return samples, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL,
                        help="a database of its own: it is dropped and recreated")
    parser.add_argument("--repeat", type=int, default=40, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests first")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--datasets", type=int, default=12)
    parser.add_argument("--experiments", type=int, default=8)
    parser.add_argument("--runs-per-experiment", type=int, default=60)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--versions-per-model", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()

    print(f"Database {urlsplit(args.database_url).path.lstrip('/')}: recreating, migrating…",
          flush=True)
    recreate_database(args.database_url)
    django_setup(args.database_url)
    from django.core.management import call_command

    call_command("migrate_tenants", verbosity=0)
    print("Seeding the bench tenant through the services…", flush=True)
    seeded = seed(args)
    log_path = Path(tempfile.mkdtemp(prefix="mlgov-bench-console-")) / "gunicorn.log"
    server = start_gunicorn(args.workers, log_path, args.database_url)
    rows = []
    figures: dict = {}
    try:
        wait_ready(server, log_path)
        print(f"gunicorn on 127.0.0.1:{server.port}, {args.workers} workers; "  # type: ignore[attr-defined]
              f"log in {log_path}", flush=True)
        browser = Browser(server.port)  # type: ignore[attr-defined]
        browser.sign_in("owner")
        for name, path in pages(seeded):
            samples, size = measure(browser, path, args.warmup, args.repeat)
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            rows.append((name, path, p50, p95, max(samples), size))
            figures[f"{name}_ms_p95"] = {"value": round(p95, 2), "goal": f"<= {GOAL_P95_MS:g}",
                                         "met": p95 <= GOAL_P95_MS}
            figures[f"{name}_ms_p50"] = round(p50, 2)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)

    print()
    print(f"{'page':<18} {'p50':>8} {'p95':>8} {'max':>8} {'size':>8}  goal p95 <= "
          f"{GOAL_P95_MS:g} ms   path")
    for name, path, p50, p95, worst, size in rows:
        verdict = "met" if p95 <= GOAL_P95_MS else "MISSED"
        print(f"{name:<18} {p50:>6.1f}ms {p95:>6.1f}ms {worst:>6.1f}ms {size / 1024:>6.0f}KiB"
              f"  {verdict:<22} /t/{SLUG}/{path}")
    print()
    print(json.dumps({
        **figures,
        "all_met": all(figure["met"] for key, figure in figures.items() if key.endswith("p95")),
        "repeat": args.repeat,
        "data": {**seeded.counts, "datasets": args.datasets, "models": args.models,
                 "model_versions": args.models * args.versions_per_model},
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "wall_s": round(time.perf_counter() - started, 1),
    }, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
