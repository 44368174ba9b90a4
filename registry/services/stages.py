"""Stages and aliases of model versions: the ONE way either of them changes.

Every stage change (none, staging, production, archived) and every alias change (set,
move, remove) passes through `model_version_transition`, which records a StageTransition
(who, when, why, from, to) and an audit event in one transaction. Moving a version to
production archives the model's previous production version, recorded the same way.

Gate hook (for governance): `settings.MLGOV_TRANSITION_GATES` is a list of dotted paths to
callables `gate(request: TransitionRequest) -> None`. Each is called, in order, inside the
transaction after the model's row is locked and before anything is written; a gate refuses
by raising TransitionRefused (with the failing checks in `details`). The list is empty
today; the governance issue adds its policy check here, so the API, the console, the
MLflow endpoints and jobs are all gated alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils.module_loading import import_string

from mlgov.audit.recorder import record_event
from registry.models import ModelAlias, ModelVersion, RegisteredModel, StageTransition
from registry.services.models import RegistryError

GATES_SETTING = "MLGOV_TRANSITION_GATES"
ALIAS_PATTERN = re.compile(r"[a-z0-9_-]{1,100}")
RESERVED_ALIASES = frozenset({"latest"})
# Versions in these stages may be served or loaded: only verified, ready versions go there.
SERVING_STAGES = frozenset({ModelVersion.Stage.STAGING, ModelVersion.Stage.PRODUCTION})


class TransitionRefused(RegistryError):
    """A gate (or a rule below) refused the transition; `details` says why."""

    status = 409
    code = "transition_refused"


class InvalidTransition(RegistryError):
    code = "invalid_transition"


class InvalidAlias(RegistryError):
    code = "invalid_alias"


class ReservedAlias(RegistryError):
    code = "alias_reserved"


class VersionNotVerified(RegistryError):
    status = 409
    code = "version_not_verified"


@dataclass(frozen=True)
class TransitionRequest:
    """What a gate is asked to allow: `kind`, `from_value` and `to_value` are those of the
    StageTransition that will be recorded (see model_version_transition)."""

    acting_user: User | None
    version: ModelVersion
    kind: str
    from_value: str
    to_value: str
    reason: str
    alias: str = ""


def transition_gates() -> list[Callable[[TransitionRequest], None]]:
    """The configured gates, imported by dotted path (empty unless settings name some)."""
    return [import_string(path) for path in getattr(settings, GATES_SETTING)]


def alias_name_check(alias: str) -> str:
    """Return the alias if it is a valid, unreserved name; else raise."""
    if not isinstance(alias, str) or not ALIAS_PATTERN.fullmatch(alias):
        raise InvalidAlias("Alias names are 1 to 100 characters of a-z, 0-9, '_' and '-'.")
    if alias in RESERVED_ALIASES:
        raise ReservedAlias(f"The alias {alias!r} is reserved.")
    return alias


_AUDIT_ACTIONS: dict[str, str] = {
    StageTransition.Kind.STAGE: "model_version.stage",
    StageTransition.Kind.ALIAS_SET: "model_version.alias_set",
    StageTransition.Kind.ALIAS_REMOVED: "model_version.alias_removed",
}


def _record(
    *,
    acting_user: User | None,
    version: ModelVersion,
    kind: str,
    from_value: str,
    to_value: str,
    reason: str,
    alias: str = "",
) -> StageTransition:
    transition = StageTransition.objects.create(
        model_version=version,
        kind=kind,
        from_value=from_value,
        to_value=to_value,
        reason=reason,
        actor=acting_user if getattr(acting_user, "pk", None) else None,
    )
    action = _AUDIT_ACTIONS[kind]
    subject: dict[str, object] = {
        "model": version.registered_model_id,
        "version": version.version,
    }
    if alias:
        subject["alias"] = alias
    record_event(
        actor=acting_user,
        action=action,
        object_type="modelversion",
        object_id=version.pk,
        before={**subject, "value": from_value},
        after={**subject, "value": to_value, "reason": reason},
    )
    return transition


def _run_gates(request: TransitionRequest) -> None:
    for gate in transition_gates():
        gate(request)


def _stage_change(
    *, acting_user: User | None, version: ModelVersion, stage: str, reason: str
) -> list[StageTransition]:
    if stage not in ModelVersion.Stage.values:
        raise InvalidTransition(f"stage must be one of {ModelVersion.Stage.values}.")
    if stage == version.stage:
        raise InvalidTransition(f"Version {version.version} is already in stage {stage!r}.")
    if stage in SERVING_STAGES and not (
        version.verified and version.status == ModelVersion.Status.READY
    ):
        raise VersionNotVerified(
            f"Version {version.version} is not verified and can never be loaded; "
            f"it cannot move to {stage!r}."
        )
    _run_gates(
        TransitionRequest(
            acting_user, version, StageTransition.Kind.STAGE, version.stage, stage, reason
        )
    )
    recorded = []
    if stage == ModelVersion.Stage.PRODUCTION:
        # One production version per model: the previous one is archived, and recorded.
        previous = ModelVersion.objects.filter(
            registered_model_id=version.registered_model_id, stage=ModelVersion.Stage.PRODUCTION
        ).exclude(pk=version.pk)
        for old in previous:
            old.stage = ModelVersion.Stage.ARCHIVED
            old.save(update_fields=["stage", "updated_at"])
            recorded.append(
                _record(
                    acting_user=acting_user,
                    version=old,
                    kind=StageTransition.Kind.STAGE,
                    from_value=ModelVersion.Stage.PRODUCTION,
                    to_value=ModelVersion.Stage.ARCHIVED,
                    reason=f"Superseded by version {version.version}: {reason}",
                )
            )
    from_stage = version.stage
    version.stage = stage
    version.save(update_fields=["stage", "updated_at"])
    recorded.insert(
        0,
        _record(
            acting_user=acting_user,
            version=version,
            kind=StageTransition.Kind.STAGE,
            from_value=from_stage,
            to_value=stage,
            reason=reason,
        ),
    )
    return recorded


def _alias_change(
    *, acting_user: User | None, version: ModelVersion, alias: str, remove: bool, reason: str
) -> list[StageTransition]:
    alias = alias_name_check(alias)
    current = (
        ModelAlias.objects.select_related("model_version")
        .filter(registered_model_id=version.registered_model_id, alias=alias)
        .first()
    )
    held_by = str(current.model_version.version) if current else ""
    if remove:
        if current is None or current.model_version_id != version.pk:
            raise InvalidTransition(f"Version {version.version} does not hold alias {alias!r}.")
        kind, from_value, to_value = StageTransition.Kind.ALIAS_REMOVED, alias, ""
    else:
        if current is not None and current.model_version_id == version.pk:
            return []  # already there: PUT is idempotent, nothing to record
        kind, from_value, to_value = StageTransition.Kind.ALIAS_SET, held_by, alias
    _run_gates(TransitionRequest(acting_user, version, kind, from_value, to_value, reason, alias))
    if current is None:
        ModelAlias.objects.create(
            registered_model_id=version.registered_model_id, alias=alias, model_version=version
        )
    elif remove:
        current.delete()
    else:
        current.model_version = version
        current.save(update_fields=["model_version", "updated_at"])
    return [
        _record(
            acting_user=acting_user,
            version=version,
            kind=kind,
            from_value=from_value,
            to_value=to_value,
            reason=reason,
            alias=alias,
        )
    ]


@transaction.atomic
def model_version_transition(
    *,
    acting_user: User | None,
    version: ModelVersion,
    stage: str | None = None,
    alias: str | None = None,
    remove_alias: bool = False,
    reason: str = "",
) -> list[StageTransition]:
    """Move `version` to `stage`, or point `alias` at it (or remove it with `remove_alias`).

    Exactly one of `stage` and `alias`. Returns the transitions recorded, the requested one
    first (an alias already on the version records nothing). Callers check the acting
    user's permission on the model; gates (see the module docstring) decide the rest.
    Recorded values: a stage change goes from the old stage to the new one; `alias_set`
    goes from the version number that held the alias before ("" for none) to the alias
    name; `alias_removed` goes from the alias name to "". The row's version is the one the
    alias now names (or no longer names).
    """
    if (stage is None) == (alias is None):
        raise InvalidTransition("Give either a stage or an alias.")
    # Lock the model, then re-read the version: transitions of one model are serialised, so
    # two concurrent promotions cannot leave two production versions.
    RegisteredModel.objects.select_for_update().get(pk=version.registered_model_id)
    version = ModelVersion.objects.select_related("registered_model").get(pk=version.pk)
    if stage is not None:
        return _stage_change(acting_user=acting_user, version=version, stage=stage, reason=reason)
    return _alias_change(
        acting_user=acting_user,
        version=version,
        alias=alias or "",
        remove=remove_alias,
        reason=reason,
    )
