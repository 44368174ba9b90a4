"""`make run`: migrate, make sure the demo tenant exists, then run the web server, the
workers and beat in the foreground until Ctrl-C, which stops all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection

from tenants.demo import demo_tenant_ensure


def _database_url() -> str:
    """The URL the children use: the parameters this process connects with (the embedded
    server's socket directory included)."""
    params = connection.get_connection_params()
    user = quote(params.get("user") or "postgres")
    password = f":{quote(params['password'])}" if params.get("password") else ""
    host = params.get("host") or ""
    port = params.get("port") or ""
    name = params["dbname"]
    if host.startswith("/"):
        return f"postgresql://{user}{password}@/{name}?host={quote(host)}" + (
            f"&port={port}" if port else ""
        )
    return f"postgresql://{user}{password}@{host}{':' + str(port) if port else ''}/{name}"


class Command(BaseCommand):
    help = "Run mlgov locally: web (gunicorn), Celery workers and beat, with the demo tenant."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args, **options):
        base = f"http://{options['bind']}"
        self.stdout.write("mlgov: preparing the database…")
        call_command("migrate_tenants", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        tenant, passwords, created = demo_tenant_ensure()
        self.stdout.write("mlgov: seeding the demo tenant (generated data, one job per recipe)…")
        call_command("seed_demo", tenant=tenant.slug, stdout=self.stdout)
        database_url = _database_url()
        connection.close()  # the children open their own connections

        env = {**os.environ, "DATABASE_URL": database_url, "MLGOV_ENV": settings.MLGOV_ENV}
        if "CELERY_BROKER_URL" not in os.environ:
            env["CELERY_BROKER_URL"] = settings.CELERY_BROKER_URL
        bin_dir = Path(sys.executable).parent
        data_dir = Path(settings.DATA_DIR)
        commands = {
            "web": [
                str(bin_dir / "gunicorn"),
                "mlgov.wsgi",
                "--bind",
                options["bind"],
                "--workers",
                str(options["web_workers"]),
                "--access-logfile",
                "-",
                "--forwarded-allow-ips",
                "127.0.0.1",
            ],
            "worker": [
                str(bin_dir / "celery"),
                "-A",
                "mlgov",
                "worker",
                "-Q",
                "default,evaluation",
                "--concurrency",
                "2",
                "-n",
                "default@%h",
                "--loglevel",
                "INFO",
            ],
            "worker-training": [
                str(bin_dir / "celery"),
                "-A",
                "mlgov",
                "worker",
                "-Q",
                "training",
                "--concurrency",
                "1",
                "--max-tasks-per-child",
                "1",
                "-n",
                "training@%h",
                "--loglevel",
                "INFO",
            ],
            "beat": [
                str(bin_dir / "celery"),
                "-A",
                "mlgov",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                str(data_dir / "celerybeat-schedule"),
            ],
        }
        children: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop_all(*_):
            nonlocal stopping
            if stopping:
                return
            stopping = True
            self.stdout.write("\nmlgov: stopping web, workers and beat…")
            for child in children.values():
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for child in children.values():
                try:
                    child.wait(timeout=max(deadline - time.monotonic(), 0.1))
                except subprocess.TimeoutExpired:
                    child.kill()

        signal.signal(signal.SIGINT, stop_all)
        signal.signal(signal.SIGTERM, stop_all)
        for name, command in commands.items():
            children[name] = subprocess.Popen(command, env=env)  # noqa: S603

        if self._wait_healthy(base, children["web"]):
            self._print_welcome(base, tenant.slug, passwords, created)
        else:
            self.stderr.write("mlgov: the web server did not become healthy; see its log above.")
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None and not stopping:
                    self.stderr.write(f"mlgov: {name} exited with code {child.returncode}.")
                    stop_all()
                    sys.exit(1)
            time.sleep(0.5)

    def _wait_healthy(self, base: str, web: subprocess.Popen) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and web.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.5)
        return False

    def _print_welcome(self, base, slug, passwords, created) -> None:
        w = self.stdout.write
        w(self.style.SUCCESS(f"\nmlgov is running at {base}/"))
        w(f"  Console:   {base}/t/{slug}/")
        w(f"  REST API:  {base}/t/{slug}/api/v1/   (docs: {base}/t/{slug}/api/docs/)")
        w(f"  Health:    {base}/healthz")
        w(f"\nDemo tenant {slug!r}{' (created now)' if created else ''}: user / password")
        for username, password in passwords.items():
            w(f"  {username:<11} {password}")
        w(
            f"\nAn API token: .venv/bin/python manage.py token_issue --tenant {slug} "
            f"--user maintainer --scope write"
        )
        w("Press Ctrl-C to stop everything.\n")
