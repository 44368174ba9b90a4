"""MLflow 3's logged models, kept in mlgov's own tables: one source of truth, no second store.

A logged model belongs to the run that logged it (a model logged outside any run gets a
run of its own, created through the runs service). Its description (name, type, status,
times, tags, params) is a JSON record in that run's tags, under `mlgov.logged_model.<id>`
(split into `...<id>.part001`, `.part002` when it outgrows one tag value); its files are
the run's files under `logged_models/<id>/`. Every write goes through the runs services,
so it is permission-checked (change on the experiment) and audited like any run change.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from registry.mlflow_api import ids
from registry.mlflow_api.errors import invalid, not_found
from registry.models import Run, RunTag
from registry.services import runs as run_services

TAG_PREFIX = "mlgov.logged_model."
HOLDER_TAG = "mlgov.logged_model_holder"
_CHUNK = 7_500  # below the runs service's 8,000-character tag value limit
_MAX_CHUNKS = 100

STATUSES = {
    "LOGGED_MODEL_PENDING": "PENDING",
    "LOGGED_MODEL_READY": "READY",
    "LOGGED_MODEL_UPLOAD_FAILED": "FAILED",
}


@dataclass
class LoggedModelRecord:
    model_id: str
    run: Run
    name: str
    model_type: str = ""
    status: str = "PENDING"  # PENDING | READY | FAILED
    created_ms: int = 0
    updated_ms: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    deleted: bool = False

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model_type": self.model_type,
            "status": self.status,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "tags": self.tags,
            "params": self.params,
            "deleted": self.deleted,
        }


def _key(model_id: str) -> str:
    return f"{TAG_PREFIX}{model_id}"


def _from_parts(model_id: str, run: Run, parts: list[tuple[str, str]]) -> LoggedModelRecord | None:
    """The record from its tag values (sorted by key: the head, then .part001, ...)."""
    try:
        body = json.loads("".join(value for _, value in sorted(parts)))
    except ValueError:
        return None  # a hand-edited tag that is no longer a record
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return None
    try:
        return LoggedModelRecord(
            model_id=model_id,
            run=run,
            name=body["name"],
            model_type=str(body.get("model_type") or ""),
            status=str(body.get("status") or "PENDING"),
            created_ms=int(body.get("created_ms") or 0),
            updated_ms=int(body.get("updated_ms") or 0),
            tags={str(k): str(v) for k, v in dict(body.get("tags") or {}).items()},
            params={str(k): str(v) for k, v in dict(body.get("params") or {}).items()},
            deleted=bool(body.get("deleted")),
        )
    except (TypeError, ValueError):
        return None


def records_of(rows, runs_by_pk: dict[int, Run]) -> list[LoggedModelRecord]:
    """Records from (run_id, key, value) rows of record tags."""
    grouped: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for run_pk, key, value in rows:
        model_id = key[len(TAG_PREFIX) :].split(".part", 1)[0]
        grouped.setdefault((run_pk, model_id), []).append((key, value))
    records = []
    for (run_pk, model_id), parts in grouped.items():
        if not ids.is_logged_model_id(model_id):
            continue
        record = _from_parts(model_id, runs_by_pk[run_pk], parts)
        if record is not None:
            records.append(record)
    return records


def record_rows(runs) -> Any:
    """(run_id, key, value) of every logged-model record tag of `runs` (a queryset or ids)."""
    return RunTag.objects.filter(run__in=runs, key__startswith=TAG_PREFIX).values_list(
        "run_id", "key", "value"
    )


def record_get(*, run: Run, model_id: str, include_deleted: bool = False) -> LoggedModelRecord:
    rows = RunTag.objects.filter(run=run, key__startswith=_key(model_id)).values_list(
        "run_id", "key", "value"
    )
    found = records_of(rows, {run.pk: run})
    if not found or (found[0].deleted and not include_deleted):
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return found[0]


def _chunks(record: LoggedModelRecord) -> dict[str, str]:
    text = json.dumps(record.body(), separators=(",", ":"), sort_keys=True)
    pieces = [text[start : start + _CHUNK] for start in range(0, len(text), _CHUNK)] or [""]
    if len(pieces) > _MAX_CHUNKS:
        raise invalid("The logged model's tags and params are too large.")
    head = _key(record.model_id)
    return {head if index == 0 else f"{head}.part{index:03d}": piece
            for index, piece in enumerate(pieces)}


def _save(acting_user: User | None, record: LoggedModelRecord) -> None:
    """Write the record's tags through the runs service (which locks the run, checks
    `change` and audits), and drop parts a shorter record no longer needs."""
    record.updated_ms = int(time.time() * 1000)
    chunks = _chunks(record)
    run_services.run_tags_set(acting_user=acting_user, run=record.run, tags=chunks)
    stale = RunTag.objects.filter(run=record.run, key__startswith=f"{_key(record.model_id)}.part"
                                  ).exclude(key__in=list(chunks)).values_list("key", flat=True)
    for key in list(stale):
        run_services.run_tag_delete(acting_user=acting_user, run=record.run, key=key)


@transaction.atomic
def logged_model_create(
    *,
    acting_user: User,
    run: Run,
    name: str,
    model_type: str = "",
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> LoggedModelRecord:
    """A new logged model of `run`, PENDING until the client finalizes it."""
    now = int(time.time() * 1000)
    record = LoggedModelRecord(
        model_id=ids.logged_model_id_new(run),
        run=run,
        name=name,
        model_type=model_type,
        created_ms=now,
        tags=dict(tags or {}),
        params=dict(params or {}),
    )
    _save(acting_user, record)
    return record


@transaction.atomic
def logged_model_update(*, acting_user: User, run: Run, model_id: str, status: str | None = None,
                        tags: dict[str, str] | None = None, tag_removed: str | None = None,
                        params: dict[str, str] | None = None, deleted: bool | None = None
                        ) -> LoggedModelRecord:
    """Change a logged model's status, tags, params or deletion mark (the run is locked
    first, so concurrent updates of one model never lose each other's changes)."""
    run = run_services.lock_run(run)
    record = record_get(run=run, model_id=model_id)
    if status is not None:
        record.status = status
    if tags:
        record.tags.update(tags)
    if tag_removed is not None:
        if tag_removed not in record.tags:
            raise not_found(f"The logged model has no tag {tag_removed!r}.")
        del record.tags[tag_removed]
    if params:
        record.params.update(params)
    if deleted is not None:
        record.deleted = deleted
    _save(acting_user, record)
    if record.status == "READY" and record.run.status == Run.Status.RUNNING and (
        RunTag.objects.filter(run=record.run, key=HOLDER_TAG).exists()
    ):
        # the run made only to hold this model ends with it
        run_services.run_update(acting_user=acting_user, run=record.run,
                                status=Run.Status.FINISHED)
    return record
