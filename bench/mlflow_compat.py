#!/usr/bin/env python
"""MLflow compatibility benchmark: one fixed mlflow-client workload against mlgov, plain
`mlflow server`, `mlflow server --app-name basic-auth --enable-workspaces` (MLflow's own
answer to tenants and authentication) and, for the model step's floor, the same client on
a local SQLite store. Prints figures, not a test; nothing in CI runs it.

All in one run, loopback only, on the local PostgreSQL (--postgres, default
postgresql://postgres@127.0.0.1:5432), each server on databases of its own:
1. A virtualenv with the full `mlflow[auth]==3.17.2` (its server; mlgov's .venv holds only
   mlflow-skinny, as mlflow pins gunicorn<27) in .data/bench/mlflow-venv, made on first use.
2. Recreate mlgov_bench_mlflow (migrate_tenants, tenant `bench`, a maintainer `engineer`
   with a write token; the tenant plan's request rate raised so the quota never throttles
   the workload, its throttle still runs), mlflow_bench_plain, mlflow_bench_ws and
   mlflow_bench_ws_auth (the basic-auth user store; admin with a random password creates
   workspace `bench`, user `engineer` with USE on it).
3. Start mlgov (gunicorn, 2 gthread workers) and both MLflow servers (2 workers each);
   warm each target up with two small runs of the workload (not measured: a worker's
   first requests import its code, on every server alike).
4. Per round (--rounds, default 2), the targets in turn (order rotated each round), each in
   a fresh client process of that virtualenv (`--workload`), the same steps:
   experiment (set_experiment); runs_with_batches (--runs 20 runs, each start_run +
   log_batch of 10 params and a --points 100-point metric + end_run); single_log_metric
   (--singles 200 `MlflowClient.log_metric` calls, each timed); search (a filtered
   search_runs); history (get_metric_history of a 100-point metric); log_register_model
   (mlflow.sklearn.log_model with an input example and registered_model_name, the client's
   defaults: skops; --model-repeats 3 times, the median kept: most of it is the client's own,
   noisy work); load_model (pyfunc.load_model of models:/<name>/<version>, predict).
   SQLite runs the same steps in-process (no server).
5. Print per-step medians over the rounds, the ratios, and one JSON line with the goals:
   server-bound steps (runs_with_batches + single_log_metric + search + history) >= 5x
   faster than plain MLflow and >= 25x than with workspaces and basic-auth; single
   log_metric p50 <= 10 ms on mlgov; log_register_model <= 1.2x the SQLite floor.

Run: `.venv/bin/python bench/mlflow_compat.py [--rounds 2] [--skip-auth]` (about 12 minutes
on 2 cores; `--rounds 1` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
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
MLFLOW_VERSION = "3.17.2"
VENV = ROOT / ".data" / "bench" / "mlflow-venv"
SLUG = "bench"
SERVER_STEPS = ("runs_with_batches", "single_log_metric", "search", "history")
STEPS = ("experiment", *SERVER_STEPS, "log_register_model", "load_model")
GOALS = {"vs_mlflow": 5.0, "vs_workspaces_auth": 25.0, "log_metric_p50_ms": 10.0,
         "model_vs_sqlite": 1.2}
QUIET_CLIENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
}
WORKLOAD_TIMEOUT = 900


# --- the workload (runs inside the mlflow virtualenv) ------------------------------------


def workload(runs: int, points: int, singles: int, tag: str, model_repeats: int = 3) -> dict:
    """The fixed client workload; returns seconds per step and the single-call samples."""
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    client = MlflowClient()
    times: dict = {}

    def timed(step):
        started = time.perf_counter()
        return started, lambda: times.__setitem__(step, time.perf_counter() - started)

    _, done = timed("experiment")
    experiment_id = mlflow.set_experiment(f"compat-{tag}").experiment_id
    done()
    now = int(time.time() * 1000)
    _, done = timed("runs_with_batches")
    run_ids = []
    for index in range(runs):
        with mlflow.start_run(run_name=f"run-{index}") as run:
            client.log_batch(
                run.info.run_id,
                metrics=[Metric("m", (index + step) / (runs + points), now + step, step)
                         for step in range(points)],
                params=[Param(f"p{k}", f"v{(index + k) % 3}") for k in range(10)],
            )
            run_ids.append(run.info.run_id)
    done()
    target = run_ids[-1]
    samples = []
    _, done = timed("single_log_metric")
    for step in range(singles):
        started = time.perf_counter()
        client.log_metric(target, "single", step / singles, timestamp=now + step, step=step)
        samples.append((time.perf_counter() - started) * 1000)
    done()
    _, done = timed("search")
    found = client.search_runs([experiment_id], "metrics.m >= 0.2 and params.p0 = 'v1'",
                               order_by=["metrics.m DESC"])
    done()
    _, done = timed("history")
    history = client.get_metric_history(target, "m")
    done()
    data = load_iris(as_frame=True)
    model = LogisticRegression(max_iter=500).fit(data.data, data.target)
    name = f"compat-model-{tag}"
    model_seconds = []
    for _ in range(model_repeats):  # the client's own work varies: the median of a few
        started = time.perf_counter()
        with mlflow.start_run(run_name="model"):
            info = mlflow.sklearn.log_model(model, name="model",
                                            input_example=data.data.head(5),
                                            registered_model_name=name)
        model_seconds.append(time.perf_counter() - started)
    times["log_register_model"] = statistics.median(model_seconds)
    _, done = timed("load_model")
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/{info.registered_model_version}")
    predictions = loaded.predict(data.data)
    done()
    assert len(history) == points, len(history)
    assert (predictions == model.predict(data.data)).all()
    return {"times": times, "single_ms": samples, "search_hits": len(found)}


# --- servers and databases (the driver, in mlgov's .venv) ---------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(base: str, name: str, *, sqlalchemy: bool = False) -> str:
    """`base` pointed at database `name`; for MLflow (SQLAlchemy 2.1 reads postgresql://
    as psycopg 3) with the psycopg2 driver named."""
    parts = urlsplit(base)
    scheme = "postgresql+psycopg2" if sqlalchemy else parts.scheme
    return urlunsplit((scheme, parts.netloc, f"/{name}", parts.query, ""))


def recreate_databases(base: str, names: list[str]) -> None:
    import psycopg2

    conn = psycopg2.connect(database_url(base, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cursor:
        for name in names:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                [name],
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import mlflow, sklearn, psycopg2, flask_wtf; "
                            "print(mlflow.__version__)"], capture_output=True, text=True,
                           check=False) if python.exists() else None
    if probe is not None and probe.stdout.strip() == MLFLOW_VERSION:
        return python
    print(f"Creating {VENV} with mlflow=={MLFLOW_VERSION} (once)...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"mlflow[auth]=={MLFLOW_VERSION}",
                    "psycopg2-binary==2.9.13", "skops==0.16.0"], check=True)
    return python


@dataclass
class Target:
    name: str
    uri: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None
    log: Path | None = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start(command: list[str], env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    with log.open("w") as sink:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=sink,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_http(target: Target, url: str, headers: dict, timeout: float = 180) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process is not None and target.process.poll() is not None:
            break
        try:
            if requests.get(url, headers=headers, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    tail = target.log.read_text()[-3000:] if target.log else ""
    raise RuntimeError(f"{target.name} did not start:\n{tail}")


def mlgov_target(base: str, workdir: Path) -> Target:
    url = database_url(base, "mlgov_bench_mlflow")
    os.environ.update(DATABASE_URL=url, MLGOV_ENV="development", DEBUG="false",
                      LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="mlgov.settings")
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]  # bench/ shadows
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django_tenants.utils import schema_context

    from mlgov.identity.services import member_create, token_issue
    from tenants.models import Plan
    from tenants.services import tenant_create

    print("mlgov: migrating a fresh database...", flush=True)
    call_command("migrate_tenants", verbosity=0, stdout=open(os.devnull, "w"))
    tenant = tenant_create(acting_user=None, slug=SLUG, name="Bench", owner_username="owner",
                           owner_email="owner@bench.test").tenant
    if tenant.plan_id:
        Plan.objects.filter(pk=tenant.plan_id).update(api_requests_per_minute=1_000_000)
    with schema_context(tenant.schema_name):
        engineer = member_create(acting_user=None, username="engineer",
                                 email="engineer@bench.test", role="maintainer").user
        token = token_issue(acting_user=None, user=engineer, name="bench", scope="write",
                            expires_days=1).plaintext
    port = free_port()
    target = Target("mlgov", f"http://127.0.0.1:{port}/t/{SLUG}/mlflow",
                    {"MLFLOW_TRACKING_TOKEN": token}, log=workdir / "mlgov.log")
    target.process = start(
        [sys.executable, "-m", "gunicorn", "mlgov.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--worker-class", "gthread", "--threads", "4",
         "--keep-alive", "30", "--log-level", "warning"],
        {**os.environ, "DATABASE_URL": url}, target.log, ROOT,
    )
    wait_http(target, f"{target.uri}/api/3.0/mlflow/server-info",
              {"Authorization": f"Bearer {token}"})
    return target


def mlflow_target(python: Path, base: str, workdir: Path, *, auth: bool) -> Target:
    name = "mlflow_ws_auth" if auth else "mlflow"
    db = "mlflow_bench_ws" if auth else "mlflow_bench_plain"
    port = free_port()
    command = [str(python.parent / "mlflow"), "server", "--backend-store-uri",
               database_url(base, db, sqlalchemy=True),
               "--artifacts-destination", str(workdir / f"{name}-art"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    env = {**os.environ, **QUIET_CLIENT}
    for variable in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(variable, None)
    admin_password = secrets.token_urlsafe(16)
    if auth:
        config = workdir / "basic_auth.ini"
        config.write_text(
            "[mlflow]\ndefault_permission = READ\n"
            f"database_uri = {database_url(base, 'mlflow_bench_ws_auth', sqlalchemy=True)}\n"
            f"admin_username = admin\nadmin_password = {admin_password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        command += ["--app-name", "basic-auth", "--enable-workspaces"]
        env.update(MLFLOW_AUTH_CONFIG_PATH=str(config),
                   MLFLOW_FLASK_SERVER_SECRET_KEY=secrets.token_hex(16))
    target = Target(name, f"http://127.0.0.1:{port}", log=workdir / f"{name}.log")
    print(f"{name}: starting `mlflow server` (it migrates its database)...", flush=True)
    target.process = start(command, env, target.log, workdir)
    wait_http(target, f"{target.uri}/health", {})
    if auth:
        target.env = _auth_user(target, ("admin", admin_password))
    return target


def _auth_user(target: Target, admin: tuple[str, str]) -> dict[str, str]:
    """Workspace `bench`, and user `engineer` with USE on it (a role of that workspace), as
    MLflow 3.17's auth app has an administrator set them up."""
    import requests

    password = secrets.token_urlsafe(16)

    def call(path: str, body: dict, in_workspace: bool = True) -> dict:
        headers = {"X-MLFLOW-WORKSPACE": SLUG} if in_workspace else {}
        reply = requests.post(target.uri + path, json=body, auth=admin, timeout=30,
                              headers=headers)
        if reply.status_code not in (200, 201):
            raise RuntimeError(f"{target.name}: {path} answered {reply.status_code}: "
                               f"{reply.text[:300]}")
        return reply.json() if reply.content else {}

    call("/api/3.0/mlflow/workspaces", {"name": SLUG}, in_workspace=False)
    call("/api/2.0/mlflow/users/create", {"username": "engineer", "password": password})
    role = call("/api/3.0/mlflow/roles/create", {"name": "engineers", "workspace": SLUG})["role"]
    call("/api/3.0/mlflow/roles/permissions/add", {
        "role_id": role["id"], "resource_type": "workspace", "resource_pattern": "*",
        "permission": "USE"})
    call("/api/3.0/mlflow/roles/assign", {"username": "engineer", "role_id": role["id"]})
    return {"MLFLOW_TRACKING_USERNAME": "engineer", "MLFLOW_TRACKING_PASSWORD": password,
            "MLFLOW_WORKSPACE": SLUG}


def run_workload(python: Path, target: Target, args, tag: str, workdir: Path) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("MLFLOW_", "DJANGO_", "DATABASE_URL"))}
    env.update(QUIET_CLIENT, MLFLOW_TRACKING_URI=target.uri, **target.env)
    folder = workdir / f"client-{target.name}-{tag}"
    folder.mkdir()
    command = [str(python), str(Path(__file__).resolve()), "--workload", "--runs",
               str(args.runs), "--points", str(args.points), "--singles", str(args.singles),
               "--model-repeats", str(getattr(args, "model_repeats", 1)), "--tag", tag]
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=WORKLOAD_TIMEOUT, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{target.name} workload failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


# --- report --------------------------------------------------------------------------------


def p50(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def summarise(results: dict[str, list[dict]]) -> dict:
    summary = {}
    for name, rounds in results.items():
        steps = {step: statistics.median(r["times"][step] for r in rounds) for step in STEPS}
        singles = [ms for r in rounds for ms in r["single_ms"]]
        steps["server_bound"] = sum(steps[step] for step in SERVER_STEPS)
        summary[name] = {"seconds": {k: round(v, 4) for k, v in steps.items()},
                         "log_metric_p50_ms": round(p50(singles), 2),
                         "log_metric_p95_ms": round(statistics.quantiles(singles, n=20)[18], 2)
                         if len(singles) > 20 else None}
    return summary


def goal(value, target: float, *, at_least: bool) -> dict:
    if value is None:
        return {"value": None, "goal": target, "met": False}
    met = value >= target if at_least else value <= target
    return {"value": round(value, 2), "goal": target, "met": bool(met)}


def report(summary: dict, args, skipped: dict) -> None:
    names = list(summary)
    print(f"\nPer-step medians over {args.rounds} round(s), seconds:")
    print(f"{'step':22s}" + "".join(f"{name:>16s}" for name in names))
    for step in (*STEPS, "server_bound"):
        print(f"{step:22s}" + "".join(f"{summary[n]['seconds'][step]:16.3f}" for n in names))
    print(f"{'log_metric p50 (ms)':22s}" + "".join(
        f"{summary[n]['log_metric_p50_ms']:16.2f}" for n in names))
    mlgov = summary["mlgov"]["seconds"]

    def ratio(other: str, step: str):
        return summary[other]["seconds"][step] / mlgov[step] if other in summary else None

    print("\nRatios (other / mlgov; above 1 means mlgov is faster):")
    for other in names[1:]:
        print(f"  {other:16s}" + "  ".join(
            f"{step}={summary[other]['seconds'][step] / mlgov[step]:.2f}x"
            for step in (*SERVER_STEPS, "server_bound", "log_register_model", "load_model")))
    model_floor = (mlgov["log_register_model"] / summary["sqlite"]["seconds"]
                   ["log_register_model"]) if "sqlite" in summary else None
    line = {
        "bench": "mlflow_compat", "mlflow_version": MLFLOW_VERSION, "rounds": args.rounds,
        "workload": {"runs": args.runs, "points": args.points, "singles": args.singles},
        "skipped": skipped,
        "steps": summary,
        "goals": {
            "server_bound_speedup_vs_mlflow": goal(ratio("mlflow", "server_bound"),
                                                   GOALS["vs_mlflow"], at_least=True),
            "server_bound_speedup_vs_workspaces_auth": goal(
                ratio("mlflow_ws_auth", "server_bound"), GOALS["vs_workspaces_auth"],
                at_least=True),
            "log_metric_p50_ms": goal(summary["mlgov"]["log_metric_p50_ms"],
                                      GOALS["log_metric_p50_ms"], at_least=False),
            "log_register_model_vs_sqlite": goal(model_floor, GOALS["model_vs_sqlite"],
                                                 at_least=False),
        },
    }
    print(json.dumps(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--singles", type=int, default=200)
    parser.add_argument("--model-repeats", type=int, default=3,
                        help="log_register_model runs per workload; its median is reported")
    parser.add_argument("--skip-auth", action="store_true",
                        help="leave out mlflow server --app-name basic-auth --enable-workspaces")
    parser.add_argument("--workload", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="x", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        print(json.dumps(workload(args.runs, args.points, args.singles, args.tag,
                                  args.model_repeats)))
        return
    python = ensure_venv()
    recreate_databases(args.postgres, ["mlgov_bench_mlflow", "mlflow_bench_plain",
                                       "mlflow_bench_ws", "mlflow_bench_ws_auth"])
    workdir = Path(tempfile.mkdtemp(prefix="mlgov-bench-mlflow-"))
    targets: list[Target] = []
    skipped: dict[str, str] = {}
    try:
        targets.append(mlgov_target(args.postgres, workdir))
        targets.append(mlflow_target(python, args.postgres, workdir, auth=False))
        if args.skip_auth:
            skipped["mlflow_ws_auth"] = "--skip-auth"
        else:
            try:
                targets.append(mlflow_target(python, args.postgres, workdir, auth=True))
            except RuntimeError as error:  # reported, not hidden
                skipped["mlflow_ws_auth"] = str(error)[:500]
                print(f"mlflow_ws_auth unavailable: {error}", flush=True)
        sqlite = Target("sqlite", f"sqlite:///{workdir / 'floor.db'}")
        order = [*targets, sqlite]
        results: dict[str, list[dict]] = {target.name: [] for target in order}
        warm = argparse.Namespace(runs=2, points=10, singles=20, model_repeats=1)
        for target in order:  # every worker's first requests import its code: not measured
            for index in range(2):
                run_workload(python, target, warm, f"warm{index}", workdir)
        print("warm-up done", flush=True)
        for round_index in range(args.rounds):
            shift = round_index % len(order)
            for target in order[shift:] + order[:shift]:
                started = time.perf_counter()
                results[target.name].append(
                    run_workload(python, target, args, f"{round_index}", workdir))
                print(f"round {round_index + 1}: {target.name} done in "
                      f"{time.perf_counter() - started:.1f}s", flush=True)
        report(summarise(results), args, skipped)
    finally:
        for target in targets:
            target.stop()


if __name__ == "__main__":
    main()
