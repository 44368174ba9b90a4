"""Datasets and their versions: register, describe, upload, download, delete.

Each service runs in its own transaction and records its audit event there (STYLE.md).
The creator of a dataset gets view, change, delete and download on it; its versions
inherit them. A version's file goes to the encrypted artifact store; its schema and row
count are inferred from the stored bytes. Files are removed only after the deleting
transaction commits, so a rolled-back delete never leaves a row without its file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from functools import partial
from typing import IO

from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django_tenants.utils import schema_context
from guardian.models import GroupObjectPermission, UserObjectPermission

from mlgov.audit.recorder import record_event, record_event_atomically
from registry import dataset_files
from registry.artifact_store import (
    ArtifactTooLarge,
    artifact_chunks,
    artifact_file_delete,
    artifact_write,
)
from registry.models import Artifact, Dataset, DatasetVersion
from registry.permissions import grant_creator_permissions
from registry.selectors.datasets import dataset_usage, dataset_version_usage

EDITABLE_FIELDS = ("name", "description", "source")
logger = logging.getLogger(__name__)


class DatasetError(Exception):
    """A refusal the API answers with `status` and the stable `code`."""

    status = 400
    code = "dataset_error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class DatasetNameTaken(DatasetError):
    status = 409
    code = "dataset_name_taken"


class DatasetInUse(DatasetError):
    status = 409
    code = "dataset_in_use"


class DatasetVersionInUse(DatasetError):
    status = 409
    code = "dataset_version_in_use"


class DatasetFileTooLarge(DatasetError):
    status = 413
    code = "artifact_too_large"


class InvalidDatasetFile(DatasetError):
    code = "invalid_dataset_file"


class UnknownColumn(DatasetError):
    code = "unknown_column"


def _dataset_snapshot(dataset: Dataset) -> dict:
    return {"name": dataset.name, "description": dataset.description, "source": dataset.source}


def _version_snapshot(version: DatasetVersion) -> dict:
    return {
        "dataset": version.dataset_id,
        "version": version.version,
        "artifact": str(version.artifact_id),
        "sha256": version.artifact.sha256,
        "size_bytes": version.artifact.size_bytes,
        "file_format": version.file_format,
        "row_count": version.row_count,
        "column_count": len(version.columns),
        "target": version.target,
        "sensitive_attributes": version.sensitive_attributes,
        "pii_columns": version.pii_columns,
    }


def _save_name_checked(dataset: Dataset, **kwargs) -> None:
    try:
        with transaction.atomic():  # a savepoint: the unique name is checked by the database
            dataset.save(**kwargs)
    except IntegrityError:
        raise DatasetNameTaken(
            f"A dataset named {dataset.name!r} already exists.", details={"name": dataset.name}
        ) from None


@transaction.atomic
def dataset_create(
    *, acting_user: User, name: str, description: str = "", source: str = ""
) -> Dataset:
    """Register a dataset (no file yet); its creator gets the creator permissions on it."""
    dataset = Dataset(name=name, description=description, source=source, created_by=acting_user)
    _save_name_checked(dataset)
    grant_creator_permissions(dataset, acting_user)
    record_event(
        actor=acting_user,
        action="dataset.create",
        object_type="dataset",
        object_id=dataset.pk,
        after=_dataset_snapshot(dataset),
    )
    return dataset


@transaction.atomic
def dataset_update(*, acting_user: User, dataset: Dataset, **changes: str) -> Dataset:
    """Change a dataset's name, description or source; nothing else is editable here."""
    unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
    if unknown:
        raise DatasetError(f"Not editable: {unknown}.", details={"fields": unknown})
    before = _dataset_snapshot(dataset)
    for field, value in changes.items():
        setattr(dataset, field, value)
    _save_name_checked(dataset, update_fields=[*changes, "updated_at"])
    record_event(
        actor=acting_user,
        action="dataset.update",
        object_type="dataset",
        object_id=dataset.pk,
        before=before,
        after=_dataset_snapshot(dataset),
    )
    return dataset


def _delete_version_rows(versions: list[DatasetVersion]) -> None:
    artifacts = [version.artifact for version in versions]
    DatasetVersion.objects.filter(pk__in=[version.pk for version in versions]).delete()
    Artifact.objects.filter(pk__in=[artifact.pk for artifact in artifacts]).delete()
    # The callbacks may run where the schema was already reset (after a request's
    # response): they carry the schema of the transaction that deleted the rows.
    schema_name: str = connection.schema_name  # type: ignore[attr-defined]
    for artifact in artifacts:
        transaction.on_commit(partial(_remove_file, schema_name, artifact))


def _remove_file(schema_name: str, artifact: Artifact) -> None:
    with schema_context(schema_name):
        artifact_file_delete(artifact)


def _in_use_details(usage: dict) -> dict:
    # Counts only: the caller may not be allowed to see the runs and models themselves.
    return {"runs": len(usage["runs"]), "model_versions": len(usage["model_versions"])}


@transaction.atomic
def dataset_delete(*, acting_user: User, dataset: Dataset) -> None:
    """Delete a dataset with its versions and their files, unless a run or model used one."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    versions = list(
        DatasetVersion.objects.select_for_update(of=("self",))
        .select_related("artifact")
        .filter(dataset=dataset)
    )
    usage = dataset_usage(dataset)
    if usage["runs"] or usage["model_versions"]:
        raise DatasetInUse(
            f"Dataset {dataset.name!r} has versions that runs or model versions used.",
            details=_in_use_details(usage),
        )
    before = {**_dataset_snapshot(dataset), "versions": [v.version for v in versions]}
    dataset_id = dataset.pk
    _delete_version_rows(versions)
    content_type = ContentType.objects.get_for_model(Dataset)
    for grants in (UserObjectPermission, GroupObjectPermission):
        grants.objects.filter(content_type=content_type, object_pk=str(dataset_id)).delete()
    dataset.delete()
    record_event(
        actor=acting_user,
        action="dataset.delete",
        object_type="dataset",
        object_id=dataset_id,
        before=before,
    )


def _check_declared_columns(schema: dataset_files.DatasetSchema, declared: dict) -> None:
    present = set(schema.column_names)
    unknown = {
        field: [name for name in names if name not in present]
        for field, names in declared.items()
        if any(name not in present for name in names)
    }
    if unknown:
        missing = sorted({name for names in unknown.values() for name in names})
        raise UnknownColumn(
            f"Declared columns are not in the file: {missing}.",
            details={"fields": unknown, "columns": schema.column_names},
        )


def _checked_schema(
    artifact: Artifact, file_format: str, declared: dict[str, list[str]]
) -> dataset_files.DatasetSchema:
    try:
        schema = dataset_files.infer_schema(artifact_chunks(artifact), file_format=file_format)
    except dataset_files.InvalidDatasetFile as error:
        raise InvalidDatasetFile(str(error), details={"file_format": file_format}) from None
    _check_declared_columns(schema, declared)
    return schema


def _discard_file(artifact: Artifact) -> None:
    try:
        artifact_file_delete(artifact)
    except Exception:
        # Never mask the refusal being raised; an orphan file is only wasted space.
        logger.exception("Could not remove the file of refused upload %s", artifact.pk)


@transaction.atomic
def dataset_version_create(
    *,
    acting_user: User,
    dataset: Dataset,
    content: IO[bytes] | Iterable[bytes],
    file_format: str,
    max_bytes: int,
    target: str = "",
    sensitive_attributes: list[str] | None = None,
    pii_columns: list[str] | None = None,
    description: str = "",
    source: str = "",
) -> DatasetVersion:
    """Store `content` encrypted as the dataset's next version, with its inferred schema.

    Refused (and nothing kept) past `max_bytes`, for a file that is not valid CSV or
    Parquet, or when a declared column (target, sensitive, PII) is not in the file.
    """
    if file_format not in dataset_files.FORMATS:
        raise InvalidDatasetFile(f"Unknown file format {file_format!r}.")
    sensitive_attributes = list(sensitive_attributes or [])
    pii_columns = list(pii_columns or [])
    try:
        artifact = artifact_write(
            kind=Artifact.Kind.DATASET, source=content, acting_user=acting_user, max_bytes=max_bytes
        )
    except ArtifactTooLarge as error:
        raise DatasetFileTooLarge(str(error), details={"max_bytes": error.limit}) from None
    declared = {
        "target": [target] if target else [],
        "sensitive_attributes": sensitive_attributes,
        "pii_columns": pii_columns,
    }
    try:
        # A savepoint: after a database error the transaction can still be used to clean up.
        with transaction.atomic():
            schema = _checked_schema(artifact, file_format, declared)
            # The lock is taken only now, after the long upload: concurrent uploads to one
            # dataset stream in parallel and serialise just for numbering.
            locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
            latest = locked.versions.aggregate(latest=Max("version"))["latest"] or 0
            version = DatasetVersion.objects.create(
                dataset=locked,
                version=latest + 1,
                artifact=artifact,
                file_format=file_format,
                columns=schema.columns,
                row_count=schema.row_count,
                target=target,
                sensitive_attributes=sensitive_attributes,
                pii_columns=pii_columns,
                description=description,
                source=source,
                created_by=acting_user,
            )
            locked.save(update_fields=["updated_at"])
            record_event(
                actor=acting_user,
                action="dataset_version.create",
                object_type="dataset_version",
                object_id=version.pk,
                after=_version_snapshot(version),
            )
    except BaseException:
        # The row rolls back with the transaction; the file must go too.
        _discard_file(artifact)
        raise
    return version


@transaction.atomic
def dataset_version_delete(*, acting_user: User, version: DatasetVersion) -> None:
    """Delete a version and its file, unless a run (or a model version from one) used it."""
    version = (
        DatasetVersion.objects.select_for_update(of=("self",))
        .select_related("artifact")
        .get(pk=version.pk)
    )
    usage = dataset_version_usage(version)
    if usage["runs"] or usage["model_versions"]:
        raise DatasetVersionInUse(
            f"Version {version.version} was used by runs or model versions.",
            details=_in_use_details(usage),
        )
    before = _version_snapshot(version)
    version_id = version.pk
    _delete_version_rows([version])
    record_event(
        actor=acting_user,
        action="dataset_version.delete",
        object_type="dataset_version",
        object_id=version_id,
        before=before,
    )


def dataset_version_download(*, acting_user: User, version: DatasetVersion) -> Iterator[bytes]:
    """Audit the download (its own event, committed before any byte leaves) and return the
    plaintext chunks, each authenticated before it is yielded."""
    record_event_atomically(
        actor=acting_user,
        action="dataset.download",
        object_type="dataset_version",
        object_id=version.pk,
        after={
            "dataset": version.dataset_id,
            "version": version.version,
            "sha256": version.artifact.sha256,
            "size_bytes": version.artifact.size_bytes,
        },
    )
    return artifact_chunks(version.artifact)
