"""Model versions: registration (from a run's file or an upload), description, model card.

Registration inspects the model file statically on a decrypted private copy (never loading
it), signs the versions that pass, keeps the others as unverified (they can never be loaded
by mlgov), numbers versions per model under a row lock, and links the producing run in the
lineage graph. A redelivered job passing the same idempotency key gets its version back.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Max

from mlgov.audit.recorder import record_event, record_event_atomically
from registry.artifact_paths import UnsafeArtifactPath, normalize_artifact_path
from registry.artifact_store import (
    ArtifactCorrupted,
    ArtifactTooLarge,
    artifact_chunks,
    artifact_file_delete,
    artifact_to_file,
    artifact_write,
)
from registry.models import (
    Artifact,
    ModelCard,
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    Run,
    RunArtifact,
)
from registry.services.lineage import lineage_edge_add
from registry.services.models import RegistryError
from registry.services.signing import model_version_sign

# The formats a client may register; cloudpickle and MLflow directories are not accepted.
REGISTRABLE_FORMATS = ("skops", "pickle", "joblib", "onnx")
_SUFFIX_FORMATS = {
    ".skops": "skops",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "joblib",
    ".onnx": "onnx",
}
_FLAVORS = {"skops": "sklearn", "pickle": "sklearn", "joblib": "sklearn", "onnx": "onnx"}


def max_model_bytes() -> int:
    """Upload limit for model files (settings.MLGOV_MODEL_MAX_BYTES, 2 GiB by default)."""
    return int(settings.MLGOV_MODEL_MAX_BYTES)


class ModelFormatUnknown(RegistryError):
    code = "model_format_required"


class RunArtifactNotFound(RegistryError):
    code = "run_artifact_not_found"


class UnsafePath(RegistryError):
    code = "unsafe_artifact_path"


class IdempotencyKeyReused(RegistryError):
    status = 409
    code = "idempotency_key_reused"


class ModelFileTooLarge(RegistryError):
    status = 413
    code = "artifact_too_large"


class ModelFileCorrupted(RegistryError):
    status = 409
    code = "artifact_corrupted"


class InvalidMetrics(RegistryError):
    code = "invalid_metrics"


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    created: bool


@dataclass(frozen=True)
class Inspection:
    verified: bool
    detail: str


def model_format_for(model_format: str | None, file_name: str) -> str:
    """The declared format, or the one the file name's suffix implies."""
    if model_format:
        if model_format not in REGISTRABLE_FORMATS:
            raise ModelFormatUnknown(
                f"model_format must be one of {list(REGISTRABLE_FORMATS)}; got {model_format!r}."
            )
        return model_format
    inferred = _SUFFIX_FORMATS.get(PurePosixPath(file_name).suffix.lower())
    if inferred is None:
        raise ModelFormatUnknown(
            f"Give model_format ({', '.join(REGISTRABLE_FORMATS)}): "
            f"it cannot be told from the name {file_name!r}."
        )
    return inferred


def _check_metrics(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidMetrics(f"Metric {key!r} must be a number.")
        if not math.isfinite(value):
            raise InvalidMetrics(f"Metric {key!r} must be finite.")


def inspect_artifact(artifact: Artifact, model_format: str) -> Inspection:
    """Static inspection of the model file, on a decrypted copy in a private temporary folder
    that is removed afterwards. Nothing is unpickled here."""
    from registry.model_files import inspect_model_file

    with tempfile.TemporaryDirectory(prefix="mlgov-inspect-") as folder:  # mode 0700
        try:
            path = artifact_to_file(artifact, Path(folder))
        except ArtifactCorrupted as error:
            raise ModelFileCorrupted(str(error)) from None
        result = inspect_model_file(path, model_format)
    reasons = [str(reason) for reason in (getattr(result, "reasons", None) or [])]
    return Inspection(verified=bool(result.verified), detail="\n".join(reasons))


def _next_version_number(model: RegisteredModel) -> int:
    last = ModelVersion.objects.filter(registered_model=model).aggregate(last=Max("version"))
    return (last["last"] or 0) + 1


@dataclass(frozen=True)
class _Spec:
    model_format: str
    signature: dict
    metrics: dict
    description: str
    tags: dict
    flavor: str
    idempotency_key: str | None


def _create_version(
    model: RegisteredModel,
    run: Run | None,
    artifact: Artifact,
    inspection: Inspection,
    spec: _Spec,
    acting_user: User | None,
) -> ModelVersion:
    return ModelVersion.objects.create(
        registered_model=model,
        version=_next_version_number(model),
        run=run,
        artifact=artifact,
        model_format=spec.model_format,
        flavor=spec.flavor or _FLAVORS[spec.model_format],
        verified=inspection.verified,
        verification_detail=inspection.detail,
        signature=spec.signature,
        metrics=spec.metrics,
        status=ModelVersion.Status.READY,
        description=spec.description,
        sha256=artifact.sha256,
        idempotency_key=spec.idempotency_key or None,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )


def _register(
    *,
    acting_user: User | None,
    model: RegisteredModel,
    spec: _Spec,
    run: Run | None,
    obtain_artifact: Callable[[], Artifact],
    source: str,
) -> Registration:
    _check_metrics(spec.metrics)
    # The model row lock serialises registrations of one model: numbers never collide, and
    # a redelivered job sees the version its first delivery made.
    locked = RegisteredModel.objects.select_for_update().get(pk=model.pk)
    if spec.idempotency_key:
        existing = (
            ModelVersion.objects.select_related("registered_model")
            .filter(idempotency_key=spec.idempotency_key)
            .first()
        )
        if existing is not None:
            if existing.registered_model_id != locked.pk:
                raise IdempotencyKeyReused(
                    "This idempotency key already registered a version of another model."
                )
            return Registration(version=existing, created=False)
    artifact = obtain_artifact()
    inspection = inspect_artifact(artifact, spec.model_format)
    try:
        with transaction.atomic():  # savepoint: the idempotency key is unique tenant-wide
            version = _create_version(locked, run, artifact, inspection, spec, acting_user)
    except IntegrityError:
        if not spec.idempotency_key:
            raise
        raise IdempotencyKeyReused(
            "This idempotency key was just used to register a version of another model."
        ) from None
    if spec.tags:
        ModelVersionTag.objects.bulk_create(
            ModelVersionTag(model_version=version, key=key, value=value)
            for key, value in spec.tags.items()
        )
    if version.verified:
        model_version_sign(version)
    if run is not None:
        lineage_edge_add(
            source=("run", run.pk), target=("model_version", version.pk), relation="produced"
        )
    locked.save(update_fields=["updated_at"])
    record_event(
        actor=acting_user,
        action="model_version.create",
        object_type="modelversion",
        object_id=version.pk,
        after={
            "model": locked.name,
            "version": version.version,
            "source": source,
            "run": run.pk if run else None,
            "sha256": version.sha256,
            "model_format": version.model_format,
            "verified": version.verified,
            "verification_detail": version.verification_detail,
            "signing_key_version": version.signing_key_version,
        },
    )
    return Registration(version=version, created=True)


def _spec(model_format: str, **fields) -> _Spec:
    return _Spec(
        model_format=model_format,
        signature=dict(fields.get("signature") or {}),
        metrics=dict(fields.get("metrics") or {}),
        description=fields.get("description") or "",
        tags=dict(fields.get("tags") or {}),
        flavor=fields.get("flavor") or "",
        idempotency_key=fields.get("idempotency_key") or None,
    )


@transaction.atomic
def model_version_register_from_run(
    *,
    acting_user: User | None,
    model: RegisteredModel,
    run: Run,
    artifact_path: str,
    model_format: str | None = None,
    **fields,
) -> Registration:
    """Register the model file a run logged at `artifact_path` as the model's next version.

    The version references the run's stored artifact (no bytes are copied and no client
    path reaches storage). `fields`: signature, metrics, description, tags, flavor,
    idempotency_key. The caller checks the user may read the run's files.
    """
    try:
        path = normalize_artifact_path(artifact_path)
    except UnsafeArtifactPath as error:
        raise UnsafePath(str(error)) from None
    run_artifact = RunArtifact.objects.select_related("artifact").filter(run=run, path=path).first()
    if run_artifact is None:
        raise RunArtifactNotFound(f"Run {run.pk} logged no file at {path!r}.")
    spec = _spec(model_format_for(model_format, path), **fields)
    return _register(
        acting_user=acting_user,
        model=model,
        spec=spec,
        run=run,
        obtain_artifact=lambda: run_artifact.artifact,
        source=f"run:{run.pk}:{path}",
    )


def model_version_register_upload(
    *,
    acting_user: User | None,
    model: RegisteredModel,
    source: IO[bytes] | Iterable[bytes],
    file_name: str = "",
    model_format: str | None = None,
    **fields,
) -> Registration:
    """Register an uploaded model file as the model's next version, streamed encrypted into
    the artifact store. `fields` as for model_version_register_from_run."""
    spec = _spec(model_format_for(model_format, file_name), **fields)
    written: list[Artifact] = []

    def write() -> Artifact:
        try:
            artifact = artifact_write(
                kind=Artifact.Kind.MODEL,
                source=source,
                acting_user=acting_user,
                max_bytes=max_model_bytes(),
            )
        except ArtifactTooLarge as error:
            raise ModelFileTooLarge(str(error), details={"limit_bytes": error.limit}) from None
        written.append(artifact)
        return artifact

    try:
        with transaction.atomic():
            return _register(
                acting_user=acting_user,
                model=model,
                spec=spec,
                run=None,
                obtain_artifact=write,
                source="upload",
            )
    except BaseException:
        # The rows rolled back; the encrypted file on disk would be an orphan.
        for artifact in written:
            artifact_file_delete(artifact)
        raise


@transaction.atomic
def model_version_update(
    *, acting_user: User, version: ModelVersion, description: str
) -> ModelVersion:
    """Change a version's description, the only field a client edits directly."""
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    before = {"description": version.description}
    version.description = description
    version.save(update_fields=["description", "updated_at"])
    record_event(
        actor=acting_user,
        action="model_version.update",
        object_type="modelversion",
        object_id=version.pk,
        before=before,
        after={"description": description},
    )
    return version


def model_card_fields(card: ModelCard | None) -> dict[str, str]:
    """The card's fields, blank for a version without a card yet."""
    return {field: getattr(card, field) if card else "" for field in ModelCard.FIELDS}


@transaction.atomic
def model_card_put(*, acting_user: User, version: ModelVersion, **fields: str) -> ModelCard:
    """Replace the version's model card (fields not given become blank); audited with the
    card before and after."""
    unknown = set(fields) - set(ModelCard.FIELDS)
    if unknown:
        raise ValueError(f"unknown model card fields: {sorted(unknown)}")
    card, _ = ModelCard.objects.select_for_update().get_or_create(model_version=version)
    before = model_card_fields(card)
    for field in ModelCard.FIELDS:
        setattr(card, field, fields.get(field, ""))
    card.updated_by = acting_user
    card.save()
    record_event(
        actor=acting_user,
        action="model_card.update",
        object_type="modelversion",
        object_id=version.pk,
        before=before,
        after=model_card_fields(card),
    )
    return card


def model_version_download(*, acting_user: User, version: ModelVersion) -> Iterator[bytes]:
    """The model file's plaintext, segment by segment (each authenticated before it is
    yielded); the download is audited before the first byte leaves. The first segment is
    read here, so a corrupted file is refused (ModelFileCorrupted) instead of streamed."""
    artifact = version.artifact
    if artifact is None:
        raise ModelFileCorrupted(f"Model version {version.pk} has no model file.")
    chunks = artifact_chunks(artifact)
    try:
        first = next(chunks, b"")
    except ArtifactCorrupted as error:
        raise ModelFileCorrupted(str(error)) from None
    record_event_atomically(
        actor=acting_user,
        action="model_version.download",
        object_type="modelversion",
        object_id=version.pk,
        after={"sha256": version.sha256, "size_bytes": artifact.size_bytes},
    )
    return itertools.chain([first], chunks)
