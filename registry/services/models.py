"""Registered models: create, rename and describe, tag, delete (only while empty).

Each service runs in its own transaction and records its audit event there (STYLE.md).
The creator of a model gets view, change, delete and download on it (object permissions);
its versions inherit them.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from guardian.models import GroupObjectPermission, UserObjectPermission

from mlgov.audit.recorder import record_event
from registry.models import RegisteredModel, RegisteredModelTag
from registry.permissions import grant_creator_permissions

MAX_TAGS = 100


class RegistryError(Exception):
    """A refusal the API answers with `status` and the stable `code`."""

    status = 400
    code = "registry_error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ModelNameTaken(RegistryError):
    status = 409
    code = "name_taken"


class ModelHasVersions(RegistryError):
    status = 409
    code = "model_has_versions"


class TooManyTags(RegistryError):
    code = "too_many_tags"


def _snapshot(model: RegisteredModel) -> dict:
    tags = {tag.key: tag.value for tag in RegisteredModelTag.objects.filter(registered_model=model)}
    return {"name": model.name, "description": model.description, "tags": tags}


def _apply_tags(model: RegisteredModel, tags: dict[str, str | None]) -> None:
    """Merge `tags` into the model's tags; a None value removes that key."""
    removed = [key for key, value in tags.items() if value is None]
    kept = {key: value for key, value in tags.items() if value is not None}
    if removed:
        RegisteredModelTag.objects.filter(registered_model=model, key__in=removed).delete()
    for key, value in kept.items():
        RegisteredModelTag.objects.update_or_create(
            registered_model=model, key=key, defaults={"value": value}
        )
    if RegisteredModelTag.objects.filter(registered_model=model).count() > MAX_TAGS:
        raise TooManyTags(f"A model holds at most {MAX_TAGS} tags.")


@transaction.atomic
def registered_model_create(
    *,
    acting_user: User,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> RegisteredModel:
    """Create a registered model; its creator gets the creator permissions on it."""
    try:
        with transaction.atomic():  # a savepoint: the unique name is checked by the database
            model = RegisteredModel.objects.create(
                name=name, description=description, created_by=acting_user
            )
    except IntegrityError:
        raise ModelNameTaken(f"A registered model named {name!r} already exists.") from None
    if tags:
        _apply_tags(model, dict(tags))
    grant_creator_permissions(model, acting_user)
    record_event(
        actor=acting_user,
        action="registered_model.create",
        object_type="registeredmodel",
        object_id=model.pk,
        after=_snapshot(model),
    )
    return model


@transaction.atomic
def registered_model_update(
    *,
    acting_user: User,
    model: RegisteredModel,
    name: str | None = None,
    description: str | None = None,
    tags: dict[str, str | None] | None = None,
) -> RegisteredModel:
    """Rename, describe or retag a model. Tags merge: a null value removes the key.

    A rename keeps every version's signature valid: signatures bind the model's id, and
    the name they carry is the name at registration.
    """
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    before = _snapshot(model)
    if name is not None and name != model.name:
        if RegisteredModel.objects.filter(name=name).exclude(pk=model.pk).exists():
            raise ModelNameTaken(f"A registered model named {name!r} already exists.")
        model.name = name
    if description is not None:
        model.description = description
    try:
        with transaction.atomic():
            model.save(update_fields=["name", "description", "updated_at"])
    except IntegrityError:  # a concurrent rename took the name first
        raise ModelNameTaken(f"A registered model named {name!r} already exists.") from None
    if tags:
        _apply_tags(model, tags)
    after = _snapshot(model)
    record_event(
        actor=acting_user,
        action="registered_model.update",
        object_type="registeredmodel",
        object_id=model.pk,
        before=before,
        after=after,
    )
    return model


@transaction.atomic
def registered_model_delete(*, acting_user: User, model: RegisteredModel) -> None:
    """Delete a model that has no versions (versions are evidence and are never cascaded)."""
    model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    count = model.versions.count()
    if count:
        raise ModelHasVersions(
            f"The model has {count} version(s); it can be deleted only without versions.",
            details={"versions": count},
        )
    before = _snapshot(model)
    pk = model.pk
    # guardian's grants point at the object by a generic key, which does not cascade.
    content_type = ContentType.objects.get_for_model(RegisteredModel)
    UserObjectPermission.objects.filter(content_type=content_type, object_pk=str(pk)).delete()
    GroupObjectPermission.objects.filter(content_type=content_type, object_pk=str(pk)).delete()
    model.delete()
    record_event(
        actor=acting_user,
        action="registered_model.delete",
        object_type="registeredmodel",
        object_id=pk,
        before=before,
    )
