"""Runs: create, rename, move through their status, soft-delete and restore; params, tags
and dataset inputs.

Writing to a run needs `change` on its experiment (through a role or an object grant),
an active experiment and an active run. A param, once logged, keeps its value: logging the
same value again is fine, another value is a 409 `param_immutable` (as in MLflow), so a
run's recorded configuration cannot be rewritten after its metrics were logged.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from mlgov.audit.recorder import record_event
from registry import permissions
from registry.models import (
    DatasetVersion,
    Experiment,
    LineageEdge,
    Run,
    RunDatasetInput,
    RunParam,
    RunTag,
)
from registry.services.experiments import (
    TrackingError,
    require_active,
    require_experiment_permission,
)

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000  # MLflow's limit
MAX_TAG_VALUE_LENGTH = 8000
MAX_RUN_NAME_LENGTH = 250
# MLflow's rule for param, metric and tag names; names may become file names in exports.
_KEY_PATTERN = re.compile(r"[\w./\- :]+")
_CONTEXT_PATTERN = re.compile(r"[a-z0-9_\-]{1,50}")

Status = Run.Status
TERMINAL = frozenset({Status.FINISHED, Status.FAILED, Status.KILLED})
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SCHEDULED: frozenset({Status.RUNNING, Status.FAILED, Status.KILLED}),
    Status.RUNNING: frozenset({Status.FINISHED, Status.FAILED, Status.KILLED}),
    Status.FINISHED: frozenset(),
    Status.FAILED: frozenset(),
    Status.KILLED: frozenset(),
}


# --- validation shared with metric batches -----------------------------------------------


def validate_key(kind: str, key: Any, index: int | None = None) -> str:
    """A param, metric or tag name: 1-250 of [word . / - space :], already in normal form."""
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_LENGTH
        or _KEY_PATTERN.fullmatch(key) is None
        or posixpath.normpath(key) != key
        or key.startswith("/")
        or any(segment in {".", ".."} for segment in key.split("/"))
    ):
        details: dict[str, Any] = {"key": key if isinstance(key, str) else repr(key)}
        if index is not None:
            details["index"] = index
        raise TrackingError(
            400,
            f"invalid_{kind}",
            f"A {kind} key is 1 to {MAX_KEY_LENGTH} letters, digits, '_', '-', '.', ' ', ':' "
            "or '/', without empty, '.' or '..' segments.",
            details,
        )
    return key


def _value(kind: str, key: str, value: Any, limit: int, index: int | None) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"  # what the MLflow client logs for booleans
    elif isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        raise TrackingError(
            400,
            f"invalid_{kind}",
            f"A {kind} value is a string of at most {limit} characters.",
            {"key": key, **({"index": index} if index is not None else {})},
        )
    return value


def validate_pairs(kind: str, items: Any, limit: int, max_items: int) -> dict[str, str]:
    """`[{"key", "value"}, ...]` or `{key: value}` -> {key: value}, validated."""
    if isinstance(items, dict):
        items = [{"key": key, "value": value} for key, value in items.items()]
    if not isinstance(items, list):
        raise TrackingError(400, f"invalid_{kind}", f"{kind}s must be a list of key/value pairs.")
    if len(items) > max_items:
        raise TrackingError(
            400, "batch_too_large", f"At most {max_items} {kind}s per request.",
            {"limit": max_items, "received": len(items)},
        )
    pairs: dict[str, str] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or set(item) - {"key", "value"}:
            raise TrackingError(
                400, f"invalid_{kind}", f"Each {kind} is an object with key and value.",
                {"index": index},
            )
        key = validate_key(kind, item.get("key"), index)
        value = _value(kind, key, item.get("value"), limit, index)
        if kind == "param" and pairs.get(key, value) != value:
            raise TrackingError(
                400, "duplicate_param", "One request logs a param key with two values.",
                {"key": key},
            )
        pairs[key] = value  # for tags, the last value of a key wins
    return pairs


# --- writes shared with metric batches ---------------------------------------------------


def require_writable(acting_user: User | None, run: Run) -> None:
    """`change` on the experiment, and both the experiment and the run active."""
    require_experiment_permission(acting_user, run.experiment, "change")
    require_active(run.experiment)
    if run.lifecycle_stage == Experiment.Lifecycle.DELETED:
        raise TrackingError(409, "run_deleted", "The run is deleted; restore it first.")


def params_log(run: Run, params: dict[str, str]) -> dict[str, str]:
    """Insert new params; refuse a changed value. Returns the params actually added."""
    if not params:
        return {}
    logged = dict(
        RunParam.objects.filter(run=run, key__in=list(params)).values_list("key", "value")
    )
    for key, value in params.items():
        if key in logged and logged[key] != value:
            raise TrackingError(
                409,
                "param_immutable",
                f"Param {key!r} was logged with another value; params cannot change.",
                {"key": key, "logged_value": logged[key], "new_value": value},
            )
    added = {key: value for key, value in params.items() if key not in logged}
    RunParam.objects.bulk_create([RunParam(run=run, key=k, value=v) for k, v in added.items()])
    return added


def tags_set(run: Run, tags: dict[str, str]) -> None:
    """Upsert tags in one statement."""
    if tags:
        RunTag.objects.bulk_create(
            [RunTag(run=run, key=key, value=value) for key, value in tags.items()],
            update_conflicts=True,
            unique_fields=["run", "key"],
            update_fields=["value"],
        )


def lock_run(run: Run) -> Run:
    """The run and its experiment as they are now, locked until commit: writers of one run
    are serialised (params are checked, then inserted) and never act on a stale state."""
    return Run.objects.select_for_update().select_related("experiment").get(pk=run.pk)


# --- services ----------------------------------------------------------------------------


def _snapshot(run: Run) -> dict:
    return {
        "name": run.name,
        "status": run.status,
        "lifecycle_stage": run.lifecycle_stage,
        "end_time": run.end_time.isoformat() if run.end_time else None,
    }


@transaction.atomic
def run_create(
    *,
    acting_user: User | None,
    experiment: Experiment,
    name: str = "",
    start_time: datetime | None = None,
    parent_run: Run | None = None,
    tags: Iterable | dict | None = None,
    params: Iterable | dict | None = None,
) -> Run:
    """Start a run in `experiment` (status running), with optional parent, tags and params."""
    require_experiment_permission(acting_user, experiment, "change")
    require_active(experiment)
    if len(name) > MAX_RUN_NAME_LENGTH:
        raise TrackingError(400, "invalid_name", f"Run names are at most {MAX_RUN_NAME_LENGTH}.")
    if parent_run is not None and parent_run.experiment_id != experiment.pk:
        raise TrackingError(
            400, "invalid_parent_run", "The parent run belongs to another experiment."
        )
    tag_pairs = validate_pairs("tag", tags or [], MAX_TAG_VALUE_LENGTH, 1000)
    param_pairs = validate_pairs("param", params or [], MAX_PARAM_VALUE_LENGTH, 1000)
    run = Run.objects.create(
        experiment=experiment,
        parent_run=parent_run,
        name=name,
        status=Status.RUNNING,
        start_time=start_time or timezone.now(),
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    params_log(run, param_pairs)
    tags_set(run, tag_pairs)
    record_event(
        actor=acting_user,
        action="run.create",
        object_type="run",
        object_id=run.pk,
        after={
            "experiment": experiment.pk,
            "name": name,
            "parent_run": parent_run.pk if parent_run else None,
            "params": param_pairs,
            "tags": tag_pairs,
        },
    )
    return run


@transaction.atomic
def run_update(
    *,
    acting_user: User | None,
    run: Run,
    name: str | None = None,
    status: str | None = None,
    end_time: datetime | None = None,
) -> Run:
    """Rename a run or move it along its status (running -> finished | failed | killed).

    Ending a run sets its end time (now unless given); a terminal run stays terminal.
    """
    run = lock_run(run)
    require_writable(acting_user, run)
    before = _snapshot(run)
    if name is not None:
        if len(name) > MAX_RUN_NAME_LENGTH:
            raise TrackingError(400, "invalid_name", "Run names are at most 250 characters.")
        run.name = name
    if status is not None and status != run.status:
        if status not in TRANSITIONS.get(run.status, frozenset()):
            raise TrackingError(
                400,
                "invalid_status_transition",
                f"A {run.status} run cannot become {status}.",
                {"from": run.status, "to": status,
                 "allowed": sorted(TRANSITIONS.get(run.status, ()))},
            )
        run.status = status
        if status in TERMINAL:
            run.end_time = end_time or timezone.now()
    elif end_time is not None:
        raise TrackingError(
            400, "invalid_end_time", "An end time is set only when the run ends (with status)."
        )
    if run.end_time is not None and run.end_time < run.start_time:
        raise TrackingError(400, "invalid_end_time", "A run cannot end before it started.")
    after = _snapshot(run)
    if after != before:
        run.save(update_fields=["name", "status", "end_time"])
        record_event(
            actor=acting_user, action="run.update", object_type="run", object_id=run.pk,
            before=before, after=after,
        )
    return run


def _set_lifecycle(acting_user: User | None, run: Run, stage: str, action: str) -> Run:
    run = lock_run(run)
    require_experiment_permission(acting_user, run.experiment, "change")
    require_active(run.experiment)
    if run.lifecycle_stage != stage:
        before = run.lifecycle_stage
        run.lifecycle_stage = stage
        run.save(update_fields=["lifecycle_stage"])
        record_event(
            actor=acting_user, action=action, object_type="run", object_id=run.pk,
            before={"lifecycle_stage": before}, after={"lifecycle_stage": stage},
        )
    return run


@transaction.atomic
def run_delete(*, acting_user: User | None, run: Run) -> Run:
    """Soft delete: hidden from lists, refuses writes, restorable."""
    return _set_lifecycle(acting_user, run, Experiment.Lifecycle.DELETED, "run.delete")


@transaction.atomic
def run_restore(*, acting_user: User | None, run: Run) -> Run:
    """Undo a soft delete."""
    return _set_lifecycle(acting_user, run, Experiment.Lifecycle.ACTIVE, "run.restore")


@transaction.atomic
def run_params_log(*, acting_user: User | None, run: Run, params: Any) -> dict[str, str]:
    """Log params (a list of {key, value} or an object); returns those newly added."""
    pairs = validate_pairs("param", params, MAX_PARAM_VALUE_LENGTH, 1000)
    run = lock_run(run)
    require_writable(acting_user, run)
    added = params_log(run, pairs)
    if added:
        record_event(
            actor=acting_user, action="run.params_log", object_type="run", object_id=run.pk,
            after={"params": added},
        )
    return added


@transaction.atomic
def run_tags_set(*, acting_user: User | None, run: Run, tags: Any) -> dict[str, str]:
    """Set tags (a list of {key, value} or an object); an existing key takes the new value."""
    pairs = validate_pairs("tag", tags, MAX_TAG_VALUE_LENGTH, 1000)
    run = lock_run(run)
    require_writable(acting_user, run)
    before = dict(RunTag.objects.filter(run=run, key__in=list(pairs)).values_list("key", "value"))
    tags_set(run, pairs)
    record_event(
        actor=acting_user, action="run.tags_set", object_type="run", object_id=run.pk,
        before={"tags": before}, after={"tags": pairs},
    )
    return pairs


@transaction.atomic
def run_tag_delete(*, acting_user: User | None, run: Run, key: str) -> None:
    """Remove one tag; a key the run does not have is a 404 `tag_not_found`."""
    run = lock_run(run)
    require_writable(acting_user, run)
    tag = RunTag.objects.filter(run=run, key=key).first()
    if tag is None:
        raise TrackingError(404, "tag_not_found", f"The run has no tag {key!r}.", {"key": key})
    tag.delete()
    record_event(
        actor=acting_user, action="run.tag_delete", object_type="run", object_id=run.pk,
        before={"tags": {key: tag.value}}, after={"tags": {}},
    )


@transaction.atomic
def run_dataset_input_add(
    *,
    acting_user: User | None,
    run: Run,
    dataset_version_id: int,
    context: str = "training",
) -> RunDatasetInput:
    """Record that `run` consumed the dataset version (needs view on its dataset), with the
    lineage edge dataset_version -> run (relation "input"). Adding it twice is a no-op."""
    run = lock_run(run)
    require_writable(acting_user, run)
    dataset_version = (
        DatasetVersion.objects.select_related("dataset").filter(pk=dataset_version_id).first()
    )
    if dataset_version is None or (
        acting_user is not None
        and not permissions.has_object_permission(acting_user, dataset_version.dataset, "view")
    ):
        # A version the user may not see gets the answer of one that does not exist.
        raise TrackingError(
            400, "dataset_version_not_found", "No such dataset version.",
            {"dataset_version": dataset_version_id},
        )
    if not isinstance(context, str) or _CONTEXT_PATTERN.fullmatch(context) is None:
        raise TrackingError(
            400, "invalid_context", "A context is 1 to 50 of a-z, 0-9, '_' or '-'."
        )
    dataset_input, created = RunDatasetInput.objects.get_or_create(
        run=run, dataset_version=dataset_version, context=context
    )
    LineageEdge.objects.get_or_create(
        source_type=LineageEdge.NodeType.DATASET_VERSION,
        source_id=str(dataset_version.pk),
        target_type=LineageEdge.NodeType.RUN,
        target_id=str(run.pk),
        relation="input",
    )
    if created:
        record_event(
            actor=acting_user, action="run.input_add", object_type="run", object_id=run.pk,
            after={"dataset_version": dataset_version.pk, "context": context},
        )
    return dataset_input
