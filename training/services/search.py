"""Where a distributed hyperparameter search keeps its optuna study.

Decision (docs/decisions/0006-optuna-study-storage.md): optuna's tables live in one schema of
their own, `optuna`, in the platform's database; never in a tenant schema (they would be
copied into every new tenant by the template clone and migrated with it) and never in
`public` (django-tenants owns that). Each job's study is named after its tenant schema and
job, `<schema>:trainingjob:<id>`, so tenants never share a study; a job only ever opens
its own study by that name, and the study is deleted when the job ends, so no tenant's
trial history stays outside its schema.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import quote, urlencode

import optuna
from django.conf import settings
from django.db import connection, transaction

logger = logging.getLogger(__name__)

OPTUNA_SCHEMA = "optuna"


def study_name_for(schema: str, job_id: int) -> str:
    return f"{schema}:trainingjob:{job_id}"


def _sqlalchemy_url() -> str:
    db = settings.DATABASES["default"]
    user = quote(str(db.get("USER") or ""), safe="")
    password = db.get("PASSWORD")
    auth = user + (f":{quote(str(password), safe='')}" if password else "")
    host = str(db.get("HOST") or "")
    query: dict[str, str] = {}
    if host.startswith("/"):  # a Unix socket directory (the embedded PostgreSQL)
        query["host"] = host
        netloc = f"{auth}@" if auth else ""
    else:
        port = f":{db['PORT']}" if db.get("PORT") else ""
        netloc = (f"{auth}@" if auth else "") + host + port
    suffix = f"?{urlencode(query, safe='/')}" if query else ""
    return f"postgresql+psycopg2://{netloc}/{quote(str(db['NAME']), safe='')}{suffix}"


@lru_cache(maxsize=4)
def _storage(url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(
        url,
        engine_kwargs={
            "connect_args": {"options": f"-c search_path={OPTUNA_SCHEMA}"},
            "pool_pre_ping": True,
        },
    )


def search_storage() -> optuna.storages.RDBStorage:
    """The shared study storage; the first caller creates the schema and optuna's tables
    (serialised across processes by an advisory lock, so two parts never race on it)."""
    url = _sqlalchemy_url()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('mlgov-optuna-schema', 0))")
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {OPTUNA_SCHEMA}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended('mlgov-optuna-schema', 0))")
        return _storage(url)


def study_best_params(storage: optuna.storages.RDBStorage, study_name: str) -> dict | None:
    """The best trial's params of the study as it stands now (None without a finished trial)."""
    study = optuna.load_study(study_name=study_name, storage=storage)
    try:
        return dict(study.best_trial.params)
    except ValueError:
        return None


def study_delete(study_name: str) -> None:
    """Remove a finished job's study (best effort: a leftover study is only clutter)."""
    if not study_name:
        return
    try:
        optuna.delete_study(study_name=study_name, storage=search_storage())
    except KeyError:
        pass
    except Exception:
        logger.exception("Could not delete optuna study %s", study_name)
