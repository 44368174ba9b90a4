"""The few writes MLflow has that the registry's services do not offer yet: tags of a model
version, and the audited read of a registered version's supporting files (its MLmodel,
environment files, input example) for the client that loads `models:/<name>/<version>`.

Each follows the house rules (STYLE.md): keyword-only, `acting_user`, its own transaction,
its audit event inside it. The caller has checked the user's permission on the model.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from mlgov.audit.recorder import record_event, record_event_atomically
from registry.models import ModelVersion, ModelVersionTag, RunArtifact

MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5_000
MAX_TAGS = 100


class VersionTagError(Exception):
    status = 400
    code = "invalid_tag"

    def __init__(self, message: str, status: int = 400, code: str = "invalid_tag"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


@transaction.atomic
def model_version_tag_set(*, acting_user: User, version: ModelVersion, key: str, value: str
                          ) -> ModelVersionTag:
    """Set one tag of a version (an existing key takes the new value)."""
    if not key or len(key) > MAX_TAG_KEY_LENGTH or any(ord(ch) < 32 for ch in key):
        raise VersionTagError(f"Tag keys are 1 to {MAX_TAG_KEY_LENGTH} printable characters.")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise VersionTagError(f"Tag values are at most {MAX_TAG_VALUE_LENGTH} characters.")
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    before = ModelVersionTag.objects.filter(model_version=version, key=key).first()
    if before is None and ModelVersionTag.objects.filter(model_version=version).count() >= MAX_TAGS:
        raise VersionTagError(f"A model version holds at most {MAX_TAGS} tags.")
    tag, _ = ModelVersionTag.objects.update_or_create(
        model_version=version, key=key, defaults={"value": value}
    )
    record_event(
        actor=acting_user,
        action="model_version.tags_set",
        object_type="modelversion",
        object_id=version.pk,
        before={"tags": {key: before.value} if before else {}},
        after={"tags": {key: value}},
    )
    return tag


@transaction.atomic
def model_version_tag_delete(*, acting_user: User, version: ModelVersion, key: str) -> None:
    """Remove one tag of a version; a key it does not have is a 404."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    tag = ModelVersionTag.objects.filter(model_version=version, key=key).first()
    if tag is None:
        raise VersionTagError(f"The version has no tag {key!r}.", 404, "tag_not_found")
    tag.delete()
    record_event(
        actor=acting_user,
        action="model_version.tag_delete",
        object_type="modelversion",
        object_id=version.pk,
        before={"tags": {key: tag.value}},
        after={"tags": {}},
    )


def model_version_file_download(*, acting_user: User, version: ModelVersion, entry: RunArtifact
                                ) -> RunArtifact:
    """Audit the download of one file of a version's MLflow folder before a byte leaves
    (the model file itself goes through registry.services.versions.model_version_download)."""
    record_event_atomically(
        actor=acting_user,
        action="model_version.file_download",
        object_type="modelversion",
        object_id=version.pk,
        after={"path": entry.path, "sha256": entry.artifact.sha256},
    )
    return entry
