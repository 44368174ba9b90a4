"""The encrypted artifact store: bytes in, an opaque Artifact row out, and back.

Files live at ARTIFACT_ROOT/<schema>/<id[:2]>/<id>, named by the server-assigned
UUID only. Each is streamed through the tenant's data key (segmented AES-256-GCM,
memory flat for any size) with associated data binding it to tenant, artifact id
and key version; the plaintext's SHA-256 is computed in the same pass and recorded.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from django.conf import settings
from django.db import connection

from mlgov.audit.recorder import record_event_atomically
from mlgov.crypto.context import artifact_associated_data
from mlgov.crypto.digest import HashingWriter
from mlgov.crypto.errors import CiphertextCorrupted
from mlgov.crypto.streaming import StreamDecryptor, StreamEncryptor
from registry.models import Artifact
from tenants.keys import data_key, data_key_for_new_artifacts
from tenants.models import Tenant

_READ_CHUNK = 1024 * 1024


class ArtifactTooLarge(Exception):
    code = "artifact_too_large"

    def __init__(self, limit: int):
        super().__init__(f"The upload exceeds the limit of {limit} bytes.")
        self.limit = limit


class ArtifactCorrupted(Exception):
    """The stored ciphertext failed authentication or its digest: never served."""

    code = "artifact_corrupted"


def _tenant() -> Tenant:
    schema = connection.schema_name
    if not schema or schema == "public":
        raise RuntimeError("artifact store used outside a tenant")
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Tenant):
        return tenant
    # schema_context() sets a stand-in without the row: look the tenant up.
    return Tenant.objects.get(schema_name=schema)


def _artifact_path(schema_name: str, artifact_id: uuid.UUID) -> Path:
    hex_id = artifact_id.hex
    return Path(settings.ARTIFACT_ROOT) / schema_name / hex_id[:2] / hex_id


def _chunks_of(source: IO[bytes] | Iterable[bytes]) -> Iterator[bytes]:
    if hasattr(source, "read"):
        while chunk := source.read(_READ_CHUNK):  # type: ignore[union-attr]
            yield chunk
    else:
        yield from source  # type: ignore[misc]


def artifact_write(
    *,
    kind: str,
    source: IO[bytes] | Iterable[bytes],
    acting_user,
    max_bytes: int | None = None,
) -> Artifact:
    """Encrypt `source` into the store and return its (unsaved-elsewhere) Artifact row.

    Run inside the caller's transaction: the row commits with the object that owns it.
    Raises ArtifactTooLarge past `max_bytes` (nothing is kept).
    """
    tenant = _tenant()
    key = data_key_for_new_artifacts(tenant)
    artifact_id = uuid.uuid4()
    associated = artifact_associated_data(
        tenant_id=tenant.pk, artifact_id=artifact_id.hex, key_version=key.version
    )
    final_path = _artifact_path(tenant.schema_name, artifact_id)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    encryptor = StreamEncryptor(key.key, associated)
    plain = HashingWriter()
    size = 0
    fd, temp_name = tempfile.mkstemp(dir=final_path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as sink:
            for chunk in _chunks_of(source):
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise ArtifactTooLarge(max_bytes)
                plain.write(chunk)
                sink.write(encryptor.update(chunk))
            sink.write(encryptor.finalize())
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(temp_name, final_path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return Artifact.objects.create(
        id=artifact_id,
        kind=kind,
        sha256=plain.hexdigest(),
        size_bytes=size,
        key_version=key.version,
        created_by=acting_user if getattr(acting_user, "pk", None) else None,
    )


def _report_corruption(artifact: Artifact, reason: str) -> None:
    record_event_atomically(
        actor=None,
        action="artifact.integrity_failure",
        object_type="artifact",
        object_id=artifact.pk,
        after={"reason": reason},
    )


def artifact_chunks(artifact: Artifact) -> Iterator[bytes]:
    """Yield the plaintext, segment by segment, each authenticated before it is yielded.

    A fault raises ArtifactCorrupted (and is audited); a consumer streaming to a client
    then aborts the response, so the client never sees a complete-looking file.
    """
    tenant = _tenant()
    associated = artifact_associated_data(
        tenant_id=tenant.pk, artifact_id=artifact.pk.hex, key_version=artifact.key_version
    )
    decryptor = StreamDecryptor(data_key(tenant, artifact.key_version), associated)
    digest = HashingWriter()
    path = _artifact_path(tenant.schema_name, artifact.pk)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_READ_CHUNK):
                plaintext = decryptor.update(chunk)
                if plaintext:
                    digest.write(plaintext)
                    yield plaintext
            plaintext = decryptor.finalize()
            if plaintext:
                digest.write(plaintext)
                yield plaintext
    except (CiphertextCorrupted, FileNotFoundError) as error:
        _report_corruption(artifact, str(error))
        raise ArtifactCorrupted(f"Artifact {artifact.pk} failed its integrity check.") from error
    if digest.hexdigest() != artifact.sha256:
        _report_corruption(artifact, "plaintext digest mismatch")
        raise ArtifactCorrupted(f"Artifact {artifact.pk} does not match its recorded digest.")


def artifact_to_file(artifact: Artifact, directory: Path) -> Path:
    """Decrypt into a private temporary file; it appears only once whole and verified."""
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".artifact-")
    try:
        with os.fdopen(fd, "wb") as sink:
            for chunk in artifact_chunks(artifact):
                sink.write(chunk)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return Path(temp_name)


def artifact_read_bytes(artifact: Artifact) -> bytes:
    """For small artifacts (reports, model cards): the whole plaintext."""
    return b"".join(artifact_chunks(artifact))


def artifact_file_delete(artifact: Artifact) -> None:
    """Remove the stored file (the row is deleted by its owner's service)."""
    _artifact_path(_tenant().schema_name, artifact.pk).unlink(missing_ok=True)
