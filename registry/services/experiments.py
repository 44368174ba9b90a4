"""Experiments: create, rename and describe, tag, soft-delete and restore.

An experiment is the guarded object of tracking: its runs, their params, metrics, tags,
inputs and files inherit its object permissions (view, change, delete, download). The
creator gets all four. Deleting is soft (`lifecycle_stage = deleted`, like MLflow): the
name stays taken and the experiment can be restored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from mlgov.audit.recorder import record_event
from registry import permissions
from registry.models import Experiment

MAX_NAME_LENGTH = 500
MAX_TAGS = 100
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 8000


class TrackingError(Exception):
    """A refusal of experiment tracking the API answers with `status` and the stable `code`."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}


def require_experiment_permission(user: User | None, experiment: Experiment, action: str) -> None:
    """404 if `user` may not see `experiment`, 403 if they see it but may not `action` it.

    Services check this themselves so that every way in (REST, the MLflow API, tasks)
    is governed alike; views have already answered 404 for what the user cannot see.
    `user=None` is the system itself (a task acting on a job's behalf) and passes.
    """
    if user is None:
        return
    if not permissions.has_object_permission(user, experiment, "view"):
        raise TrackingError(404, "not_found", "Not found.")
    if action != "view" and not permissions.has_object_permission(user, experiment, action):
        raise TrackingError(
            403,
            "permission_denied",
            f"You may see this experiment but not {action} it.",
            {"needs": action},
        )


def require_active(experiment: Experiment) -> None:
    if experiment.lifecycle_stage == Experiment.Lifecycle.DELETED:
        raise TrackingError(
            409, "experiment_deleted", "The experiment is deleted; restore it first."
        )


def validate_tag_dict(tags: Any) -> dict[str, str]:
    """Experiment tags: a flat object of string keys to string values, bounded in size."""
    if not isinstance(tags, dict):
        raise TrackingError(400, "invalid_tag", "Tags must be an object of strings.")
    if len(tags) > MAX_TAGS:
        raise TrackingError(400, "too_many_tags", f"An experiment holds at most {MAX_TAGS} tags.")
    for key, value in tags.items():
        if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY_LENGTH:
            raise TrackingError(
                400, "invalid_tag", f"Tag keys are 1 to {MAX_TAG_KEY_LENGTH} characters.",
                {"key": str(key)[:MAX_TAG_KEY_LENGTH]},
            )
        if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
            raise TrackingError(
                400, "invalid_tag",
                f"Tag values are strings of at most {MAX_TAG_VALUE_LENGTH} characters.",
                {"key": key},
            )
    return dict(tags)


def _name_taken(name: str) -> TrackingError:
    return TrackingError(
        409, "name_taken", f"An experiment named {name!r} exists (deleted ones keep their name).",
        {"name": name},
    )


def _snapshot(experiment: Experiment) -> dict:
    return {
        "name": experiment.name,
        "description": experiment.description,
        "tags": experiment.tags,
        "lifecycle_stage": experiment.lifecycle_stage,
    }


def _save_unique(experiment: Experiment, **kwargs: Any) -> None:
    # A savepoint, so a name taken by a concurrent request is a clean 409, not a 500.
    try:
        with transaction.atomic():
            experiment.save(**kwargs)
    except IntegrityError:
        raise _name_taken(experiment.name) from None


@transaction.atomic
def experiment_create(
    *,
    acting_user: User,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> Experiment:
    """Create an experiment; its creator gets view, change, delete and download on it."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TrackingError(400, "invalid_name", f"Names are 1 to {MAX_NAME_LENGTH} characters.")
    if Experiment.objects.filter(name=name).exists():
        raise _name_taken(name)
    experiment = Experiment(
        name=name,
        description=description,
        tags=validate_tag_dict(tags or {}),
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )
    _save_unique(experiment)
    permissions.grant_creator_permissions(experiment, acting_user)
    record_event(
        actor=acting_user,
        action="experiment.create",
        object_type="experiment",
        object_id=experiment.pk,
        after=_snapshot(experiment),
    )
    return experiment


@transaction.atomic
def experiment_update(
    *,
    acting_user: User,
    experiment: Experiment,
    name: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> Experiment:
    """Rename, describe or retag (the whole tag object is replaced) an active experiment."""
    require_experiment_permission(acting_user, experiment, "change")
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    require_active(experiment)
    before = _snapshot(experiment)
    if name is not None:
        name = name.strip()
        if not name or len(name) > MAX_NAME_LENGTH:
            raise TrackingError(
                400, "invalid_name", f"Names are 1 to {MAX_NAME_LENGTH} characters."
            )
        if name != experiment.name and Experiment.objects.filter(name=name).exists():
            raise _name_taken(name)
        experiment.name = name
    if description is not None:
        experiment.description = description
    if tags is not None:
        experiment.tags = validate_tag_dict(tags)
    after = _snapshot(experiment)
    if after != before:
        _save_unique(experiment)
        record_event(
            actor=acting_user,
            action="experiment.update",
            object_type="experiment",
            object_id=experiment.pk,
            before=before,
            after=after,
        )
    return experiment


def _set_lifecycle(acting_user: User, experiment: Experiment, stage: str, action: str):
    require_experiment_permission(acting_user, experiment, "delete")
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    if experiment.lifecycle_stage == stage:
        return experiment  # deleting twice or restoring an active one changes nothing
    before = experiment.lifecycle_stage
    experiment.lifecycle_stage = stage
    experiment.save(update_fields=["lifecycle_stage", "updated_at"])
    record_event(
        actor=acting_user,
        action=action,
        object_type="experiment",
        object_id=experiment.pk,
        before={"lifecycle_stage": before},
        after={"lifecycle_stage": stage},
    )
    return experiment


@transaction.atomic
def experiment_delete(*, acting_user: User, experiment: Experiment) -> Experiment:
    """Soft delete: hidden from lists, its runs refuse writes, the name stays reserved."""
    return _set_lifecycle(
        acting_user, experiment, Experiment.Lifecycle.DELETED, "experiment.delete"
    )


@transaction.atomic
def experiment_restore(*, acting_user: User, experiment: Experiment) -> Experiment:
    """Undo a soft delete."""
    return _set_lifecycle(
        acting_user, experiment, Experiment.Lifecycle.ACTIVE, "experiment.restore"
    )
