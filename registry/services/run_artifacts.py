"""Files a run logs: write (streamed, encrypted), replace, delete, and audited download.

A file's name is a client-supplied name inside the run's folder, never a storage path:
it is decoded and checked by `normalize_artifact_path` first of all, and the bytes live
in the artifact store under an opaque id. Writing and deleting need `change` on the run's
experiment; downloading needs `download` and is audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, Q

from mlgov.audit.recorder import record_event, record_event_atomically
from registry.artifact_paths import UnsafeArtifactPath, normalize_artifact_path
from registry.artifact_store import ArtifactTooLarge, artifact_file_delete, artifact_write
from registry.models import Artifact, Run, RunArtifact
from registry.services.experiments import TrackingError, require_experiment_permission
from registry.services.runs import lock_run, require_writable

DEFAULT_MAX_BYTES = 5 * 1024**3


def artifact_name(raw: str) -> str:
    """The canonical name of a file, or a 400 `unsafe_artifact_path`."""
    try:
        return normalize_artifact_path(raw)
    except UnsafeArtifactPath as error:
        raise TrackingError(400, error.code, str(error)) from None


def _ancestors(name: str) -> list[str]:
    parts = name.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _check_free(run: Run, name: str, overwrite: bool) -> RunArtifact | None:
    """The existing file to replace (with overwrite), or None; 409 on any clash."""
    clash = (
        RunArtifact.objects.filter(run=run)
        .filter(Q(path=name) | Q(path__startswith=f"{name}/") | Q(path__in=_ancestors(name)))
        .select_related("artifact")
        .order_by("path")
    )
    existing = None
    for other in clash[:2]:
        if other.path != name:
            raise TrackingError(
                409, "artifact_path_conflict",
                "A file cannot also be a folder: another file's name contains this one.",
                {"path": name, "conflicts_with": other.path},
            )
        existing = other
    if existing is not None and not overwrite:
        raise TrackingError(
            409, "artifact_exists", "The run already has a file of that name; "
            "add ?overwrite=true to replace it.", {"path": name},
        )
    return existing


def _discard(artifact: Artifact) -> None:
    """Delete an Artifact row no longer named by the run, and its file once committed.
    A row a model version also points at stays (PROTECT)."""
    try:
        with transaction.atomic():
            artifact.delete()
    except ProtectedError:
        return
    transaction.on_commit(lambda: artifact_file_delete(artifact))


def run_artifact_write(
    *,
    acting_user: User | None,
    run: Run,
    name: str,
    source: IO[bytes] | Iterable[bytes],
    overwrite: bool = False,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> RunArtifact:
    """Stream `source` into the store as the run's file `name`; replaces an existing file
    only with `overwrite`. Refused before a byte is read: an unsafe name, no `change`
    permission, a deleted run, a clash. ArtifactTooLarge past `max_bytes`."""
    name = artifact_name(name)
    run = Run.objects.select_related("experiment").get(pk=run.pk)  # its state as of now
    require_writable(acting_user, run)
    _check_free(run, name, overwrite)  # fail fast, before the upload is read
    artifact = None
    try:
        with transaction.atomic():
            artifact = artifact_write(
                kind=Artifact.Kind.RUN_FILE, source=source, acting_user=acting_user,
                max_bytes=max_bytes,
            )
            existing = _check_free(run, name, overwrite)
            if existing is None:
                with transaction.atomic():  # a concurrent writer of the same name: 409
                    entry = RunArtifact.objects.create(run=run, path=name, artifact=artifact)
                replaced = None
            else:
                entry = RunArtifact.objects.select_for_update().get(pk=existing.pk)
                replaced = entry.artifact
                entry.artifact = artifact
                entry.save(update_fields=["artifact"])
                _discard(replaced)
            record_event(
                actor=acting_user,
                action="run.artifact_write",
                object_type="run",
                object_id=run.pk,
                before={"path": name, "sha256": replaced.sha256} if replaced else None,
                after={"path": name, "sha256": artifact.sha256, "size": artifact.size_bytes},
            )
    except IntegrityError:
        _remove_file(artifact)
        raise TrackingError(409, "artifact_exists", "The file was written meanwhile.") from None
    except BaseException:
        _remove_file(artifact)
        raise
    return entry


def _remove_file(artifact: Artifact | None) -> None:
    # The transaction rolled back; the encrypted file it wrote is unreferenced.
    if artifact is not None:
        artifact_file_delete(artifact)


@transaction.atomic
def run_artifact_delete(*, acting_user: User | None, run: Run, name: str) -> None:
    """Remove one file of the run (needs `change`); 404 `artifact_not_found` if absent."""
    name = artifact_name(name)
    run = lock_run(run)
    require_writable(acting_user, run)
    entry = (
        RunArtifact.objects.select_for_update().select_related("artifact")
        .filter(run=run, path=name).first()
    )
    if entry is None:
        raise TrackingError(404, "artifact_not_found", "The run has no such file.")
    artifact = entry.artifact
    entry.delete()
    _discard(artifact)
    record_event(
        actor=acting_user, action="run.artifact_delete", object_type="run", object_id=run.pk,
        before={"path": name, "sha256": artifact.sha256}, after=None,
    )


def run_artifact_download(*, acting_user: User | None, run: Run, name: str) -> RunArtifact:
    """The file to stream (needs `download` on the experiment); the download is audited
    before a byte leaves. The caller streams `artifact_chunks(entry.artifact)`."""
    name = artifact_name(name)
    require_experiment_permission(acting_user, run.experiment, "download")
    entry = RunArtifact.objects.select_related("artifact").filter(run=run, path=name).first()
    if entry is None:
        raise TrackingError(404, "artifact_not_found", "The run has no such file.")
    record_event_atomically(
        actor=acting_user,
        action="run.artifact_download",
        object_type="run",
        object_id=run.pk,
        after={"path": name, "sha256": entry.artifact.sha256},
    )
    return entry


__all__ = [
    "ArtifactTooLarge",
    "artifact_name",
    "run_artifact_delete",
    "run_artifact_download",
    "run_artifact_write",
]
