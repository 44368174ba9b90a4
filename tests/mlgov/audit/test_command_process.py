"""`manage.py audit_verify` as an operator runs it: a separate process, committed data,
its exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from mlgov.audit.models import AuditEvent
from tests.mlgov.audit.conftest import TABLE

ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    user = db.get("USER") or "postgres"
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{db['NAME']}"


def run_audit_verify(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": _database_url(), "MLGOV_ENV": "test"}
    return subprocess.run(
        [sys.executable, "manage.py", "audit_verify", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_audit_verify_exits_zero_for_a_whole_chain_and_one_for_a_broken_one(committed_chain_tenant):
    with schema_context(committed_chain_tenant.schema_name):
        count = AuditEvent.objects.count()
    # given a whole chain / when an operator verifies it / then exit status 0
    whole = run_audit_verify("--tenant", committed_chain_tenant.slug)
    assert whole.returncode == 0, whole.stderr
    assert f"chain whole: {count} events" in whole.stdout
    # given an event edited in place by the database superuser (committed)
    with schema_context(committed_chain_tenant.schema_name), connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE {TABLE} SET action = 'forged' WHERE sequence = 2")
        cursor.execute("COMMIT")
    # then the command names event #2 and exits with status 1
    broken = run_audit_verify("--tenant", committed_chain_tenant.slug)
    assert broken.returncode == 1
    assert "chain broken at event #2 (hash_mismatch)" in broken.stdout
    assert "is broken" in broken.stderr
