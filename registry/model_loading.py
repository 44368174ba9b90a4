"""The one way mlgov loads a model version into memory (workers, evaluation, serving).

`model_version_load` refuses unless the version was verified at registration, its Ed25519
signature verifies under the tenant's key, the signed payload still matches the row and its
artifact, and the decrypted file authenticates and matches its recorded SHA-256. Only then
does it hand the file to `registry.model_files.load_verified_model`. Every refusal is
audited. Nothing else in mlgov may deserialize a model file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from mlgov.audit.recorder import record_event_atomically
from registry.artifact_store import ArtifactCorrupted, artifact_to_file
from registry.models import ModelVersion
from registry.services.signing import ModelSignatureInvalid, model_version_signature_check


class ModelLoadRefused(Exception):
    """The version may not be loaded; the message says why."""

    code = "model_load_refused"


def _refuse(version: ModelVersion, reason: str) -> ModelLoadRefused:
    record_event_atomically(
        actor=None,
        action="model_version.load_refused",
        object_type="modelversion",
        object_id=version.pk,
        after={"reason": reason},
    )
    return ModelLoadRefused(f"Model version {version.pk} cannot be loaded: {reason}")


def model_version_load(version: ModelVersion) -> Any:
    """Verify signature and digest, then load the model. Raises ModelLoadRefused."""
    from registry.model_files import ModelFileRefused, load_verified_model

    # Re-read the row: a caller's instance may be stale, and the check must see the database.
    version = ModelVersion.objects.select_related("registered_model", "artifact").get(pk=version.pk)
    if not version.verified:
        raise _refuse(
            version,
            f"it was not verified at registration ({version.verification_detail or 'no detail'})",
        )
    artifact = version.artifact
    if version.status != ModelVersion.Status.READY or artifact is None:
        raise _refuse(version, f"its status is {version.status!r}")
    try:
        model_version_signature_check(version)
    except ModelSignatureInvalid as error:
        raise _refuse(version, str(error)) from None
    with tempfile.TemporaryDirectory(prefix="mlgov-load-") as folder:  # mode 0700
        try:
            # artifact_chunks authenticates every segment and checks the recorded digest,
            # which the signature check above tied to the signed one.
            path = artifact_to_file(artifact, Path(folder))
        except ArtifactCorrupted as error:
            raise _refuse(version, str(error)) from None
        try:
            # The file checks run again on the bytes loaded, with tree validation on top.
            return load_verified_model(path, version.model_format)
        except ModelFileRefused as error:
            raise _refuse(version, f"the model file was refused: {error}") from None
