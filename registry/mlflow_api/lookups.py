"""Reads by MLflow's identifiers, restricted to what the acting user may see.

The same rules as the registry's selectors (registry/selectors/): an experiment, run,
model or version the user may not see is RESOURCE_DOES_NOT_EXIST, exactly like one that
does not exist, so its existence is never revealed.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from registry import permissions
from registry.mlflow_api import ids
from registry.mlflow_api.errors import denied, not_found
from registry.models import Experiment, ModelVersion, RegisteredModel, Run
from registry.selectors import models as model_selectors
from registry.services import experiments as experiment_services


def experiment_get(*, acting_user: User, experiment_id, create_default: bool = False
                   ) -> Experiment:
    """A visible experiment (deleted ones too). "0" is the experiment named "Default",
    created on first use by a writer who may create experiments (MLflow always has one)."""
    pk = ids.experiment_pk(experiment_id)
    if pk is None:
        experiment = Experiment.objects.filter(name=ids.DEFAULT_EXPERIMENT_NAME).first()
        if experiment is None and create_default:
            experiment = _default_experiment_create(acting_user)
    else:
        experiment = Experiment.objects.filter(pk=pk).first()
    if experiment is None or not permissions.has_object_permission(
        acting_user, experiment, "view"
    ):
        raise not_found(f"No experiment with id {experiment_id!r}.")
    return experiment


def _default_experiment_create(acting_user: User) -> Experiment:
    if not acting_user.has_perm("registry.add_experiment"):
        raise denied("You may not create experiments (the default experiment does not exist).")
    try:
        with transaction.atomic():
            return experiment_services.experiment_create(
                acting_user=acting_user, name=ids.DEFAULT_EXPERIMENT_NAME
            )
    except experiment_services.TrackingError:  # created meanwhile by someone else
        return Experiment.objects.get(name=ids.DEFAULT_EXPERIMENT_NAME)


def experiment_by_name(*, acting_user: User, name: str) -> Experiment:
    experiment = Experiment.objects.filter(name=name).first()
    if experiment is None or not permissions.has_object_permission(
        acting_user, experiment, "view"
    ):
        raise not_found(f"Could not find experiment with name '{name}'.")
    return experiment


def run_get(*, acting_user: User, run_id, queryset=None) -> Run:
    """A visible run with its experiment (one row, or `queryset`'s with what it prefetches;
    the permission check is on the experiment: role permissions or its object grants)."""
    rows = queryset if queryset is not None else Run.objects.all()
    run = rows.select_related("experiment").filter(uuid=ids.run_uuid(run_id)).first()
    if run is None or not permissions.has_object_permission(acting_user, run.experiment, "view"):
        raise not_found(f"Run '{run_id}' not found.")
    return run


def model_get(*, acting_user: User, name: str) -> RegisteredModel:
    model = (
        model_selectors.visible_models(acting_user=acting_user)
        .filter(name=name)
        .select_related("created_by")
        .first()
    )
    if model is None:
        raise not_found(f"Registered Model with name={name} not found")
    return model


def version_get(*, acting_user: User, name: str, version) -> ModelVersion:
    model = model_get(acting_user=acting_user, name=name)
    number = str(version or "").strip()
    if not number.isdigit() or len(number) > 9:
        raise not_found(f"Model Version (name={name}, version={version}) not found")
    found = (
        ModelVersion.objects.select_related("registered_model", "run", "created_by")
        .filter(registered_model=model, version=int(number))
        .first()
    )
    if found is None:
        raise not_found(f"Model Version (name={name}, version={version}) not found")
    return found


def version_by_pk(*, acting_user: User, pk: int) -> ModelVersion:
    version = (
        ModelVersion.objects.select_related("registered_model", "run", "artifact")
        .filter(pk=pk, registered_model__in=model_selectors.visible_models(acting_user=acting_user))
        .first()
    )
    if version is None:
        raise not_found("No such model version.")
    return version


def require_model_permission(user: User, model: RegisteredModel, action: str) -> None:
    """PERMISSION_DENIED unless the user holds `action` on the (visible) model."""
    if not permissions.has_object_permission(user, model, action):
        raise denied(f"You may see this model but not {action} it.")


def require_role_permission(user: User, permission: str, what: str) -> None:
    if not user.has_perm(permission):
        raise denied(f"Your role does not allow you to {what}.")
